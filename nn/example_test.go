package nn_test

import (
	"fmt"

	"tinyq/nn"
)

// An evaluator runs a model forward at a fixed batch size; a shorter batch is padded.
func ExampleMLP_NewEvaluator() {
	m, err := nn.NewMLPFrom([]int{2, 2}, []string{"identity"})
	if err != nil {
		fmt.Println(err)
		return
	}
	copy(m.Layers[0].Weights(), []float32{1, 2, 3, 4}) // [in, out]
	copy(m.Layers[0].Bias(), []float32{0.5, -0.5})
	ev, err := m.NewEvaluator(4)
	if err != nil {
		fmt.Println(err)
		return
	}
	logits, err := ev.Forward([]float32{1, 0, 0, 1}, 2) // two samples in a batch of four
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(logits)
	// Output:
	// [1.5 1.5 3.5 3.5]
}
