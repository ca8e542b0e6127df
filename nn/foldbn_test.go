package nn

import (
	"math"
	"math/rand"
	"slices"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"tinyq/arch"
	"tinyq/infer"
)

// TestFoldBNForm checks the ConvBn form of a layer with BatchNorm (Layer.FoldBN) against
// the plain layer followed by its BatchNorm: the weight hook sees the folded weight, bit
// for bit infer.FoldBatchNorm's; evaluation gives the same logits (the same function,
// rounded differently); a training forward moves the running statistics as the plain one
// does, and not at all with State.Training off (frozen statistics). It fails if the form
// drops the division by the folding factor or the bias (the BatchNorm's running mean would
// then be that of another scale), or reads the running statistics after updating them.
func TestFoldBNForm(t *testing.T) {
	a, err := arch.Parse("conv(3,3,pad=1),bn,relu,maxpool(2),flatten,dense(4)", arch.Shape{H: 6, W: 6, C: 1})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(7))
	plain, err := New(a, rng)
	if err != nil {
		t.Fatal(err)
	}
	l := plain.Layers[0]
	for j := range l.Out {
		l.BN.Gamma.Data().([]float32)[j] = float32(0.5 + rng.Float64())
		l.BN.Beta.Data().([]float32)[j] = float32(rng.NormFloat64() * 0.3)
		l.BN.State.Mean[j] = float32(rng.NormFloat64() * 0.2)
		l.BN.State.Var[j] = float32(0.2 + rng.Float64())
		l.Bias()[j] = float32(rng.NormFloat64() * 0.1)
	}
	form := plain.Clone()
	form.Layers[0].FoldBN = true
	var hooked *G.Node
	form.Layers[0].WeightHook = func(n *G.Node) (*G.Node, error) { hooked = n; return n, nil }
	const batch = 5
	x := make([]float32, batch*plain.InputSize())
	for i := range x {
		x[i] = float32(rng.Float64())
	}

	// Evaluation: the same logits; the hooked weight is the folded one.
	logits := func(m *MLP) []float32 {
		e, err := m.NewEvaluator(batch)
		if err != nil {
			t.Fatal(err)
		}
		out, err := e.Forward(x, batch)
		if err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), out...)
	}
	want, got := logits(plain), logits(form)
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-5*(1+math.Abs(float64(want[i]))) {
			t.Errorf("logit %d: ConvBn form %v, plain %v", i, got[i], want[i])
		}
	}
	fw, _, err := infer.FoldBatchNorm(l.Weights(), l.Bias(), l.In, l.Out, *l.BN.record())
	if err != nil {
		t.Fatal(err)
	}
	if hooked == nil || !slices.Equal(hooked.Value().Data().([]float32), fw) {
		t.Error("the weight hook did not see the folded weight of infer.FoldBatchNorm")
	}

	// Training forward: running statistics as the plain form's; frozen with Training off.
	train := func(m *MLP) (mean, vari []float32) {
		net, err := m.Build(batch)
		if err != nil {
			t.Fatal(err)
		}
		vm, err := Compile(net.Graph, G.Nodes{net.Logits})
		if err != nil {
			t.Fatal(err)
		}
		defer vm.Close()
		if err := G.Let(net.X, tensor.New(tensor.WithShape(batch, m.InputSize()), tensor.WithBacking(x))); err != nil {
			t.Fatal(err)
		}
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		st := m.Layers[0].BN.State
		return append([]float32(nil), st.Mean...), append([]float32(nil), st.Var...)
	}
	before := append([]float32(nil), l.BN.State.Mean...)
	form.Layers[0].BN.State.Training = true
	pm, pv := train(plain)
	fm, fv := train(form)
	for j := range pm {
		if pm[j] == before[j] {
			t.Errorf("channel %d: the plain training forward left the running mean at %v", j, pm[j])
		}
		if math.Abs(float64(fm[j]-pm[j])) > 1e-6 || math.Abs(float64(fv[j]-pv[j])) > 1e-5*float64(pv[j]) {
			t.Errorf("channel %d: ConvBn form's running mean, var %v %v, plain %v %v", j, fm[j], fv[j], pm[j], pv[j])
		}
	}
	form.Layers[0].BN.State.Training = false
	if m2, v2 := train(form); !slices.Equal(m2, fm) || !slices.Equal(v2, fv) {
		t.Errorf("frozen statistics moved: mean %v -> %v, var %v -> %v", fm, m2, fv, v2)
	}
}
