package infer_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"tinyq/infer"
	"tinyq/modelfile"
)

// TestSaveReproducesFiles pins the byte layout of the files the runtime writes: every
// committed float and integer file (fp32, fp16, W4A8 static, W8 dynamic, mixed widths),
// loaded and saved again with its training record, gives the same bytes. crosstest's
// TestInferTestdata checks that the training stack writes these same files.
func TestSaveReproducesFiles(t *testing.T) {
	for _, name := range []string{"float", "fp16", "int-w4a8", "int-w8-dynamic", "int-mixed"} {
		path := filepath.Join("testdata", name+".safetensors")
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := modelfile.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		info, err := modelfile.ReadInfo(f, modelfile.Float, modelfile.Int)
		if err != nil {
			t.Fatal(err)
		}
		m, err := infer.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), name+".safetensors")
		switch m := m.(type) {
		case *infer.FloatModel:
			err = infer.SaveFloat(out, m, info.Training)
		case *infer.IntModel:
			err = infer.SaveInt(out, m, info.Training)
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s saved again differs from %s (%d vs %d bytes): the file layout changed; if on purpose, bump FormatVersion and refresh testdata (go test ./crosstest -run TestInferTestdata -update)", name, path, len(got), len(want))
		}
	}
}

// TestReadsVersion1: the version-1 files (written by tinyq 0.1.0, before the input record
// and the axis fix) still load, as the same model as today's files of the same model: same
// name, the default input, and every logit of the float and the W4A8 integer model equal.
func TestReadsVersion1(t *testing.T) {
	x := []float32{0, 0.5, 1, 1, 0.25, 0, 0.3, 0.9, 0.1, 0.7, 0, 0.6}
	for _, file := range []string{"float.safetensors", "int-w4a8.safetensors"} {
		old, err := infer.Load(filepath.Join("testdata", "v1", file))
		if err != nil {
			t.Fatal(err)
		}
		now, err := infer.Load(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if old.Name() != now.Name() || old.Input() != (modelfile.Input{Width: 3, Height: 1, PixelDivisor: 255}) {
			t.Fatalf("v1 %s: %s with input %+v, want %s", file, old.Name(), old.Input(), now.Name())
		}
		a, b := make([]float32, 4*2), make([]float32, 4*2)
		if err := old.Forward(x, 4, a); err != nil {
			t.Fatal(err)
		}
		if err := now.Forward(x, 4, b); err != nil {
			t.Fatal(err)
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("v1 %s logit %d: %v, today's file %v", file, i, a[i], b[i])
			}
		}
	}
}

// TestGoldenIntLogits: the W4A8 file, checksum and all, gives the logits of the worked
// example of docs/FORMAT.md section 9 bit for bit: the pixels [0, 128, 255] and the float32
// row [0, 0.5, 1]. Refreshing the files (for the data checksum, issue 18, item 20) must not
// change them.
func TestGoldenIntLogits(t *testing.T) {
	m, err := infer.Load(filepath.Join("testdata", "int-w4a8.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	px, err := infer.Pixels(m, []uint8{0, 128, 255})
	if err != nil {
		t.Fatal(err)
	}
	x := append(px, 0, 0.5, 1)
	logits := make([]float32, 4)
	if err := m.Forward(x, 2, logits); err != nil {
		t.Fatal(err)
	}
	want := []uint32{0xC08B7B7D, 0x40089E56, 0xC08AEAEC, 0x400831E9}
	for i, v := range logits {
		if math.Float32bits(v) != want[i] {
			t.Errorf("logit %d: %v (%#08x), want %#08x (FORMAT.md section 9)", i, v, math.Float32bits(v), want[i])
		}
	}
}
