package main

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tinyq/imageprep"
	"tinyq/infer"
)

// modelBytes returns the file of a seeded random 784-16-10 float model.
func modelBytes(t *testing.T) []byte {
	t.Helper()
	rng := rand.New(rand.NewSource(1))
	layer := func(in, out int, relu bool) infer.FloatLayer {
		l := infer.FloatLayer{In: in, Out: out, ReLU: relu, W: make([]float32, in*out), B: make([]float32, out)}
		for i := range l.W {
			l.W[i] = float32(rng.NormFloat64() * 0.1)
		}
		return l
	}
	m, err := infer.NewFloatModel(infer.F32, []infer.FloatLayer{layer(784, 16, true), layer(16, 10, false)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "m.safetensors")
	if err := infer.SaveFloat(p, m, ""); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// digitImage is a white 7 (two strokes) on a black w x h RGBA canvas.
func digitImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{0, 0, 0, 255}
			top := y > h/5 && y < h/5+h/12 && x > w/4 && x < 3*w/4
			diag := y >= h/5 && y < 4*h/5 && abs(x-(3*w/4-(y-h/5)*w/(2*(3*h/5)))) < w/20
			if top || diag {
				c = color.NRGBA{255, 255, 255, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func abs(v int) int { return max(v, -v) }

// TestClassifyIsNative: a model loaded from bytes answers as the native runtime's
// infer.Load and PredictPixels, and is listed with its kind and weight bytes.
func TestClassifyIsNative(t *testing.T) {
	b := modelBytes(t)
	var ms Models
	info, err := ms.Load("fp32", b)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "fp32.safetensors")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	native, err := infer.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Info{"fp32", native.Name(), native.WeightBytes()}); info != want || len(ms.Infos()) != 1 || ms.Infos()[0] != want {
		t.Errorf("Load: %+v, Infos %+v; want %+v", info, ms.Infos(), want)
	}
	px, err := PrepareRGBA(digitImage(280, 280).Pix, 280, 280)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ms.Classify("fp32", px)
	if err != nil {
		t.Fatal(err)
	}
	want, err := infer.PredictPixels(native, px)
	if err != nil {
		t.Fatal(err)
	}
	if got.Class != want[0].Class || len(got.Probabilities) != 10 {
		t.Fatalf("class %d, %d probabilities; want %d, 10", got.Class, len(got.Probabilities), want[0].Class)
	}
	for k := range got.Probabilities {
		if got.Probabilities[k] != want[0].Probabilities[k] {
			t.Errorf("probability %d: %v, want %v", k, got.Probabilities[k], want[0].Probabilities[k])
		}
	}
}

// TestClassifyConvIsNative: the page's runtime runs convolutional integer models (infer's
// golden W8A8 and W4A4 conv files) with the native runtime's probabilities, bit for bit (this
// test also runs under Node, in js/wasm).
func TestClassifyConvIsNative(t *testing.T) {
	px, err := PrepareRGBA(digitImage(280, 280).Pix, 280, 280)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"conv-w8a8-static", "conv-w4a4-static"} {
		path := filepath.Join("..", "..", "..", "infer", "testdata", "golden-conv", name+".safetensors")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var ms Models
		if _, err := ms.Load(name, b); err != nil {
			t.Fatal(err)
		}
		native, err := infer.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ms.Classify(name, px)
		if err != nil {
			t.Fatal(err)
		}
		want, err := infer.PredictPixels(native, px)
		if err != nil {
			t.Fatal(err)
		}
		if got.Class != want[0].Class || !slices.Equal(got.Probabilities, want[0].Probabilities) {
			t.Errorf("%s: class %d, probabilities %v; native %d, %v", name, got.Class, got.Probabilities, want[0].Class, want[0].Probabilities)
		}
	}
}

// TestPrepareIsClassify: a canvas's RGBA pixels are prepared exactly as cmd/classify
// prepares the same picture read from a PNG file.
func TestPrepareIsClassify(t *testing.T) {
	img := digitImage(200, 240)
	fromCanvas, err := PrepareRGBA(img.Pix, 200, 240)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	fromFile, err := PrepareFile(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := imageprep.Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	want, err := imageprep.MNIST(decoded)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fromCanvas, want) || !bytes.Equal(fromFile, want) {
		t.Errorf("prepared pixels differ from imageprep's: canvas %v, file %v", !bytes.Equal(fromCanvas, want), !bytes.Equal(fromFile, want))
	}
	blank := make([]byte, 4*50*50)
	if _, err := PrepareRGBA(blank, 50, 50); !errors.Is(err, imageprep.ErrNoDigit) {
		t.Errorf("a blank canvas: %v, want ErrNoDigit", err)
	}
	if _, err := PrepareFile([]byte("RIFF....WEBPVP8 ")); !errors.Is(err, image.ErrFormat) {
		t.Errorf("a WebP file: %v, want image.ErrFormat (the page then decodes it itself)", err)
	}
}

// TestErrors: bad calls are one error each, naming what was wrong.
func TestErrors(t *testing.T) {
	b := modelBytes(t)
	var ms Models
	if _, err := ms.Load("fp32", b); err != nil {
		t.Fatal(err)
	}
	small, err := os.ReadFile(filepath.Join("..", "..", "..", "infer", "testdata", "float.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"duplicate", second(ms.Load("fp32", b)), `model "fp32" is loaded twice`},
		{"no name", second(ms.Load("", b)), "a model needs a name"},
		{"not a model", second(ms.Load("junk", []byte("not a model file"))), "demo: model junk: safetensors:"},
		{"truncated", second(ms.Load("cut", b[:len(b)-1])), "demo: model cut: safetensors:"},
		{"3x1 inputs", second(ms.Load("small", small)), "takes 3x1 inputs, not 28x28 images"},
		{"unknown model", second(ms.Classify("fp16", make([]byte, 784))), `no model named "fp16"`},
		{"783 pixels", second(ms.Classify("fp32", make([]byte, 783))), "783 pixels, want 784"},
		{"short RGBA", second(PrepareRGBA(make([]byte, 10), 2, 2)), "10 bytes for a 2x2 image, want 16"},
		{"negative size", second(PrepareRGBA(nil, -1, 2)), "0 bytes for a -1x2 image, want 0"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) || !strings.HasPrefix(c.err.Error(), "demo: ") || strings.Contains(c.err.Error(), "\n") {
			t.Errorf("%s: %v; want one line starting with demo: and containing %q", c.name, c.err, c.want)
		}
	}
	if n := len(ms.Infos()); n != 1 {
		t.Errorf("%d models after the failed loads, want 1", n)
	}
}

func second[T any](_ T, err error) error { return err }
