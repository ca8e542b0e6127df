package qkernel_test

import (
	"fmt"
	"slices"

	"tinyq/qkernel"
)

// A dense layer with 3 inputs and 2 outputs, quantized offline: input scale s_in = 1/255
// (uint8 pixels, zero point 0), weight scale s_w = 0.01 (both channels), output scale
// s_out = 0.02 with zero point 0 and a fused ReLU. Then M = s_in*s_w/s_out = 1/510
// = 0.00196078..., which the converter writes as mult*2^(shift-31) with mult in [2^30, 2^31):
// M = 0.50196078 * 2^-8, so shift = -8 and mult = round(0.50196078 * 2^31) = 1077952576
// (quant.QuantizeMultiplier). The run time below sees only integers.
func Example() {
	w, err := qkernel.NewWeights([]int8{
		100, -50, 25, // output channel 0
		-100, 20, 127, // output channel 1
	}, 2, 3)
	if err != nil {
		fmt.Println(err)
		return
	}
	x := []uint8{ // [batch 2, in 3]
		255, 0, 128,
		0, 255, 255,
	}
	acc := make([]int32, 2*2) // [batch, out]
	if err := w.Accumulate(acc, x, 2, []int32{0}, 1); err != nil {
		fmt.Println(err)
		return
	}
	bias := []int32{510, -510} // +-0.02 at scale s_in*s_w = 1/25500, i.e. +-1 output step
	out := make([]uint8, 2*2)
	err = qkernel.Requantize(out, acc, 2, 2, bias, []int32{1077952576}, []int{-8}, 0, 0, 255)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("acc:", acc)
	fmt.Println("out:", out)
	// Row 0: acc = 255*100 + 128*25 = 28700, (28700+510)/510 = 57.27 -> 57;
	// channel 1: 255*-100 + 128*127 = -9244, negative -> 0 (ReLU).
	// Row 1: 255*(-50+25) = -6375 -> 0; 255*(20+127) = 37485, and (37485-510)/510 is 72.5
	// in real numbers, but mult is 1/510's mantissa rounded down (1077952576.25 ->
	// 1077952576), so the one rounding sees 36975*M = 72.49999998 -> 72.

	// Output:
	// acc: [28700 -9244 -6375 37485]
	// out: [57 0 0 72]
}

// ActivePath names the integer path the kernels run on (TINYQ_KERNEL's choice or the fastest
// this CPU supports), e.g. "avx512vnni" when printed; gemm.ActivePath names the float one.
func ExampleActivePath() {
	p := qkernel.ActivePath()
	fmt.Println("a supported integer path:", slices.Contains(qkernel.Supported(), p))
	// Output:
	// a supported integer path: true
}
