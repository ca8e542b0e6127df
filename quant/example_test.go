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

// Two signed 4-bit values per byte, low nibble first.
func ExamplePackInt4() {
	q := []int8{-1, 2, 7}
	packed := make([]byte, quant.PackedLen(len(q)))
	if err := quant.PackInt4(packed, q); err != nil {
		panic(err)
	}
	back := make([]int8, len(q))
	if err := quant.UnpackInt4(back, packed); err != nil {
		panic(err)
	}
	fmt.Printf("% x %v\n", packed, back)
	// Output:
	// 2f 07 [-1 2 7]
}

// The requantization factor s_in*s_w/s_out of a layer as a fixed-point
// multiplier and shift: real = mult * 2^(shift-31).
func ExampleQuantizeMultiplier() {
	sIn, sW, sOut := 0.02, 0.004, 0.05
	mult, shift, err := quant.QuantizeMultiplier(sIn * sW / sOut)
	if err != nil {
		panic(err)
	}
	fmt.Println(mult, shift)
	// Output:
	// 1759218604 -9
}

// An observer gathers calibration statistics; it never modifies the batches.
func ExampleNewObserver() {
	spec := quant.Spec{Bits: 8, Scheme: quant.Affine, Granularity: quant.PerTensor}
	obs, err := quant.NewObserver(spec, quant.ObserverConfig{Kind: quant.MinMaxObserver})
	if err != nil {
		panic(err)
	}
	for _, batch := range [][]float32{{0, 1.5, 2}, {0.5, 3, -1}} {
		if err := obs.Observe(batch, []int{len(batch)}); err != nil {
			panic(err)
		}
	}
	p, err := obs.Params() // range [-1, 3]: scale 4/255, zero point 64
	if err != nil {
		panic(err)
	}
	fmt.Printf("scale %.6f zero point %d\n", p.Scales[0], p.ZeroPoints[0])
	// Output:
	// scale 0.015686 zero point 64
}
