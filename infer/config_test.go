package infer_test

import (
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/quant"
)

// IntConfig holds one quant.ModelSpec: its names, and what the runtime refuses.
func TestIntConfig(t *testing.T) {
	spec := func(w, a int, g quant.Granularity) quant.ModelSpec {
		return quant.Uniform(quant.LayerSpecFor(quant.Widths{Weight: w, Activation: a}, g))
	}
	mixed := spec(8, 8, quant.PerChannel).WithWidths([]quant.Widths{{Weight: 2, Activation: 8}, {Weight: 8, Activation: 4}})
	for _, tc := range []struct {
		cfg  infer.IntConfig
		name string
	}{
		{infer.IntConfig{Mode: infer.Static, Spec: spec(8, 8, quant.PerChannel)}, "w8a8-static"},
		{infer.IntConfig{Mode: infer.Static, Spec: spec(4, 4, quant.PerTensor)}, "w4a4-static-per-tensor"},
		{infer.IntConfig{Mode: infer.Dynamic, Spec: spec(8, 8, quant.PerChannel)}, "w8-dynamic"},
		{infer.IntConfig{Mode: infer.Static, Spec: mixed}, "w2a8-w8a4-static"},
	} {
		if err := tc.cfg.Validate(); err != nil || tc.cfg.Name() != tc.name {
			t.Errorf("%s: %q, %v", tc.name, tc.cfg.Name(), err)
		}
	}
	affineW := spec(8, 8, quant.PerChannel)
	affineW.Layers[0].Weight.Scheme = quant.Affine
	for _, tc := range []struct {
		cfg  infer.IntConfig
		want string
	}{
		{infer.IntConfig{Mode: infer.Dynamic, Spec: spec(8, 4, quant.PerChannel)}, "infer: dynamic mode quantizes activations to 8 bits per row, not 4"},
		{infer.IntConfig{Mode: infer.Dynamic, Spec: mixed}, "infer: per-layer widths need static mode"},
		{infer.IntConfig{Mode: infer.Static, Spec: spec(9, 8, quant.PerChannel)}, "infer: weight spec: bits 9 outside 2..8"},
		{infer.IntConfig{Mode: infer.Static, Spec: affineW}, "infer: weight spec uint8 affine"},
		{infer.IntConfig{Spec: spec(8, 8, quant.PerChannel)}, "infer: mode Mode(0)"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Validate: %v, want %q", err, tc.want)
		}
	}
	if _, err := infer.NewIntModel(infer.IntConfig{Mode: infer.Static, Spec: mixed}, []*infer.IntLayer{{Name: "fc1", In: 2, Out: 2}}); err == nil || !strings.Contains(err.Error(), "2 per-layer widths for 1 layers") {
		t.Errorf("NewIntModel with widths for another number of layers: %v", err)
	}
}
