package autograd

import (
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"

	"tinyq/quant"
)

// TestFakeQuantBias: the forward pass is quant.FakeQuantizeBias, on hand-computed values,
// the gradient with respect to b is dy, and a bias beyond int32 is an error of the forward
// pass.
func TestFakeQuantBias(t *testing.T) {
	// s_in = 0.5, s_w = (0.25, 0.0625, 1): s = 0.125, 0.03125, 0.5, all powers of two.
	// b/s: 1.0625/0.125 = 8.5 -> 8 (tie to even); -0.046875/0.03125 = -1.5 -> -2;
	// 0.75/0.5 = 1.5 -> 2. Back: 1, -0.0625, 1.
	g := G.NewGraph()
	b := node(g, "b", []float32{1.0625, -0.046875, 0.75}, 3)
	sIn := node(g, "sIn", []float32{0.5}, 1)
	sW := node(g, "sW", []float32{0.25, 0.0625, 1}, 3)
	bq, err := FakeQuantBias("fc.b", b, sIn, sW)
	if err != nil {
		t.Fatal(err)
	}
	c := node(g, "c", []float32{3, 5, 7}, 3)
	cost := G.Must(G.Sum(G.Must(G.HadamardProd(bq, c))))
	grads, err := G.Grad(cost, b)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	want := []float32{1, -0.0625, 1}
	sameBits(t, "forward", bq.Value().Data().([]float32), want)
	check := make([]float32, 3)
	if err := quant.FakeQuantizeBias(check, []float32{1.0625, -0.046875, 0.75}, 0.5, []float32{0.25, 0.0625, 1}); err != nil {
		t.Fatal(err)
	}
	sameBits(t, "quant.FakeQuantizeBias", check, want)
	sameBits(t, "db", grads[0].Value().Data().([]float32), []float32{3, 5, 7}) // straight through

	// 2^21 at s = 2^-5·2^-5 = 2^-10 is 2^31 steps, one more than int32 holds.
	g = G.NewGraph()
	b = node(g, "b", []float32{1 << 21}, 1)
	sIn = node(g, "sIn", []float32{1.0 / 32}, 1)
	sW = node(g, "sW", []float32{1.0 / 32}, 1)
	if _, err := FakeQuantBias("fc.b", b, sIn, sW); err != nil {
		t.Fatal(err)
	}
	vm2 := G.NewTapeMachine(g)
	defer vm2.Close()
	err = vm2.RunAll()
	if err == nil || !strings.Contains(err.Error(), "autograd: FakeQuantBias{fc.b}: quant: FakeQuantizeBias: b[0]") || !strings.Contains(err.Error(), "outside int32") {
		t.Fatalf("bias beyond int32: err = %v", err)
	}
}
