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
