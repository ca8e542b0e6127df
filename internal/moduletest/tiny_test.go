package moduletest

import (
	"bytes"
	mrand "math/rand"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"tinyq/infer"
	"tinyq/modelfile"
	"tinyq/nn"
	"tinyq/train"
)

// tinyDir is the committed tiny data set and model, relative to this package.
const tinyDir = "../../testdata/tiny"

// Sizes of the tiny data set: 8x8 images (side*side = 64 inputs), 4 classes, 256 training
// and 128 test images (24 KB in all, small enough to commit and train in a second).
const (
	side       = 8
	classes    = 4
	trainCount = 256
	testCount  = 128
)

// tinyImages draws n images and labels from r: a bar of ink (112..255) in one of four
// orientations, the class, over background noise (0..111).
func tinyImages(r *rand.Rand, n int) (pixels, labels []uint8) {
	pixels = make([]uint8, n*side*side)
	labels = make([]uint8, n)
	for k := range n {
		img := pixels[k*side*side : (k+1)*side*side]
		for i := range img {
			img[i] = uint8(r.IntN(112))
		}
		c := r.IntN(classes)
		labels[k] = uint8(c)
		off := r.IntN(side - 2) // 0..5: the bar's row, column or diagonal offset
		for t := range side {
			var y, x int
			switch c {
			case 0:
				y, x = off+1, t
			case 1:
				y, x = t, off+1
			case 2:
				y, x = t, t+off-(side-2)/2
			case 3:
				y, x = t, side-1-t+off-(side-2)/2
			}
			if x >= 0 && x < side {
				img[y*side+x] = uint8(112 + r.IntN(144))
			}
		}
	}
	return pixels, labels
}

// tinySets returns the training and test images and labels, the same on every machine
// (math/rand/v2's PCG is specified bit for bit).
func tinySets() (trainPix, trainLab, testPix, testLab []uint8) {
	r := rand.New(rand.NewPCG(19, 7))
	trainPix, trainLab = tinyImages(r, trainCount)
	testPix, testLab = tinyImages(r, testCount)
	return
}

// floats returns pixel/255, the input the model file records.
func floats(pixels []uint8) []float32 {
	x := make([]float32, len(pixels))
	for i, p := range pixels {
		x[i] = float32(p) / 255
	}
	return x
}

// writeTiny trains the tiny model and writes the data set and the model to dir.
func writeTiny(t *testing.T, dir string) {
	trainPix, trainLab, testPix, testLab := tinySets()
	for name, b := range map[string][]uint8{
		"train-images.u8": trainPix, "train-labels.u8": trainLab,
		"test-images.u8": testPix, "test-labels.u8": testLab,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := nn.NewMLP([]int{side * side, 16, classes}, mrand.New(mrand.NewSource(19)))
	if err != nil {
		t.Fatal(err)
	}
	m.Input = modelfile.Input{Width: side, Height: side, PixelDivisor: 255}
	h, err := train.Fit(m, train.Data{Images: floats(trainPix), Labels: trainLab},
		train.Data{Images: floats(testPix), Labels: testLab},
		train.Config{Epochs: 30, Batch: 32, LR: 1e-2, Seed: 19, EvalBatch: testCount})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tiny model: %+v", h.Final())
	if err := m.Save(filepath.Join(dir, "fp32.safetensors"), ""); err != nil {
		t.Fatal(err)
	}
}

// TestTinyData checks the committed tiny data set against its generator (byte for byte) and
// the committed model's accuracy on its test images; TINYQ_UPDATE_TINY=1 regenerates both
// first (training depends on the float kernel path, so the model is checked by accuracy, not
// by bytes).
func TestTinyData(t *testing.T) {
	if os.Getenv("TINYQ_UPDATE_TINY") == "1" {
		writeTiny(t, tinyDir)
	}
	trainPix, trainLab, testPix, testLab := tinySets()
	for name, want := range map[string][]uint8{
		"train-images.u8": trainPix, "train-labels.u8": trainLab,
		"test-images.u8": testPix, "test-labels.u8": testLab,
	} {
		got, err := os.ReadFile(filepath.Join(tinyDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from its generator (regenerate with TINYQ_UPDATE_TINY=1)", name)
		}
	}
	m, err := infer.Load(filepath.Join(tinyDir, "fp32.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	x, err := infer.Pixels(m, testPix)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := infer.Evaluate(m, x, testLab)
	if err != nil {
		t.Fatal(err)
	}
	// 90%: the committed model gets 94.53% (121 of 128) on this noise level; chance is 25%,
	// and a model that did not train gets about that.
	if acc < 90 {
		t.Errorf("tiny model: %.2f%% of the test images, want at least 90%%", acc)
	}
	t.Logf("tiny model: %.2f%% of %d test images", acc, len(testLab))
}
