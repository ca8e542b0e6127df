package main

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"tinyq/infer"
	"tinyq/mnist"
	"tinyq/nn"
	"tinyq/train"
)

var (
	trainedOnce  sync.Once
	trainedBytes []byte     // the fp32 model file
	trainedTest  *mnist.Set // the MNIST test set
	trainedErr   error
)

// trainedModel trains the float model of models (784-128-10, one epoch on 20,000 MNIST
// training images) once per test binary, writes it into a temporary directory of t and
// returns its path and the MNIST test set.
func trainedModel(t *testing.T) (string, *mnist.Set) {
	t.Helper()
	trainedOnce.Do(func() {
		dir, err := mnist.Locate("")
		if err != nil {
			trainedErr = err
			return
		}
		trainSet, testSet, err := mnist.Load(dir)
		if err != nil {
			trainedErr = err
			return
		}
		trainSet = trainSet.Slice(0, 20000)
		m, err := nn.NewMLP([]int{784, 128, 10}, rand.New(rand.NewSource(1)))
		if err != nil {
			trainedErr = err
			return
		}
		if _, err := train.Fit(m, train.Data{Images: trainSet.Images, Labels: trainSet.Labels}, train.Data{}, train.Config{Epochs: 1, Seed: 1}); err != nil {
			trainedErr = err
			return
		}
		fm, err := m.FloatModel()
		if err != nil {
			trainedErr = err
			return
		}
		tmp, err := os.MkdirTemp("", "classify-model")
		if err != nil {
			trainedErr = err
			return
		}
		defer os.RemoveAll(tmp)
		p := filepath.Join(tmp, "fp32.safetensors")
		if trainedErr = infer.SaveFloat(p, fm, ""); trainedErr != nil {
			return
		}
		trainedBytes, trainedErr = os.ReadFile(p)
		trainedTest = testSet
	})
	if trainedErr != nil {
		t.Fatal(trainedErr)
	}
	p := filepath.Join(t.TempDir(), "fp32.safetensors")
	if err := os.WriteFile(p, trainedBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, trainedTest
}

// digitPixels returns MNIST test image i as 784 bytes.
func digitPixels(test *mnist.Set, i int) []uint8 {
	px := make([]uint8, 784)
	for k := range px {
		px[k] = uint8(test.Images[i*784+k]*255 + 0.5) // exact: the images are p/255
	}
	return px
}

// classifyAccuracy runs the command (in process) on paths, checks that every image is
// classified (exit 0, one line each, in order) and returns the accuracy in percent against
// the labels of the test images idx.
func classifyAccuracy(t *testing.T, model string, paths []string, test *mnist.Set, idx []int) float64 {
	t.Helper()
	var out, errOut bytes.Buffer
	if st := run(append([]string{"-model", model}, paths...), &out, &errOut); st != 0 {
		t.Fatalf("exit %d: %s", st, errOut.String())
	}
	got := classes(t, out.String(), paths)
	k := 0
	for j, c := range got {
		if c == int(test.Labels[idx[j]]) {
			k++
		}
	}
	return 100 * float64(k) / float64(len(got))
}

// shownToStored maps a shown pixel (x, y) of a JPEG with EXIF orientation o to the stored
// pixel, for a stored image w x h (TIFF 6.0, tag 274; the same table as imageprep's, whose
// TestDecodeEXIFOrientation checks it pixel by pixel against the definitions).
func shownToStored(o, x, y, w, h int) (int, int) {
	switch o {
	case 2:
		return w - 1 - x, y
	case 3:
		return w - 1 - x, h - 1 - y
	case 4:
		return x, h - 1 - y
	case 5:
		return y, x
	case 6:
		return y, h - 1 - x
	case 7:
		return w - 1 - y, h - 1 - x
	case 8:
		return w - 1 - y, x
	}
	return x, y
}

// exifJPEG encodes the grey image shown (square) as a JPEG at quality 90 whose stored
// pixels are turned or mirrored so that EXIF orientation o shows them as shown, with the
// Orientation tag in an APP1 Exif segment (little endian).
func exifJPEG(t *testing.T, path string, shown *image.Gray, o int) {
	t.Helper()
	n := shown.Rect.Dx()
	stored := image.NewGray(image.Rect(0, 0, n, n))
	for y := range n {
		for x := range n {
			sx, sy := shownToStored(o, x, y, n, n)
			stored.Pix[sy*n+sx] = shown.Pix[y*n+x]
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, stored, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	tiff := []byte("II*\x00\x08\x00\x00\x00\x01\x00")                   // header, IFD0 at 8, one entry
	tiff = append(tiff, 0x12, 0x01, 3, 0, 1, 0, 0, 0, byte(o), 0, 0, 0) // 0x0112, SHORT, 1, o
	tiff = append(tiff, 0, 0, 0, 0)                                     // no next IFD
	seg := binary.BigEndian.AppendUint16([]byte{0xff, 0xe1}, uint16(2+6+len(tiff)))
	seg = append(append(seg, "Exif\x00\x00"...), tiff...)
	data := append(append(append([]byte{}, buf.Bytes()[:2]...), seg...), buf.Bytes()[2:]...)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestClassifyEXIFOrientation (issue 18, item 5): 200 MNIST test digits made into phone
// photos (4x larger, dark on white, JPEG at quality 90), stored turned or mirrored with
// the matching EXIF Orientation (2 to 8 in turn), are classified as well as the same digits
// stored upright: within 1.5 points, i.e. at most 3 of the 200 may differ. The pixels shown
// are the same; only JPEG's rounding of the turned blocks differs. (Measured with this
// model: 94.5% against 95.0% upright; before the fix 30.5%.)
func TestClassifyEXIFOrientation(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	model, test := trainedModel(t)
	dir := t.TempDir()
	const n, k = 200, 4
	var upright, turned []string
	var idx []int
	for i := range n {
		px := digitPixels(test, i)
		shown := image.NewGray(image.Rect(0, 0, 28*k, 28*k))
		for y := range 28 * k {
			for x := range 28 * k {
				shown.Pix[y*28*k+x] = 255 - px[(y/k)*28+x/k]
			}
		}
		u := filepath.Join(dir, strconv.Itoa(i)+"-upright.jpg")
		exifJPEG(t, u, shown, 1)
		o := 2 + i%7
		r := filepath.Join(dir, strconv.Itoa(i)+"-orientation"+strconv.Itoa(o)+".jpg")
		exifJPEG(t, r, shown, o)
		upright, turned, idx = append(upright, u), append(turned, r), append(idx, i)
	}
	a, b := classifyAccuracy(t, model, upright, test, idx), classifyAccuracy(t, model, turned, test, idx)
	t.Logf("%d digits: %.1f%% stored upright, %.1f%% stored turned or mirrored with EXIF orientations 2-8", n, a, b)
	if b < a-1.5 {
		t.Errorf("%.1f%% with EXIF orientations, %.1f%% upright: more than 1.5 points lost", b, a)
	}
}

// TestClassifyGreyBackground28 (issue 18, item 6): 500 MNIST test digits composited as light
// ink on a grey canvas (40, a dark-mode canvas, and 80) at 28x28 are classified as well as
// the same canvas at 29x29, which was always prepared: within 1 point (5 of 500 images).
// Measured with this model: 90.6% for both sizes and both greys; before the fix the 28x28
// ones passed through unprepared: 61.8% on grey 40 and 33.0% on grey 80.
func TestClassifyGreyBackground28(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	model, test := trainedModel(t)
	dir := t.TempDir()
	const n = 500
	for _, grey := range []int{40, 80} {
		var p28, p29 []string
		var idx []int
		for i := range n {
			px := digitPixels(test, i)
			for _, size := range []int{28, 29} {
				canvas := make([]uint8, size*size)
				for y := range size {
					for x := range size {
						v := 0
						if x < 28 && y < 28 {
							v = int(px[y*28+x])
						}
						canvas[y*size+x] = uint8(grey + (255-grey)*v/255)
					}
				}
				p := filepath.Join(dir, strconv.Itoa(grey)+"-"+strconv.Itoa(i)+"-"+strconv.Itoa(size)+".png")
				writePNG(t, p, canvas, size, size)
				if size == 28 {
					p28 = append(p28, p)
				} else {
					p29 = append(p29, p)
				}
			}
			idx = append(idx, i)
		}
		a28, a29 := classifyAccuracy(t, model, p28, test, idx), classifyAccuracy(t, model, p29, test, idx)
		t.Logf("grey %d: %.1f%% at 28x28, %.1f%% at 29x29", grey, a28, a29)
		if a28 < a29-1 {
			t.Errorf("grey %d: %.1f%% at 28x28 against %.1f%% at 29x29: more than 1 point lost", grey, a28, a29)
		}
	}
}

// TestClassifyTightCrops (issue 18, item 13): 500 MNIST test digits cropped to their ink's
// bounding box (the ink touches every side) are all classified, none refused as "no digit"
// (before: 9 of 500), with an accuracy within 2 points of the same digits at 28x28
// (measured with this model: 90.8% cropped, 91.0% at 28x28).
func TestClassifyTightCrops(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	model, test := trainedModel(t)
	dir := t.TempDir()
	const n = 500
	var crops, orig []string
	var idx []int
	for i := range n {
		px := digitPixels(test, i)
		x0, y0, x1, y1 := 28, 28, 0, 0
		for y := range 28 {
			for x := range 28 {
				if px[y*28+x] != 0 {
					x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x+1), max(y1, y+1)
				}
			}
		}
		crop := make([]uint8, 0, (x1-x0)*(y1-y0))
		for y := y0; y < y1; y++ {
			crop = append(crop, px[y*28+x0:y*28+x1]...)
		}
		c := filepath.Join(dir, strconv.Itoa(i)+"-crop.png")
		writePNG(t, c, crop, x1-x0, y1-y0)
		o := filepath.Join(dir, strconv.Itoa(i)+".png")
		writePNG(t, o, px, 28, 28)
		crops, orig, idx = append(crops, c), append(orig, o), append(idx, i)
	}
	a, b := classifyAccuracy(t, model, orig, test, idx), classifyAccuracy(t, model, crops, test, idx)
	t.Logf("%d digits: %.1f%% at 28x28, %.1f%% tightly cropped", n, a, b)
	if b < a-2 {
		t.Errorf("%.1f%% tightly cropped, %.1f%% at 28x28: more than 2 points lost", b, a)
	}
}
