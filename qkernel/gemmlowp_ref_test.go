package qkernel

// gemmlowp's fixed-point requantization, kept as a test reference only. The runtime uses
// quant.MultiplyByQuantizedMultiplier, TFLite's single-rounding variant (see Requantize);
// gemmlowp's default rounds twice and differs from it by one on some inputs, as
// TestDoubleVersusSingleRounding documents.

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"tinyq/quant"
)

// saturatingRoundingDoublingHighMul returns the high 32 bits of 2*a*b, that is a*b/2^31,
// rounded to nearest with ties toward +infinity (despite its sign-dependent nudge, gemmlowp's
// formula amounts to floor((a*b + 2^30) / 2^31)), saturating the single overflowing case
// a == b == math.MinInt32 to math.MaxInt32. In real terms, with a and b read as Q0.31
// fixed-point numbers in [-1, 1), it is their product a*b, again in Q0.31.
//
// It is gemmlowp's fixedpoint.h SaturatingRoundingDoublingHighMul (the same as ARM's
// SQRDMULH instruction), bit for bit.
func saturatingRoundingDoublingHighMul(a, b int32) int32 {
	if a == b && a == math.MinInt32 {
		return math.MaxInt32
	}
	ab := int64(a) * int64(b)
	// gemmlowp's formula, kept literally: the division truncates toward zero (in C++ as in
	// Go), so a negative product gets the nudge 1-2^30 rather than 2^30.
	nudge := int64(1 << 30)
	if ab < 0 {
		nudge = 1 - (1 << 30)
	}
	return int32((ab + nudge) / (1 << 31))
}

// roundingDivideByPOT returns x / 2^exponent rounded to nearest, ties away from zero
// (so roundingDivideByPOT(5, 1) == 3 and roundingDivideByPOT(-5, 1) == -3), for exponent in
// [0, 31]. It is gemmlowp's fixedpoint.h RoundingDivideByPOT, bit for bit.
func roundingDivideByPOT(x int32, exponent int) int32 {
	mask := int32(int64(1)<<exponent - 1)
	remainder := x & mask
	threshold := mask >> 1
	if x < 0 {
		threshold++
	}
	q := x >> exponent // arithmetic shift: floor(x / 2^exponent)
	if remainder > threshold {
		q++
	}
	return q
}

// multiplyDoubleRounding is TFLite's default (double-rounding) MultiplyByQuantizedMultiplier
// (kernels/internal/common.h), bit for bit:
//
//	roundingDivideByPOT(saturatingRoundingDoublingHighMul(x * (1 << left), mult), right)
//
// with left = max(shift, 0) and right = max(-shift, 0), shift in [-31, 30]. As in C++ on
// two's-complement hardware, x << left wraps on overflow (TFLite leaves it undefined).
func multiplyDoubleRounding(x, mult int32, shift int) int32 {
	left, right := 0, 0
	if shift > 0 {
		left = shift
	} else {
		right = -shift
	}
	return roundingDivideByPOT(saturatingRoundingDoublingHighMul(x<<left, mult), right)
}

// requantizeDoubleRounding is what Requantize computed before tinyq chose single rounding:
// clamp(zpOut + multiplyDoubleRounding(acc + bias, mult, shift), qmin, qmax), the additions
// wrapping in int32 as in C++. mult and shift have one entry per channel or one for all.
func requantizeDoubleRounding(dst []uint8, acc []int32, batch, out int, bias, mult []int32, shift []int, zpOut, qmin, qmax int32) {
	for b := range batch {
		for o := range out {
			x := acc[b*out+o]
			if bias != nil {
				x += bias[o]
			}
			v := multiplyDoubleRounding(x, mult[min(o, len(mult)-1)], shift[min(o, len(shift)-1)]) + zpOut
			dst[b*out+o] = uint8(min(max(v, qmin), qmax))
		}
	}
}

// Expected values below are worked out by hand from the gemmlowp definitions:
// saturatingRoundingDoublingHighMul(a, b) = floor((a*b + 2^30) / 2^31) (ties up), and
// roundingDivideByPOT(x, e) = x / 2^e rounded to nearest, ties away from zero.
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
		if got := saturatingRoundingDoublingHighMul(tt.a, tt.b); got != tt.want {
			t.Errorf("saturatingRoundingDoublingHighMul(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := saturatingRoundingDoublingHighMul(tt.b, tt.a); got != tt.want {
			t.Errorf("saturatingRoundingDoublingHighMul(%d, %d) = %d, want %d (commuted)", tt.b, tt.a, got, tt.want)
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
		if got := roundingDivideByPOT(tt.x, tt.e); got != tt.want {
			t.Errorf("roundingDivideByPOT(%d, %d) = %d, want %d", tt.x, tt.e, got, tt.want)
		}
	}
}

// refDoubleRounding is multiplyDoubleRounding computed independently with big integers and
// explicit floor/round steps: first to nearest (ties up) of x*2^left*mult/2^31, then to
// nearest (ties away from zero) of that over 2^right.
func refDoubleRounding(x, mult int32, shift int) int32 {
	left, right := max(shift, 0), max(-shift, 0)
	xs := int32(int64(x) << left) // wraps like the int32 shift
	var h int64
	if xs == math.MinInt32 && mult == math.MinInt32 {
		h = math.MaxInt32
	} else {
		// floor((p + 2^30) / 2^31): big.Int.Rsh rounds toward -inf on negatives.
		p := new(big.Int).Mul(big.NewInt(int64(xs)), big.NewInt(int64(mult)))
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

func TestMultiplyDoubleRounding(t *testing.T) {
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
		if got := multiplyDoubleRounding(tt.x, tt.mult, tt.shift); got != tt.want {
			t.Errorf("multiplyDoubleRounding(%d, %d, %d) = %d, want %d", tt.x, tt.mult, tt.shift, got, tt.want)
		}
		if got := refDoubleRounding(tt.x, tt.mult, tt.shift); got != tt.want {
			t.Errorf("refDoubleRounding(%d, %d, %d) = %d, want %d", tt.x, tt.mult, tt.shift, got, tt.want)
		}
	}

	r := rand.New(rand.NewPCG(1, 1))
	n := 200000
	if testing.Short() {
		n = 20000
	}
	for range n {
		x, mult, shift := randMultiplyArgs(r)
		got := multiplyDoubleRounding(x, mult, shift)
		if want := refDoubleRounding(x, mult, shift); got != want {
			t.Fatalf("multiplyDoubleRounding(%d, %d, %d) = %d, exact reference %d", x, mult, shift, got, want)
		}
	}
}

// randMultiplyArgs returns arguments as the runtime sees them: mostly small accumulators,
// multipliers in [2^30, 2^31) (sometimes 0) and shifts in [-31, 30], mostly <= 0.
func randMultiplyArgs(r *rand.Rand) (x, mult int32, shift int) {
	x = int32(r.Uint32())
	switch r.IntN(4) {
	case 0:
		x >>= r.IntN(31)
	case 1:
		x = int32(r.IntN(1<<17) - 1<<16)
	}
	mult = int32(1<<30 + r.IntN(1<<30))
	if r.IntN(50) == 0 {
		mult = 0
	}
	shift = r.IntN(62) - 31
	if r.IntN(2) == 0 {
		shift = -r.IntN(16)
	}
	return x, mult, shift
}

// TestDoubleVersusSingleRounding documents where gemmlowp's double rounding and the single
// rounding of quant.MultiplyByQuantizedMultiplier differ. The single rounding is the exact
// x·M rounded half up; the double rounding first rounds x·mult/2^31 half up and then rounds
// that half away from zero, so it is off by one exactly when the first rounding creates (or
// moves past) a half for the second: for M = 0.25, x = 5 is 1.25, which single rounding
// makes 1 and double rounding makes 2 (2.5 -> 3, then 3/2 = 1.5 -> 2).
func TestDoubleVersusSingleRounding(t *testing.T) {
	for _, tt := range []struct {
		x, mult        int32
		shift          int
		single, double int32
	}{
		{5, 1 << 30, -1, 1, 2},    // 1.25: see above
		{-7, 1 << 30, -1, -2, -2}, // -1.75: both -2
		{-6, 1 << 30, -1, -1, -2}, // -1.5: single ties up to -1; double -3 -> -3/2 away from zero -> -2
		{6, 1 << 30, -1, 2, 2},    // 1.5: both 2
		// The package example's row 1, channel 1: 36975·M with M = 1077952576·2^-39 is
		// 72.49999998, so single rounding gives 72. Double rounding first rounds
		// 36975·1077952576/2^31 = 18559.999996 to 18560, which is 72.5·2^8: a half, which
		// the right shift by 8 rounds away from zero to 73.
		{36975, 1077952576, -8, 72, 73},
	} {
		if got := quant.MultiplyByQuantizedMultiplier(tt.x, tt.mult, tt.shift); got != tt.single {
			t.Errorf("single(%d, %d, %d) = %d, want %d", tt.x, tt.mult, tt.shift, got, tt.single)
		}
		if got := multiplyDoubleRounding(tt.x, tt.mult, tt.shift); got != tt.double {
			t.Errorf("double(%d, %d, %d) = %d, want %d", tt.x, tt.mult, tt.shift, got, tt.double)
		}
	}
	// The package example's accumulators through both requantizations: only row 1,
	// channel 1 differs, 72 (single) against 73 (double).
	acc := []int32{28700, -9244, -6375, 37485}
	single, double := make([]uint8, 4), make([]uint8, 4)
	bias, mult, shift := []int32{510, -510}, []int32{1077952576}, []int{-8}
	if err := Requantize(single, acc, 2, 2, bias, mult, shift, 0, 0, 255); err != nil {
		t.Fatal(err)
	}
	requantizeDoubleRounding(double, acc, 2, 2, bias, mult, shift, 0, 0, 255)
	if want := []uint8{57, 0, 0, 72}; !slices.Equal(single, want) {
		t.Errorf("Requantize: %v, want %v", single, want)
	}
	if want := []uint8{57, 0, 0, 73}; !slices.Equal(double, want) {
		t.Errorf("double rounding: %v, want %v", double, want)
	}

	// On random runtime-like arguments the two differ by at most one, and only on some.
	r := rand.New(rand.NewPCG(2, 2))
	const n = 100000
	differ := 0
	for range n {
		x, mult, shift := randMultiplyArgs(r)
		if shift > 0 && (int64(x)<<shift > math.MaxInt32 || int64(x)<<shift < math.MinInt32) {
			continue // the double-rounding left shift wraps
		}
		s, d := quant.MultiplyByQuantizedMultiplier(x, mult, shift), multiplyDoubleRounding(x, mult, shift)
		if s != d {
			differ++
			if s-d != 1 && d-s != 1 {
				t.Fatalf("(%d, %d, %d): single %d, double %d differ by more than 1", x, mult, shift, s, d)
			}
		}
	}
	t.Logf("single and double rounding differ on %d of %d random arguments", differ, n)
	if differ == 0 {
		t.Error("no difference found; the test arguments do not exercise double rounding")
	}
}
