package crosstest_test

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"tinyq/arch"
	"tinyq/infer"
	"tinyq/internal/atomicfile"
	"tinyq/internal/golden"
	"tinyq/quant"
)

// goldenConvModel builds the golden convolutional integer model (golden.ConvArch) for
// widths w directly from a PCG stream (seed 20): weights uniform over the width's range,
// per-channel weight scales about 0.3/qmax, the input at scale 1/255 (zero point 0), the
// dense layer's input at scale 1/16 with zero point 0 (after ReLU), biases in [-100, 100].
func goldenConvModel(t *testing.T, w quant.Widths) *infer.IntModel {
	a, err := arch.Parse(golden.ConvArch, arch.Shape{H: 28, W: 28, C: 1})
	if err != nil {
		t.Fatal(err)
	}
	us, err := a.Units()
	if err != nil {
		t.Fatal(err)
	}
	cfg := infer.IntConfig{Mode: infer.Static, Spec: quant.Uniform(quant.LayerSpecFor(w, quant.PerChannel))}
	ws, as := cfg.Spec.Layer(0).Weight, cfg.Spec.Layer(0).Activation
	wmin, wmax := ws.QRange()
	amin, amax := as.QRange()
	pk, err := quant.PackingFor(ws.Bits)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(20, uint64(w.Weight)))
	var layers []*infer.IntLayer
	for i, u := range us {
		in, out, conv, pool, relu := infer.UnitWindows(u)
		l := &infer.IntLayer{Name: "fc", In: in, Out: out, Conv: conv, Pool: pool, ReLU: relu}
		q := make([]int8, in*out)
		for k := range q {
			q[k] = int8(wmin + rng.Int32N(wmax-wmin+1))
		}
		l.Weights = make([]byte, pk.Len(len(q)))
		if err := pk.Pack(l.Weights, q); err != nil {
			t.Fatal(err)
		}
		l.WeightScales = make([]float32, out)
		for o := range l.WeightScales {
			l.WeightScales[o] = (0.2 + 0.2*rng.Float32()) / float32(wmax)
		}
		l.InScale, l.InZP, l.InQMin, l.InQMax = 1.0/16, amin, amin, amax
		if i == 0 {
			l.InScale = 1.0 / 255
		}
		l.Bias = make([]int32, out)
		for o := range l.Bias {
			l.Bias[o] = rng.Int32N(201) - 100
		}
		layers = append(layers, l)
	}
	m, err := infer.NewIntModel(cfg, layers)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestWriteGoldenConv writes infer's golden convolutional models (format version 4,
// golden.ConvArch with W8A8 and W4A4 weights) and their logits on golden.Checked(), with
// -update only: `go test ./crosstest -run TestWriteGoldenConv -update`. infer's
// TestGoldenConvLogits checks them on every architecture and integer path.
func TestWriteGoldenConv(t *testing.T) {
	if !*update {
		t.Skip("writes infer/testdata/golden-conv; run with -update")
	}
	dir := filepath.Join("..", "infer", golden.ConvDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	g := golden.File{
		Note:   "float32 bits of each model's logits on golden.Checked(), one row per input; written by go test ./crosstest -run TestWriteGoldenConv -update",
		Logits: map[string][]string{},
	}
	for _, w := range []quant.Widths{{Weight: 8, Activation: 8}, {Weight: 4, Activation: 4}} {
		m := goldenConvModel(t, w)
		name := "conv-" + m.Config.Name() + ".safetensors"
		if err := infer.SaveInt(filepath.Join(dir, name), m, "issue 20 golden convolutional model: built from seed 20, not trained"); err != nil {
			t.Fatal(err)
		}
		loaded, err := infer.Load(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if g.Logits[name], err = golden.LogitRows(loaded, golden.Checked()); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.MarshalIndent(g, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(filepath.Join(dir, golden.LogitsFile), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
