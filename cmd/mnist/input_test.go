package main

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/internal/proctest"
	"tinyq/mnist"
	"tinyq/modelfile"
)

// testPixels reads the raw MNIST test images (bytes, not pixel/255) and labels.
func testPixels(t *testing.T) ([]uint8, []uint8) {
	t.Helper()
	dir, err := mnist.Locate("")
	if err != nil {
		t.Fatal(err)
	}
	_, test, err := mnist.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader
	f, err := os.Open(filepath.Join(dir, mnist.TestImages+".gz")) // mnist.Load's choice: NAME.gz first
	if err == nil {
		if r, err = gzip.NewReader(f); err != nil {
			t.Fatal(err)
		}
	} else if f, err = os.Open(filepath.Join(dir, mnist.TestImages)); err == nil {
		r = f
	} else {
		t.Fatal(err)
	}
	defer f.Close()
	pixels, n, _, _, err := mnist.ReadImages(r, mnist.TestImages)
	if err != nil || n != test.N {
		t.Fatalf("%d test images (%v), want %d", n, err, test.N)
	}
	return pixels, test.Labels
}

// TestLoadKeepsInputRecord (issue 18, item 11): -load of a float model whose input record is
// not the default (pixel_divisor 127.5, not 255) evaluates, calibrates, fine-tunes and saves
// with that record: every saved file carries it, and every accuracy the run reports is what
// the runtime gives for the saved file fed as its record says (infer.Pixels), not what
// pixel/255 gives. Before, the run evaluated on pixel/255 and saved every file with the
// default record. A record the run cannot honour (with -study, or not 28x28) is refused.
func TestLoadKeepsInputRecord(t *testing.T) {
	bin := proctest.Build(t, ".", "mnist")
	dir := t.TempDir()
	if code, _, stderr := proctest.Run(t, bin, append(quick, "-save", filepath.Join(dir, "trained"))...); code != 0 {
		t.Fatalf("training: exit %d, %s", code, stderr)
	}
	// The trained model, declared to read pixel/127.5 (its inputs twice what it was trained on).
	want := modelfile.Input{Width: 28, Height: 28, PixelDivisor: 127.5}
	m, err := infer.Load(filepath.Join(dir, "trained", "fp32.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	fm := m.(*infer.FloatModel)
	if err := fm.SetInput(want); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "m127.safetensors")
	if err := infer.SaveFloat(src, fm, ""); err != nil {
		t.Fatal(err)
	}
	// What the run cannot honour is refused: the study evaluates on pixel/255 only, and
	// MNIST's images are 28x28, not what a 784x1 record describes.
	code, _, stderr := proctest.Run(t, bin, "-train-limit", "3000", "-quiet", "-load", src, "-study", filepath.Join(dir, "study"))
	if code != 1 || !strings.Contains(stderr, "pixel/127.5") || !strings.Contains(stderr, "-study") {
		t.Errorf("-study with a pixel/127.5 model: exit %d, stderr %q", code, stderr)
	}
	if err := fm.SetInput(modelfile.Input{Width: 784, Height: 1, PixelDivisor: 255}); err != nil {
		t.Fatal(err)
	}
	row := filepath.Join(dir, "row.safetensors")
	if err := infer.SaveFloat(row, fm, ""); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = proctest.Run(t, bin, "-train-limit", "2000", "-quiet", "-load", row)
	if code != 1 || !strings.Contains(stderr, "784x1-pixel images, MNIST's are 28x28") {
		t.Errorf("-load of a 784x1 model: exit %d, stderr %q", code, stderr)
	}
	if err := fm.SetInput(want); err != nil {
		t.Fatal(err)
	}

	out, js := filepath.Join(dir, "out"), filepath.Join(dir, "r.json")
	code, _, stderr = proctest.Run(t, bin, "-train-limit", "2000", "-quiet", "-load", src, "-qat", "-bits", "4", "-epochs", "1", "-save", out, "-json", js)
	if code != 0 {
		t.Fatalf("-load: exit %d, %s", code, stderr)
	}
	reported := proctest.Accuracies(t, js)
	pixels, labels := testPixels(t)
	files, err := filepath.Glob(filepath.Join(out, "*.safetensors"))
	if err != nil || len(files) != 10 { // fp32, fp16, six PTQ, qat-w4a4 and its integer model
		t.Fatalf("%d saved files (%v): %v", len(files), err, files)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".safetensors")
		sf, err := modelfile.Read(f)
		if err != nil {
			t.Fatal(err)
		}
		info, err := modelfile.ReadInfo(sf, modelfile.Float, modelfile.QAT, modelfile.Int)
		if err != nil {
			t.Fatal(err)
		}
		if info.Input != want {
			t.Errorf("%s: input record %+v, want %+v", name, info.Input, want)
		}
		m, err := infer.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		x, err := infer.Pixels(m, pixels)
		if err != nil {
			t.Fatal(err)
		}
		acc, err := infer.Evaluate(m, x, labels)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := reported[name]; !ok || got != acc {
			t.Errorf("%s: the run reported %.2f%%, the saved file fed as its record says gives %.2f%%", name, got, acc)
		}
	}
	// The record changed the evaluation: fed pixel/255, the loaded model answers otherwise
	// on many images (its accuracy moves little: a ReLU network with small biases is nearly
	// scale-invariant, 79.89% against 79.83% here).
	x127, err := infer.Pixels(fm, pixels)
	if err != nil {
		t.Fatal(err)
	}
	x255 := make([]float32, len(pixels))
	for i, p := range pixels {
		x255[i] = float32(p) / 255
	}
	c127, err := infer.Classes(fm, x127, len(labels))
	if err != nil {
		t.Fatal(err)
	}
	c255, err := infer.Classes(fm, x255, len(labels))
	if err != nil {
		t.Fatal(err)
	}
	differ := 0
	for i := range c127 {
		if c127[i] != c255[i] {
			differ++
		}
	}
	acc255, err := infer.Evaluate(fm, x255, labels)
	if err != nil {
		t.Fatal(err)
	}
	acc127, err := infer.Evaluate(fm, x127, labels)
	if err != nil {
		t.Fatal(err)
	}
	if reported["fp32"] != acc127 {
		t.Errorf("fp32: the run reported %.2f%%, the loaded file gives %.2f%% fed as its record says (%.2f%% on pixel/255)", reported["fp32"], acc127, acc255)
	}
	// 10 of 10,000 is a floor well under the count measured (see the log), above noise.
	if differ < 10 {
		t.Errorf("pixel/127.5 and pixel/255 give the loaded model different classes on only %d images: the test cannot tell the records apart", differ)
	}
	t.Logf("fp32: %.2f%% reported (pixel/127.5), %.2f%% on pixel/255; classes differ on %d images", reported["fp32"], acc255, differ)
}
