package onnx

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/x448/float16"

	"tinyq/infer"
)

// sameLogits runs a and b on x (rows samples) and reports the first logit that differs in
// its bits.
func sameLogits(t *testing.T, a, b infer.Model, x []float32, rows int) {
	t.Helper()
	_, classes := a.Shape()
	la, lb := make([]float32, rows*classes), make([]float32, rows*classes)
	if err := a.Forward(x, rows, la); err != nil {
		t.Fatal(err)
	}
	if err := b.Forward(x, rows, lb); err != nil {
		t.Fatal(err)
	}
	for k := range la {
		if math.Float32bits(la[k]) != math.Float32bits(lb[k]) {
			t.Fatalf("logit %d: %v, re-imported %v", k, la[k], lb[k])
		}
	}
}

// testInputs are rows inputs of m: pixel patterns over the model's divisor.
func testInputs(t *testing.T, m infer.Model, rows int) []float32 {
	in, _ := m.Shape()
	px := make([]uint8, rows*in)
	for k := range px {
		px[k] = uint8((k*7919 + k/in*31) % 256)
	}
	x, err := infer.Pixels(m, px)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// half returns m's layers with their parameters rounded to half precision, as an fp16 model.
func half(t *testing.T, m *infer.FloatModel) *infer.FloatModel {
	var halves []infer.FloatLayer
	for _, l := range m.Layers {
		h := l
		h.W, h.B = make([]float32, len(l.W)), make([]float32, len(l.B))
		for k, v := range l.W {
			h.W[k] = float16.Fromfloat32(v).Float32()
		}
		for k, v := range l.B {
			h.B[k] = float16.Fromfloat32(v).Float32()
		}
		halves = append(halves, h)
	}
	fp16, err := infer.NewFloatModel(infer.F16, halves, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fp16
}

// TestExportFloatRoundTrip: tinyq's fp32 and fp16 exports of every fixture (MLPs, CNNs)
// import back as the same model: the same architecture, precision, input record and logits
// bit for bit (the CNN's dense weights reordered to ONNX's NCHW flattening and back).
func TestExportFloatRoundTrip(t *testing.T) {
	for _, fx := range fixtures {
		m, err := Load(filepath.Join("testdata", fx.name+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SetInput(infer.Input{Width: 28, Height: 28, PixelDivisor: 127.5}); err != nil {
			t.Fatal(err)
		}
		for _, m := range []*infer.FloatModel{m, half(t, m)} {
			path := filepath.Join(t.TempDir(), "m.onnx")
			if err := Save(path, m); err != nil {
				t.Fatal(err)
			}
			back, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if back.Precision != m.Precision || back.Input() != m.Input() || back.Arch().String() != m.Arch().String() {
				t.Fatalf("%s %s: re-imported %s %s, input %+v; want input %+v", fx.name, m.Name(), back.Name(), back.Arch(), back.Input(), m.Input())
			}
			sameLogits(t, m, back, testInputs(t, m, 20), 20)
			st, _ := os.Stat(path)
			t.Logf("%s %s: %d bytes", fx.name, m.Name(), st.Size())
		}
	}
}
