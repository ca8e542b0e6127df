package ptq_test

import (
	"fmt"

	"tinyq/infer"
	"tinyq/ptq"
)

// Converting a 2-input, 2-output layer to int8 weights: each output channel gets its own
// scale max|w|/127, so 0.5 becomes 64/127 = 0.504 and the float logit -0.5 comes out as -0.496.
func Example() {
	m, err := infer.NewFloatModel(infer.F32, []infer.FloatLayer{{
		Name: "fc1", In: 2, Out: 2,
		W: []float32{ // [in, out]
			0.5, -2,
			-1, 1,
		},
		B: []float32{0, 0},
	}}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	im, err := ptq.Convert(m, ptq.Spec(ptq.Dynamic, 8, 8), ptq.Plan{})
	if err != nil {
		fmt.Println(err)
		return
	}
	l := im.Layers[0]
	w, err := l.Unpacked(im.Config.Spec.Layer(0).Weight.Bits)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("weights [out, in]:", w)
	fmt.Println("scales:", l.WeightScales)
	logits := make([]float32, 2)
	if err := im.Forward([]float32{1, 1}, 1, logits); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("logits for [1 1]: %.3f\n", logits)
	// Output:
	// weights [out, in]: [64 -127 -127 64]
	// scales: [0.007874016 0.015748031]
	// logits for [1 1]: [-0.496 -0.992]
}
