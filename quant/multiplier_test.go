package quant

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestQuantizeMultiplier(t *testing.T) {
	tests := []struct {
		real  float64
		mult  int32
		shift int
	}{
		{0, 0, 0},
		{0.5, 1 << 30, 0},   // 2^30 * 2^(0-31)
		{0.25, 1 << 30, -1}, // 2^30 * 2^(-1-31)
		{1.0, 1 << 30, 1},
		{0.75, 3 << 29, 0},
		{3.0, 3 << 29, 2},
		{1.0 / 3, 1431655765, -1}, // 1/3 = (2/3)*2^-1; (2/3)*2^31 = 1431655765.33 rounds down
		// f*2^31 rounds up to 2^31: mult becomes 2^30 and shift goes up by one.
		{1 - 0x1p-40, 1 << 30, 1},
		{0x1p-31, 1 << 30, -30},
		// Below about 2^-32 the shift would be < -31: flushed to zero, as TFLite does.
		{0x1p-32, 1 << 30, -31},
		{0x1p-33, 0, 0},
		{1e-12, 0, 0},
	}
	for _, tt := range tests {
		mult, shift, err := QuantizeMultiplier(tt.real)
		if err != nil || mult != tt.mult || shift != tt.shift {
			t.Errorf("QuantizeMultiplier(%v) = (%d, %d, %v), want (%d, %d, nil)", tt.real, mult, shift, err, tt.mult, tt.shift)
		}
	}
	for _, bad := range []float64{-0.5, math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, _, err := QuantizeMultiplier(bad); err == nil {
			t.Errorf("QuantizeMultiplier(%v): no error", bad)
		}
	}
}

// TestQuantizeMultiplierProperty: mult is in [2^30, 2^31) and
// mult*2^(shift-31) is within 2^-31 relative of real. The check is done
// exactly: y = real*2^(31-shift) is real's mantissa scaled into [2^30, 2^31]
// (Ldexp is exact), mult - y is exact in float64 (both are within a factor of
// two of each other), and |mult - y| <= 1/2 with y >= 2^30 is the 2^-31
// relative bound.
func TestQuantizeMultiplierProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for range 100000 {
		real := math.Exp2(rng.Float64()*60 - 30) // 2^-30 .. 2^30
		mult, shift, err := QuantizeMultiplier(real)
		if err != nil {
			t.Fatal(err)
		}
		if mult < 1<<30 {
			t.Fatalf("real %v: mult %d < 2^30", real, mult)
		}
		y := math.Ldexp(real, 31-shift)
		if d := math.Abs(float64(mult) - y); d > 0.5 {
			t.Fatalf("real %v: mult %d shift %d: |mult - real*2^(31-shift)| = %v > 1/2", real, mult, shift, d)
		}
		if rel := math.Abs(math.Ldexp(float64(mult), shift-31)-real) / real; rel > 0x1p-31 {
			t.Fatalf("real %v: relative error %g > 2^-31", real, rel)
		}
	}
}

// TestMultiplyByQuantizedMultiplier checks hand-derived values. M = mult·2^(shift-31), and the
// result is floor(x·M + 1/2) saturated to int32; each comment gives x·M exactly.
func TestMultiplyByQuantizedMultiplier(t *testing.T) {
	const minI, maxI = math.MinInt32, math.MaxInt32
	tests := []struct {
		x, mult int32
		shift   int
		want    int32
	}{
		// M = 2^30·2^-31 = 0.5.
		{100, 1 << 30, 0, 50},
		{5, 1 << 30, 0, 3},   // 2.5: a tie goes up
		{-5, 1 << 30, 0, -2}, // -2.5: a tie goes up, toward +inf
		{3, 1 << 30, 0, 2},   // 1.5
		{-3, 1 << 30, 0, -1}, // -1.5
		{0, 1 << 30, 0, 0},
		// M = 0.25: one rounding of the exact product. gemmlowp's double rounding gives 2 for
		// 1.25 (2.5 -> 3, then 3/2 = 1.5 -> 2); see qkernel's gemmlowp reference test.
		{5, 1 << 30, -1, 1},   // 1.25
		{-5, 1 << 30, -1, -1}, // -1.25
		{6, 1 << 30, -1, 2},   // 1.5
		{-6, 1 << 30, -1, -1}, // -1.5
		{7, 1 << 30, -1, 2},   // 1.75
		{-7, 1 << 30, -1, -2}, // -1.75
		{3, 1 << 30, 2, 6},    // M = 2^30·2^(2-31) = 2
		{1000, 0, -3, 0},      // mult 0
		// A typical requantization: M = 1518500250·2^-39 (0.70710678/256);
		// 200000·M = 303700050000000/2^39 = 552.427...
		{200000, 1518500250, -8, 552},
		// M = 1077952576·2^-39, just below 1/510 (QuantizeMultiplier(1/510) rounds the mantissa
		// 2^31·256/510 = 1077952576.25 down): 36975·M = 72.49999998..., not 72.5, so 72.
		{36975, 1077952576, -8, 72},
		// shift = -31, the smallest: M = mult·2^-62.
		{maxI, maxI, -31, 1},       // (2^31-1)^2/2^62 = 1 - 2^-30 + 2^-62
		{minI, maxI, -31, -1},      // -2^31·(2^31-1)/2^62 = -1 + 2^-31
		{minI, 1 << 30, -31, 0},    // -2^61/2^62 = -0.5, a tie: up to 0
		{maxI, 1 << 30, -31, 0},    // (2^31-1)/2^32 < 0.5
		{1 << 20, 1 << 30, -31, 0}, // 2^-12
		// shift = 30, the largest: M = mult/2.
		{1, 1, 30, 1},  // 0.5
		{-1, 1, 30, 0}, // -0.5
		{3, 1, 30, 2},  // 1.5
		// Saturation.
		{maxI, 1 << 30, 30, maxI},      // 2^29·(2^31-1)
		{minI, 1 << 30, 30, minI},      // -2^60
		{minI, minI, 30, maxI},         // 2^62/2 = 2^61
		{minI, minI, 0, maxI},          // 2^62/2^31 = 2^31, one above the largest int32
		{maxI, 1 << 30, 1, maxI},       // M = 1 exactly: no saturation needed
		{minI, 1 << 30, 1, minI},       // M = 1
		{1 << 30, 1 << 30, 2, maxI},    // 2^30·2 = 2^31
		{-(1 << 30), 1 << 30, 2, minI}, // -2^31 exactly, representable
	}
	for _, tt := range tests {
		if got := MultiplyByQuantizedMultiplier(tt.x, tt.mult, tt.shift); got != tt.want {
			t.Errorf("MultiplyByQuantizedMultiplier(%d, %d, %d) = %d, want %d", tt.x, tt.mult, tt.shift, got, tt.want)
		}
		if got := refMultiply(tt.x, tt.mult, tt.shift); got != tt.want {
			t.Errorf("refMultiply(%d, %d, %d) = %d, want %d", tt.x, tt.mult, tt.shift, got, tt.want)
		}
	}
}

// refMultiply is MultiplyByQuantizedMultiplier's definition in exact big-integer arithmetic:
// floor((x·mult + 2^(30-shift)) / 2^(31-shift)), saturated to int32.
func refMultiply(x, mult int32, shift int) int32 {
	t := uint(31 - shift)
	p := new(big.Int).Mul(big.NewInt(int64(x)), big.NewInt(int64(mult)))
	p.Add(p, new(big.Int).Lsh(big.NewInt(1), t-1))
	p.Rsh(p, t) // rounds toward -inf for negative p, as floor
	switch {
	case p.Cmp(big.NewInt(math.MaxInt32)) > 0:
		return math.MaxInt32
	case p.Cmp(big.NewInt(math.MinInt32)) < 0:
		return math.MinInt32
	}
	return int32(p.Int64())
}

// TestMultiplyByQuantizedMultiplierRandom compares with the exact big-integer definition and
// with TFLite's literal int64 formula (x·mult + 2^(t-1)) >> t, which cannot overflow for int32
// inputs (|x·mult| <= 2^62 and 2^(t-1) <= 2^61), on random inputs of every magnitude, and
// checks that the result is within 1/2 of x·M whenever it does not saturate.
func TestMultiplyByQuantizedMultiplierRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	n := 200000
	if testing.Short() {
		n = 20000
	}
	for range n {
		x := int32(r.Uint32())
		switch r.IntN(4) { // accumulators are mostly small
		case 0:
			x >>= r.IntN(31)
		case 1:
			x = int32(r.IntN(1<<17) - 1<<16)
		}
		mult := int32(r.Uint32())
		switch r.IntN(8) {
		case 0: // any int32, including negative ones
		case 1:
			mult = []int32{0, 1, math.MaxInt32, math.MinInt32, 1 << 30}[r.IntN(5)]
		default:
			mult = int32(1<<30 + r.IntN(1<<30)) // [2^30, 2^31), as QuantizeMultiplier gives
		}
		shift := r.IntN(62) - 31 // [-31, 30]
		if r.IntN(2) == 0 {
			shift = -r.IntN(16) // typical M < 1
		}
		got := MultiplyByQuantizedMultiplier(x, mult, shift)
		if want := refMultiply(x, mult, shift); got != want {
			t.Fatalf("MultiplyByQuantizedMultiplier(%d, %d, %d) = %d, exact reference %d", x, mult, shift, got, want)
		}
		tt := uint(31 - shift)
		lit := (int64(x)*int64(mult) + 1<<(tt-1)) >> tt
		if lit = max(math.MinInt32, min(math.MaxInt32, lit)); int64(got) != lit {
			t.Fatalf("MultiplyByQuantizedMultiplier(%d, %d, %d) = %d, TFLite formula %d", x, mult, shift, got, lit)
		}
		// x·mult needs up to 62 bits, beyond float64's 53: compare in big.Float instead.
		exact := new(big.Float).SetPrec(200).SetInt64(int64(x))
		exact.Mul(exact, new(big.Float).SetInt64(int64(mult)))
		exact.SetMantExp(exact, shift-31)
		if got == math.MaxInt32 || got == math.MinInt32 {
			continue
		}
		d := new(big.Float).Sub(exact, new(big.Float).SetInt64(int64(got)))
		if f, _ := d.Float64(); f < -0.5 || f >= 0.5 {
			t.Fatalf("MultiplyByQuantizedMultiplier(%d, %d, %d) = %d, x·M = %v", x, mult, shift, got, exact)
		}
	}
}
