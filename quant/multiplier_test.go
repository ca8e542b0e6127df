package quant

import (
	"math"
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
