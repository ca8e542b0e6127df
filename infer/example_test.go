package infer_test

import (
	"fmt"
	"os"
	"path/filepath"

	"tinyq/infer"
)

// A model is saved once and run from a file in a few lines. Here the model is a 4-pixel,
// 2-class float model made by hand: class 1 answers to ink in the bottom row.
func Example() {
	layer := infer.FloatLayer{Name: "fc1", In: 4, Out: 2,
		W: []float32{ // [in, out]
			1, -1,
			1, -1,
			-1, 1,
			-1, 1,
		},
		B: []float32{0, 0},
	}
	m, err := infer.NewFloatModel(infer.F32, []infer.FloatLayer{layer}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, err := os.MkdirTemp("", "tinyq")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")
	if err := m.SetInput(infer.Input{Width: 2, Height: 2, PixelDivisor: 255}); err != nil {
		fmt.Println(err)
		return
	}
	if err := infer.SaveFloat(path, m, ""); err != nil {
		fmt.Println(err)
		return
	}

	// The user's side: load any saved model and classify raw pixels (0..255).
	model, err := infer.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	preds, err := infer.PredictPixels(model, []uint8{
		0, 0, 255, 255, // ink at the bottom
		255, 128, 0, 0, // ink at the top
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range preds {
		fmt.Printf("class %d, confidence %.4f\n", p.Class, p.Confidence())
	}
	// Output:
	// class 1, confidence 0.9820
	// class 0, confidence 0.9528
}
