package infer_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"tinyq/infer"
)

// TestRepixel: pixel/255 images become exactly what Pixels makes from the same bytes for a
// model that reads pixel/127.5, across more than one chunk; a pixel/255 model's images stay;
// values that are not pixels over 255, or not whole images, are refused.
func TestRepixel(t *testing.T) {
	m, err := infer.Load("../testdata/tiny/fp32.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	fm := m.(*infer.FloatModel)
	pixels, err := os.ReadFile("../testdata/tiny/train-images.u8")
	if err != nil {
		t.Fatal(err)
	}
	for len(pixels) < 2500*64 { // more than two chunks of 1000 images
		pixels = append(pixels, pixels...)
	}
	unit, err := infer.Pixels(fm, pixels) // the tiny model reads pixel/255
	if err != nil {
		t.Fatal(err)
	}
	same := slices.Clone(unit)
	if err := infer.Repixel(fm, same); err != nil || !slices.Equal(same, unit) {
		t.Fatalf("pixel/255 model: error %v, images changed %v", err, !slices.Equal(same, unit))
	}
	in := fm.Input()
	in.PixelDivisor = 127.5
	if err := fm.SetInput(in); err != nil {
		t.Fatal(err)
	}
	want, err := infer.Pixels(fm, pixels)
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Clone(unit)
	if err := infer.Repixel(fm, got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("pixel/127.5 model: images differ from Pixels'")
	}
	bad := slices.Clone(unit)
	bad[70] = 0.3 // not k/255
	if err := infer.Repixel(fm, bad); err == nil || !strings.HasPrefix(err.Error(), "infer: image value") {
		t.Errorf("a value that is not a pixel: error %v", err)
	}
	if err := infer.Repixel(fm, unit[:65]); err == nil || !strings.Contains(err.Error(), "not whole images") {
		t.Errorf("images not whole: error %v", err)
	}
}
