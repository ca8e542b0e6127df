package qkernel

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// Expected values below are worked out by hand from the gemmlowp definitions:
// SaturatingRoundingDoublingHighMul(a, b) = floor((a*b + 2^30) / 2^31) (ties up), and
// RoundingDivideByPOT(x, e) = x / 2^e rounded to nearest, ties away from zero.
func TestSaturatingRoundingDoublingHighMul(t *testing.T) {
	const minI, maxI = math.MinInt32, math.MaxInt32
	tests := []struct{ a, b, want int32 }{
		{minI, minI, maxI},          // the one overflow: 2*2^62/2^32 = 2^31 saturates
		{maxI, maxI, 2147483646},    // (2^31-1)^2/2^31 = 2^31 - 2 + 1/2^31
		{minI, maxI, -2147483647},   // -2^31*(2^31-1)/2^31 exactly
		{minI, 1, -1},               // -2^31/2^31 exactly
		{minI, -1, 1},               // 2^31/2^31 exactly
		{1 << 30, 1 << 30, 1 << 29}, // 0.5*0.5 = 0.25 in Q0.31
		{1, 1 << 30, 1},             // 0.5 rounds up to 1
		{-1, 1 << 30, 0},            // -0.5 rounds up to 0 (ties toward +inf)
		{3, 1 << 30, 2},             // 1.5 -> 2
		{-3, 1 << 30, -1},           // -1.5 -> -1
		{5, 1 << 29, 1},             // 1.25 -> 1
		{-5, 1 << 29, -1},           // -1.25 -> -1
		{7, 1 << 29, 2},             // 1.75 -> 2
		{-7, 1 << 29, -2},           // -1.75 -> -2
		{0, maxI, 0},
		{1000, 1518500250, 707}, // 1000*0.7071067812 = 707.1067... -> 707
	}
	for _, tt := range tests {
		if got := SaturatingRoundingDoublingHighMul(tt.a, tt.b); got != tt.want {
			t.Errorf("SaturatingRoundingDoublingHighMul(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := SaturatingRoundingDoublingHighMul(tt.b, tt.a); got != tt.want {
			t.Errorf("SaturatingRoundingDoublingHighMul(%d, %d) = %d, want %d (commuted)", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestRoundingDivideByPOT(t *testing.T) {
	tests := []struct {
		x    int32
		e    int
		want int32
	}{
		{5, 1, 3}, {-5, 1, -3}, // 2.5 -> 3, -2.5 -> -3: ties away from zero
		{4, 1, 2}, {-4, 1, -2},
		{1, 1, 1}, {-1, 1, -1}, // +-0.5
		{6, 2, 2}, {-6, 2, -2}, // +-1.5
		{5, 2, 1}, {-5, 2, -1}, // +-1.25
		{7, 2, 2}, {-7, 2, -2}, // +-1.75
		{12345, 0, 12345}, {-12345, 0, -12345},
		{math.MaxInt32, 31, 1},  // 0.99999...
		{math.MinInt32, 31, -1}, // exactly -1
		{math.MinInt32, 30, -2},
		{math.MaxInt32, 1, 1 << 30}, // 2^30 - 0.5 -> 2^30
		{-1, 31, 0},
		{1 << 30, 31, 1}, {-(1 << 30), 31, -1}, // +-0.5
	}
	for _, tt := range tests {
		if got := RoundingDivideByPOT(tt.x, tt.e); got != tt.want {
			t.Errorf("RoundingDivideByPOT(%d, %d) = %d, want %d", tt.x, tt.e, got, tt.want)
		}
	}
	for _, e := range []int{-1, 32} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RoundingDivideByPOT(1, %d) did not panic", e)
				}
			}()
			RoundingDivideByPOT(1, e)
		}()
	}
}

// refMBQM is MultiplyByQuantizedMultiplier computed independently with big integers and
// explicit floor/round steps: the TFLite double rounding, first to nearest (ties up) of
// x*2^left*mult/2^31, then to nearest (ties away from zero) of that over 2^right.
func refMBQM(x, mult int32, shift int) int32 {
	left, right := max(shift, 0), max(-shift, 0)
	xs := int32(int64(x) << left) // wraps like the int32 shift
	p := new(big.Int).Mul(big.NewInt(int64(xs)), big.NewInt(int64(mult)))
	if xs == math.MinInt32 && mult == math.MinInt32 {
		p = nil
	}
	var h int64
	if p == nil {
		h = math.MaxInt32
	} else {
		// floor((p + 2^30) / 2^31): big.Int.Rsh rounds toward -inf on negatives.
		p.Add(p, big.NewInt(1<<30))
		h = p.Rsh(p, 31).Int64()
	}
	if right == 0 {
		return int32(h)
	}
	d := int64(1) << right
	q, r := h/d, h%d     // truncated
	if 2*abs64(r) >= d { // |remainder| >= half: away from zero
		if h < 0 {
			q--
		} else {
			q++
		}
	}
	return int32(q)
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestMultiplyByQuantizedMultiplier(t *testing.T) {
	tests := []struct {
		x, mult int32
		shift   int
		want    int32
	}{
		{100, 1 << 30, 0, 50}, // M = 0.5
		{5, 1 << 30, 0, 3},    // 2.5 -> 3
		{-5, 1 << 30, 0, -2},  // -2.5 -> -2 (first rounding is half up)
		{5, 1 << 30, -1, 2},   // 5*0.25 = 1.25, but double rounding: 2.5 -> 3, 3/2 -> 2
		{-5, 1 << 30, -1, -1}, // -1.25: -2.5 -> -2, -2/2 -> -1
		{3, 1 << 30, 2, 6},    // M = 2: left shift first
		{1000, 0, -3, 0},      // mult 0
		{1 << 20, 1 << 30, -31, 0},
		{math.MaxInt32, math.MaxInt32, 0, 2147483646},
		{200000, 1518500250, -8, 552}, // 200000 * 0.70710678/256 = 552.4271
	}
	for _, tt := range tests {
		if got := MultiplyByQuantizedMultiplier(tt.x, tt.mult, tt.shift); got != tt.want {
			t.Errorf("MultiplyByQuantizedMultiplier(%d, %d, %d) = %d, want %d", tt.x, tt.mult, tt.shift, got, tt.want)
		}
		if got := refMBQM(tt.x, tt.mult, tt.shift); got != tt.want {
			t.Errorf("refMBQM(%d, %d, %d) = %d, want %d", tt.x, tt.mult, tt.shift, got, tt.want)
		}
	}

	r := rand.New(rand.NewPCG(1, 1))
	const n = 200000
	for range n {
		x := int32(r.Uint32())
		switch r.IntN(4) { // accumulators are mostly small
		case 0:
			x >>= r.IntN(31)
		case 1:
			x = int32(r.IntN(1<<17) - 1<<16)
		}
		mult := int32(1<<30 + r.IntN(1<<30)) // [2^30, 2^31)
		if r.IntN(50) == 0 {
			mult = 0
		}
		shift := r.IntN(62) - 31 // [-31, 30]
		if r.IntN(2) == 0 {
			shift = -r.IntN(16) // typical M < 1
		}
		got := MultiplyByQuantizedMultiplier(x, mult, shift)
		if want := refMBQM(x, mult, shift); got != want {
			t.Fatalf("MultiplyByQuantizedMultiplier(%d, %d, %d) = %d, exact reference %d", x, mult, shift, got, want)
		}
		// Against real arithmetic: within 1 of x*M when x*2^shift does not wrap and the result
		// does not saturate. The 1 is the double rounding (each rounding is within 1/2).
		exact := float64(x) * float64(mult) * math.Pow(2, float64(shift-31))
		if shift > 0 && (int64(x)<<shift > math.MaxInt32 || int64(x)<<shift < math.MinInt32) {
			continue
		}
		if math.Abs(float64(got)-exact) > 1 {
			t.Fatalf("MultiplyByQuantizedMultiplier(%d, %d, %d) = %d, real value %g", x, mult, shift, got, exact)
		}
	}
}
