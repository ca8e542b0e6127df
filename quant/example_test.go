package quant_test

import (
	"fmt"

	"tinyq/quant"
)

// Quantize four values to int8 symmetric per-tensor and back.
func Example() {
	x := []float32{-1, 0, 0.5, 1}
	shape := []int{4}
	spec := quant.Spec{Bits: 8, Scheme: quant.Symmetric, Granularity: quant.PerTensor}

	mins, maxs, err := quant.MinMax(x, shape, spec)
	if err != nil {
		panic(err)
	}
	p, err := quant.ChooseParams(spec, mins, maxs) // scale = 1/127
	if err != nil {
		panic(err)
	}
	// 0.5/scale is exactly 63.5 in float32; the tie goes to the even 64.
	q := make([]int32, len(x))
	if err := quant.Quantize(q, x, shape, p); err != nil {
		panic(err)
	}
	back := make([]float32, len(x))
	if err := quant.Dequantize(back, q, shape, p); err != nil {
		panic(err)
	}
	fmt.Println(spec)
	fmt.Printf("scale %.6f zero point %d\n", p.Scales[0], p.ZeroPoints[0])
	fmt.Println("q   ", q)
	fmt.Println("back", back)
	// Output:
	// int8 symmetric per-tensor
	// scale 0.007874 zero point 0
	// q    [-127 0 64 127]
	// back [-1 0 0.503937 1]
}
