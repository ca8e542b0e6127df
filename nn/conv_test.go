package nn

import (
	"math/rand"
	"slices"
	"testing"

	"tinyq/arch"
)

func TestNewMLPArchEqualsNewMLP(t *testing.T) {
	sizes := []int{784, 32, 16, 10}
	a, err := NewMLP(sizes, rand.New(rand.NewSource(4)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(arch.MLP(sizes, arch.Shape{}), rand.New(rand.NewSource(4)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Layers {
		if !slices.Equal(a.Layers[i].Weights(), b.Layers[i].Weights()) || a.Layers[i].Act != b.Layers[i].Act {
			t.Fatalf("layer %d differs", i)
		}
	}
	if b.Input != a.Input || !slices.Equal(a.Sizes(), b.Sizes()) || !b.Architecture().Equal(arch.MLP(sizes, arch.Shape{})) {
		t.Errorf("input %v / %v, sizes %v / %v, arch %v", a.Input, b.Input, a.Sizes(), b.Sizes(), b.Architecture())
	}
}

func TestCNNArchitecture(t *testing.T) {
	for _, bn := range []bool{false, true} {
		a := arch.CNN(bn, 10)
		m, err := New(a, rand.New(rand.NewSource(1)))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Architecture(); !got.Equal(a) {
			t.Errorf("bn=%v: Architecture %v, want %v", bn, got, a)
		}
		if m.InputSize() != 784 || m.Classes() != 10 || len(m.Layers) != 4 || m.Layers[2].In != 1568 {
			t.Errorf("bn=%v: in %d classes %d layers %d", bn, m.InputSize(), m.Classes(), len(m.Layers))
		}
		// 16·25+16 + 32·400+32 + 1568·128+128 + 128·10+10, plus 2·(16+32) with BatchNorm.
		want := 416 + 12832 + 200832 + 1290
		if bn {
			want += 96
		}
		if m.NumParams() != want {
			t.Errorf("bn=%v: %d parameters, want %d", bn, m.NumParams(), want)
		}
		if err := m.Validate(); err != nil {
			t.Error(err)
		}
		c := m.Clone()
		if !c.Architecture().Equal(a) || &c.Layers[0].Weights()[0] == &m.Layers[0].Weights()[0] {
			t.Error("clone")
		}
		if bn && &c.Layers[0].BN.State.Mean[0] == &m.Layers[0].BN.State.Mean[0] {
			t.Error("clone shares running statistics")
		}
		m.Layers[1].Pool.H++
		if err := m.Validate(); err == nil {
			t.Error("a pooling window that does not fit was accepted")
		}
	}
}

// TestCNNFileAndRuntime saves a small convolutional network with BatchNorm, loads it back
// and checks that the graph's evaluation and the runtime's model (BatchNorm folded) agree.
func TestCNNFileAndRuntime(t *testing.T) {
	a, err := arch.Parse("conv(4,3,pad=1),bn,relu,maxpool(2),conv(6,3,stride=2),relu,flatten,dense(5)", arch.Shape{H: 8, W: 8, C: 1})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(2))
	m, err := New(a, rng)
	if err != nil {
		t.Fatal(err)
	}
	bn := m.Layers[0].BN
	for c := range bn.State.Mean {
		bn.State.Mean[c] = float32(rng.NormFloat64() * 0.1)
		bn.State.Var[c] = float32(0.5 + rng.Float64())
		bn.Gamma.Data().([]float32)[c] = float32(0.5 + rng.Float64())
		bn.Beta.Data().([]float32)[c] = float32(rng.NormFloat64() * 0.1)
	}
	path := t.TempDir() + "/cnn.safetensors"
	if err := m.Save(path, ""); err != nil {
		t.Fatal(err)
	}
	got, info, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !info.IsNet() || !got.Architecture().Equal(m.Architecture()) || got.Input != m.Input {
		t.Fatalf("loaded %v (input %v), want %v (input %v)", got.Architecture(), got.Input, m.Architecture(), m.Input)
	}
	if !slices.Equal(got.Layers[0].BN.State.Var, bn.State.Var) || !slices.Equal(got.Layers[1].Weights(), m.Layers[1].Weights()) {
		t.Error("parameters differ after the round trip")
	}
	const rows = 7
	x := make([]float32, rows*m.InputSize())
	for i := range x {
		x[i] = rng.Float32()
	}
	ev, err := got.NewEvaluator(rows)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ev.Forward(x, rows)
	if err != nil {
		t.Fatal(err)
	}
	fm, err := got.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	logits := make([]float32, rows*5)
	if err := fm.Forward(x, rows, logits); err != nil {
		t.Fatal(err)
	}
	// Folding BatchNorm reorders the float arithmetic: a few float32 roundings apart.
	for i := range logits {
		if d := logits[i] - want[i]; d > 1e-4 || d < -1e-4 {
			t.Fatalf("logit %d: runtime %v, graph %v", i, logits[i], want[i])
		}
	}
}

// A runtime float model comes back as the same trainable network: FromFloatModel of
// FloatModel computes the same logits, for a CNN and an MLP.
func TestFromFloatModel(t *testing.T) {
	for _, a := range []arch.Arch{arch.CNN(false, 10), arch.MLP([]int{784, 16, 10}, arch.Shape{})} {
		m, err := New(a, rand.New(rand.NewSource(3)))
		if err != nil {
			t.Fatal(err)
		}
		fm, err := m.FloatModel()
		if err != nil {
			t.Fatal(err)
		}
		back, err := FromFloatModel(fm)
		if err != nil {
			t.Fatal(err)
		}
		if !back.Architecture().Equal(m.Architecture()) || back.InputRecord() != m.InputRecord() {
			t.Errorf("%v: came back as %v (input %v)", a, back.Architecture(), back.InputRecord())
		}
		for i := range m.Layers {
			if !slices.Equal(back.Layers[i].Weights(), m.Layers[i].Weights()) || !slices.Equal(back.Layers[i].Bias(), m.Layers[i].Bias()) {
				t.Errorf("%v: layer %d's parameters differ", a, i)
			}
		}
	}
}
