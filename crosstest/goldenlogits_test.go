package crosstest_test

import (
	"encoding/json"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"tinyq/infer"
	"tinyq/internal/atomicfile"
	"tinyq/internal/golden"
	"tinyq/nn"
	"tinyq/ptq"
)

// goldenConfigs are the conversions of infer's golden-logits test (TestGoldenLogits): 8-, 4-
// and 2-bit weights, static (per channel and per tensor) and dynamic.
var goldenConfigs = []ptq.Config{
	ptq.Spec(ptq.Static, 8, 8),
	ptq.Spec(ptq.Static, 8, 8).PerTensor(),
	ptq.Spec(ptq.Static, 4, 4),
	ptq.Spec(ptq.Static, 2, 8),
	ptq.Spec(ptq.Dynamic, 8, 8),
	ptq.Spec(ptq.Dynamic, 4, 8),
}

// TestWriteGoldenLogits writes infer's golden models (a tiny MLP 784-16-12-10 with MNIST's
// input and classes, three layers so that an inner requantization is exercised, random
// init, seed 18, no training) and their logits on golden.Checked(), with -update only (on
// amd64): `go test ./crosstest -run TestWriteGoldenLogits -update`. It lives here because
// it needs nn and ptq, which the runtime's tests never link; infer's TestGoldenLogits checks
// the files on every architecture and integer path.
func TestWriteGoldenLogits(t *testing.T) {
	if !*update {
		t.Skip("writes infer/testdata/golden; run with -update")
	}
	dir := filepath.Join("..", "infer", golden.Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := nn.NewMLP([]int{784, 16, 12, 10}, rand.New(rand.NewSource(18)))
	if err != nil {
		t.Fatal(err)
	}
	fm, err := m.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	calib := golden.Inputs(1, 256, false)
	g := golden.File{
		Note:   "float32 bits of each model's logits on goldenInputs(2, 16, true), one row per input; written by go test ./crosstest -run TestWriteGoldenLogits -update",
		Logits: map[string][]string{},
	}
	x := golden.Checked()
	for _, c := range goldenConfigs {
		ch, err := ptq.Choose(fm, c, calib, nil)
		if err != nil {
			t.Fatal(err)
		}
		name := c.Name() + ".safetensors"
		if err := infer.SaveInt(filepath.Join(dir, name), ch.Model, "issue 18 golden model: random init, seed 18, no training"); err != nil {
			t.Fatal(err)
		}
		loaded, err := infer.Load(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if g.Logits[name], err = golden.LogitRows(loaded, x); err != nil {
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
