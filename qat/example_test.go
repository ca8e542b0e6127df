package qat_test

import (
	"fmt"

	"tinyq/nn"
	"tinyq/qat"
)

// Prepare puts a quantizer on every layer input and every weight of a copy of the model.
func Example() {
	m, err := nn.NewMLPFrom([]int{4, 3, 2}, []string{"relu", "identity"})
	if err != nil {
		fmt.Println(err)
		return
	}
	qm, err := qat.Prepare(m, qat.Spec(4, 8)) // W4A8
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(qm.Config.Name())
	for _, q := range qm.Quantizers() {
		fmt.Printf("%-6s %v, %d scale(s)\n", q.Name, q.Spec, len(q.Scales()))
	}
	fmt.Println("input model untouched:", m.InputHook == nil && m.Layers[0].WeightHook == nil)
	// Output:
	// w4a8
	// fc1.in uint8 affine per-tensor, 1 scale(s)
	// fc2.in uint8 affine per-tensor, 1 scale(s)
	// fc1.w  int4 symmetric per-channel(axis 1), 3 scale(s)
	// fc2.w  int4 symmetric per-channel(axis 1), 2 scale(s)
	// input model untouched: true
}
