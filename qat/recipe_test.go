package qat

import (
	"testing"

	"tinyq/quant"
	"tinyq/train"
)

func TestDefaultRecipe(t *testing.T) {
	for _, c := range []struct {
		w, a   int
		low    bool
		scale  float64
		sched  train.Schedule
		learns bool
	}{
		{8, 8, false, 0.1, train.ConstantLR, false},
		{4, 4, false, 0.1, train.ConstantLR, false},
		{4, 8, false, 0.1, train.ConstantLR, false},
		{3, 3, true, 1, train.CosineLR, true},
		{2, 4, true, 1, train.CosineLR, true},
		{8, 2, true, 1, train.CosineLR, true},
	} {
		r := Default(c.w, c.a)
		if Low(c.w, c.a) != c.low || r.LRScale != c.scale || r.Schedule != c.sched || r.Config.LearnScales != c.learns {
			t.Errorf("%v: low %v, recipe %+v", quant.Widths{Weight: c.w, Activation: c.a}, Low(c.w, c.a), r)
		}
		if c.learns && (r.Config.LSQInit != InitMeanAbs || !r.Config.FixInputScale) {
			t.Errorf("%v: learned scales start %v, input fixed %v", quant.Widths{Weight: c.w, Activation: c.a}, r.Config.LSQInit, r.Config.FixInputScale)
		}
		if l := r.Config.Spec.Layer(0); l.Weight.Bits != c.w || l.Activation.Bits != c.a || r.Config.Spec.PerLayer() {
			t.Errorf("%v: specs %+v", quant.Widths{Weight: c.w, Activation: c.a}, r.Config.Spec)
		}
		if err := r.Config.Validate(); err != nil {
			t.Errorf("%v: %v", quant.Widths{Weight: c.w, Activation: c.a}, err)
		}
	}
}

func TestDefaultLayers(t *testing.T) {
	bits := []quant.Widths{{Weight: 8, Activation: 8}, {Weight: 2, Activation: 8}, {Weight: 4, Activation: 4}}
	if n := quant.Narrowest(bits); n.Weight != 2 || n.Activation != 4 {
		t.Errorf("Narrowest = %v, want w2a4", n)
	}
	r := DefaultLayers(bits)
	if want := Default(2, 4); !r.Config.LearnScales || r.LRScale != want.LRScale || r.Schedule != want.Schedule || len(r.Config.Spec.Layers) != 3 || r.Config.Name() != "w8a8-w2a8-w4a4" {
		t.Errorf("DefaultLayers = %+v, want the w2a4 recipe with the layers' widths", r)
	}
}

// A base trained along a cosine (networks with convolutions) is fine-tuned along a cosine from
// a quarter of its rate at 4 bits and more; an MLP's constant base keeps Default; the low-bit
// recipe is the same either way.
func TestRecipeForBase(t *testing.T) {
	r := Default(8, 8).ForBase(train.CosineLR)
	if r.Schedule != train.CosineLR || r.LRScale != 0.25 {
		t.Errorf("w8a8 after a cosine base: %v, scale %v", r.Schedule, r.LRScale)
	}
	if r := Default(8, 8).ForBase(train.ConstantLR); r.Schedule != train.ConstantLR || r.LRScale != 0.1 {
		t.Errorf("w8a8 after a constant base: %v, scale %v; want Default's", r.Schedule, r.LRScale)
	}
	if r := Default(2, 2).ForBase(train.CosineLR); r.Schedule != train.CosineLR || r.LRScale != 1 || !r.Config.LearnScales {
		t.Errorf("w2a2 after a cosine base: %v, scale %v; want Default's", r.Schedule, r.LRScale)
	}
}
