package qat_test

import (
	"fmt"
	"os"

	"tinyq/infer"
	"tinyq/nn"
	"tinyq/qat"
	"tinyq/train"
)

// tinySet reads the tiny data set's images and labels (testdata/tiny in the repository: 8x8
// images of bars in four orientations, 64 bytes an image, one label byte an image) as
// training data: pixel/255, as the tiny model's file records.
func tinySet(images, labels string) (train.Data, error) {
	pixels, err := os.ReadFile("../testdata/tiny/" + images)
	if err != nil {
		return train.Data{}, err
	}
	lab, err := os.ReadFile("../testdata/tiny/" + labels)
	if err != nil {
		return train.Data{}, err
	}
	x := make([]float32, len(pixels))
	for i, p := range pixels {
		x[i] = float32(p) / 255
	}
	return train.Data{Images: x, Labels: lab}, nil
}

// Quantization-aware training on the tiny float model shipped in testdata/tiny: prepare a
// W4A4 copy (4-bit weights and activations), fine-tune it for two epochs on the 256
// training images, and convert it to the runtime's integer model. Training sums in float32
// on the CPU's float kernel path (gemm.ActivePath); the figures below are the same on the
// generic, avx2 and avx512 paths (TINYQ_KERNEL).
func Example_fit() {
	base, _, err := nn.Load("../testdata/tiny/fp32.safetensors")
	if err != nil {
		fmt.Println(err)
		return
	}
	trainSet, err := tinySet("train-images.u8", "train-labels.u8")
	if err != nil {
		fmt.Println(err)
		return
	}
	testSet, err := tinySet("test-images.u8", "test-labels.u8")
	if err != nil {
		fmt.Println(err)
		return
	}
	qm, err := qat.Prepare(base, qat.Spec(4, 4))
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := qm.Fit(trainSet, testSet, train.Config{Epochs: 2, Batch: 32, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	im, err := qm.Convert(infer.Static)
	if err != nil {
		fmt.Println(err)
		return
	}
	acc, err := infer.Evaluate(im, testSet.Images, testSet.Labels)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s after %d epochs: simulated %.2f%%, integer %.2f%%\n", qm.Config.Name(), len(h.Epochs), h.Final().TestAccuracy, acc)
	// Output:
	// w4a4 after 2 epochs: simulated 93.75%, integer 93.75%
}
