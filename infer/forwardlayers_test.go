package infer

import (
	"errors"
	"math"
	"math/rand"
	"testing"

	"tinyq/quant"
)

// TestForwardLayers: ForwardLayers gives Forward's logits bit for bit and shows each layer
// the input it computes with, in order (the first layer's is x; a simulation's is
// fake-quantized); a visit error stops the pass and comes back as it is.
func TestForwardLayers(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	sizes := []int{20, 16, 12, 5}
	var layers []FloatLayer
	for i := 0; i+1 < len(sizes); i++ {
		l := FloatLayer{Name: "fc", In: sizes[i], Out: sizes[i+1], ReLU: i+2 < len(sizes), W: make([]float32, sizes[i]*sizes[i+1]), B: make([]float32, sizes[i+1])}
		for j := range l.W {
			l.W[j] = float32(rng.NormFloat64() * 0.3)
		}
		for j := range l.B {
			l.B[j] = float32(rng.NormFloat64() * 0.1)
		}
		layers = append(layers, l)
	}
	m, err := NewFloatModel(F32, layers, nil)
	if err != nil {
		t.Fatal(err)
	}
	const rows = 150
	x := make([]float32, rows*20)
	for i := range x {
		x[i] = rng.Float32()
	}
	want := make([]float32, rows*5)
	if err := m.Forward(x, rows, want); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, rows*5)
	var seen []int
	var inputs [][]float32
	err = m.ForwardLayers(x, rows, got, func(i int, in []float32) error {
		seen = append(seen, i)
		inputs = append(inputs, append([]float32(nil), in...))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("logit %d: %v, Forward %v", i, got[i], want[i])
		}
	}
	if len(seen) != 3 || seen[0] != 0 || seen[2] != 2 || len(inputs[0]) != rows*20 || inputs[0][7] != x[7] || len(inputs[2]) != rows*12 {
		t.Fatalf("visited layers %v with inputs of %d, %d, %d values", seen, len(inputs[0]), len(inputs[1]), len(inputs[2]))
	}
	// Layer 2's input is layer 1's output: the model without its first layer gives the same
	// logits from it.
	tail, err := NewFloatModel(F32, layers[1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	again := make([]float32, rows*5)
	if err := tail.Forward(inputs[1], rows, again); err != nil {
		t.Fatal(err)
	}
	for i := range again {
		if again[i] != want[i] {
			t.Fatalf("logit %d from the visited input of fc2: %v, want %v", i, again[i], want[i])
		}
	}
	stop := errors.New("stop")
	calls := 0
	err = m.ForwardLayers(x, rows, got, func(i int, in []float32) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("visit error: %v after %d calls, want it as it is after 1", err, calls)
	}
	x[3] = float32(math.Inf(1))
	if err := m.ForwardLayers(x, rows, got, func(int, []float32) error { return nil }); err == nil {
		t.Error("an infinite input accepted")
	}
	x[3] = 0.5
	// A simulation: the visited input is fake-quantized.
	sim := &Simulation{Inputs: make([]quant.Params, 3), Weights: make([]quant.Params, 3)}
	sim.Inputs[0] = quant.Params{Scales: []float32{0.25}, ZeroPoints: []int32{0}, QMin: 0, QMax: 255, Axis: -1}
	sim.Weights[0] = quant.Params{Scales: make([]float32, 16), ZeroPoints: make([]int32, 16), QMin: -127, QMax: 127, Axis: 1}
	for j := range sim.Weights[0].Scales {
		sim.Weights[0].Scales[j] = 0.01
	}
	sm, err := NewFloatModel(F32, append([]FloatLayer(nil), layers...), sim)
	if err != nil {
		t.Fatal(err)
	}
	err = sm.ForwardLayers(x, rows, got, func(i int, in []float32) error {
		if i == 0 {
			for k, v := range in {
				if v != float32(math.Round(float64(x[k])/0.25))*0.25 {
					t.Fatalf("simulated input %d is %v for x %v, want it on the 0.25 grid", k, v, x[k])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
