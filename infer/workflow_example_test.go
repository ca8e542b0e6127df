package infer_test

import (
	"fmt"
	"os"

	"tinyq/infer"
)

// The tiny model shipped in the repository's testdata/tiny (a 64-16-4 MLP trained on 8x8
// images of bars in four orientations; tinyq/internal/moduletest made it) is loaded and
// evaluated on its test images, raw bytes of 64 pixels each.
func Example_evaluate() {
	m, err := infer.Load("../testdata/tiny/fp32.safetensors") // any kind: fp32, fp16, qat, int
	if err != nil {
		fmt.Println(err)
		return
	}
	pixels, err := os.ReadFile("../testdata/tiny/test-images.u8")
	if err != nil {
		fmt.Println(err)
		return
	}
	labels, err := os.ReadFile("../testdata/tiny/test-labels.u8")
	if err != nil {
		fmt.Println(err)
		return
	}
	x, err := infer.Pixels(m, pixels) // the input the file records: pixel/255
	if err != nil {
		fmt.Println(err)
		return
	}
	acc, err := infer.Evaluate(m, x, labels)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d test images, %.2f%% correct\n", len(labels), acc)
	// Output:
	// 128 test images, 94.53% correct
}

// PredictPixels classifies raw pixels (0..255, 8x8 for the tiny model) with each class's
// probability.
func ExamplePredictPixels() {
	m, err := infer.Load("../testdata/tiny/fp32.safetensors")
	if err != nil {
		fmt.Println(err)
		return
	}
	pixels, err := os.ReadFile("../testdata/tiny/test-images.u8")
	if err != nil {
		fmt.Println(err)
		return
	}
	labels, err := os.ReadFile("../testdata/tiny/test-labels.u8")
	if err != nil {
		fmt.Println(err)
		return
	}
	preds, err := infer.PredictPixels(m, pixels[:4*64]) // the first four images
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, p := range preds {
		fmt.Printf("image %d: class %d (label %d), confident: %v\n", i, p.Class, labels[i], p.Confidence() > 0.5)
	}
	// Output:
	// image 0: class 2 (label 2), confident: true
	// image 1: class 3 (label 3), confident: true
	// image 2: class 1 (label 1), confident: true
	// image 3: class 1 (label 1), confident: true
}
