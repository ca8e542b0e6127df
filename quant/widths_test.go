package quant_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"tinyq/quant"
)

// Name, parse, range check and JSON of one layer's widths and of a model's.
func ExampleParseLayerWidths() {
	ws, err := quant.ParseLayerWidths("2/8+2/8+4")
	if err != nil {
		panic(err)
	}
	fmt.Println(quant.LayerWidthsName(ws), quant.Narrowest(ws))
	one, _ := quant.ParseWidths("4/8")
	fmt.Println(one, one.WeightName())
	b, _ := json.Marshal(ws)
	fmt.Println(string(b))
	_, err = quant.ParseWidths("9")
	fmt.Println(err)
	// Output:
	// w2a8-w2a8-w4a4 w2a4
	// w4a8 w4
	// [[2,8],[2,8],[4,4]]
	// quant: bits 9 outside 2..8
}

func TestParseWidths(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"8", "w8a8", ""},
		{"4/8", "w4a8", ""},
		{"2/2", "w2a2", ""},
		{"1", "", "quant: bits 1 outside 2..8"},
		{"4/9", "", "quant: bits 9 outside 2..8"},
		{"4/x", "", `quant: "4/x" is not N or W/A`},
		{"", "", `quant: "" is not N or W/A`},
		{" 4", "", `is not N or W/A`},
		{"4+4", "", `is not N or W/A`},
	} {
		w, err := quant.ParseWidths(tc.in)
		if tc.err == "" {
			if err != nil || w.String() != tc.want {
				t.Errorf("ParseWidths(%q) = %v, %v; want %s", tc.in, w, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseWidths(%q): %v, want %q", tc.in, err, tc.err)
		}
	}
}

func TestParseLayerWidths(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"8", "w8a8", ""},
		{"2/8+2/8+4/8", "w2a8-w2a8-w4a8", ""},
		{" 2/8 + 4 ", "w2a8-w4a4", ""},
		{"2+2+x", "", `quant: "2+2+x" is not N, W/A or per-layer W/A+W/A`},
		{"", "", `quant: "" is not N, W/A or per-layer`},
		{"2+2+9", "", "quant: bits 9 outside 2..8"},
	} {
		ws, err := quant.ParseLayerWidths(tc.in)
		if tc.err == "" {
			if err != nil || quant.LayerWidthsName(ws) != tc.want {
				t.Errorf("ParseLayerWidths(%q) = %v, %v; want %s", tc.in, ws, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseLayerWidths(%q): %v, want %q", tc.in, err, tc.err)
		}
	}
}

func TestWidthsJSON(t *testing.T) {
	var ws []quant.Widths
	if err := json.Unmarshal([]byte(`[[2,8],[4,4]]`), &ws); err != nil || len(ws) != 2 || ws[1] != (quant.Widths{Weight: 4, Activation: 4}) {
		t.Fatalf("Unmarshal: %v, %v", ws, err)
	}
	for _, bad := range []string{`[[2,8,5]]`, `[[2]]`, `[{"w":2}]`} {
		if err := json.Unmarshal([]byte(bad), &ws); err == nil {
			t.Errorf("Unmarshal(%s) accepted: %v", bad, ws)
		}
	}
	if (quant.Widths{Weight: 9, Activation: 8}).Validate() == nil || (quant.Widths{Weight: 8, Activation: 1}).Validate() == nil {
		t.Error("Validate accepts widths outside 2..8")
	}
	if quant.CheckBits(2) != nil || quant.CheckBits(8) != nil || quant.CheckBits(0) == nil {
		t.Error("CheckBits does not accept exactly 2..8")
	}
	if n := quant.Narrowest(nil); n != (quant.Widths{}) {
		t.Errorf("Narrowest(nil) = %v", n)
	}
}

// A model spec: one layer spec for every layer, or one per layer (mixed precision).
func ExampleModelSpec() {
	uniform := quant.Uniform(quant.LayerSpecFor(quant.Widths{Weight: 4, Activation: 8}, quant.PerChannel))
	fmt.Println(uniform.Name(), uniform.PerLayer(), uniform.Layer(2).Weight)
	ws, _ := quant.ParseLayerWidths("2/8+2/8+4/8")
	mixed := uniform.WithWidths(ws)
	fmt.Println(mixed.Name(), mixed.PerLayer(), mixed.Layer(2).Weight, mixed.Narrowest())
	fmt.Println(mixed.CheckLayers(3), mixed.CheckLayers(2))
	fmt.Println(mixed.WithWeightGranularity(quant.PerTensor, 0).Layer(0).Weight)
	// Output:
	// w4a8 false int4 symmetric per-channel(axis 1)
	// w2a8-w2a8-w4a8 true int4 symmetric per-channel(axis 1) w2a8
	// <nil> 3 per-layer widths for 2 layers
	// int2 symmetric per-tensor
}

func TestModelSpecValidate(t *testing.T) {
	base := quant.Uniform(quant.LayerSpecFor(quant.Widths{Weight: 8, Activation: 8}, quant.PerChannel))
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	mixed := base.WithWidths([]quant.Widths{{Weight: 2, Activation: 8}, {Weight: 9, Activation: 8}})
	odd := base.WithWidths([]quant.Widths{{Weight: 2, Activation: 8}, {Weight: 4, Activation: 8}})
	odd.Layers[1].Weight.Granularity = quant.PerTensor
	zeroAct := base
	zeroAct.Layers = []quant.LayerSpec{{Weight: base.Layers[0].Weight}}
	for _, tc := range []struct {
		name string
		spec quant.ModelSpec
		want string
	}{
		{"empty", quant.ModelSpec{}, "weight spec: bits 0 outside 2..8"},
		{"9-bit layer", mixed, "layer 1 weight spec: bits 9 outside 2..8"},
		{"no activation", zeroAct, "activation spec: bits 0 outside 2..8"},
		{"layers differ beyond widths", odd, "layer 1 spec int4 symmetric per-tensor"},
	} {
		if err := tc.spec.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// WithWidths and WithWeightGranularity return new specs: the receiver is unchanged.
	_ = base.WithWidths([]quant.Widths{{Weight: 2, Activation: 2}}).WithWeightGranularity(quant.PerTensor, 0)
	if base.Layers[0] != quant.LayerSpecFor(quant.Widths{Weight: 8, Activation: 8}, quant.PerChannel) {
		t.Errorf("base modified: %+v", base.Layers[0])
	}
	if base.Layer(5) != base.Layers[0] || odd.Layer(5) != (quant.LayerSpec{}) || odd.Layer(-1) != (quant.LayerSpec{}) {
		t.Error("Layer: a uniform spec answers for every layer, a per-layer one only for its own")
	}
	dyn := quant.Uniform(quant.LayerSpecFor(quant.Widths{Weight: 8, Activation: 8}, quant.PerTensor))
	if dyn.WeightName() != "w8" || odd.WeightName() != "w2-w4" || dyn.Layer(0).Weight.Axis != 0 {
		t.Errorf("WeightName %q %q, axis %d", dyn.WeightName(), odd.WeightName(), dyn.Layer(0).Weight.Axis)
	}
}
