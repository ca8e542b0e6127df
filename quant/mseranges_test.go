package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestMSERanges: per channel, MSERanges clips a channel with an outlier (and lowers its
// squared rounding error below min/max's), keeps the full range of a channel whose values
// already sit on its min/max grid (error 0 there; ties go to the wider range), equals the
// per-tensor result of each channel taken alone, never searches outside the channel's own
// range, and leaves x as it was.
func TestMSERanges(t *testing.T) {
	const in, out = 1024, 3
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, in*out) // [in, out], channels along axis 1
	for r := range in {
		x[r*out+0] = float32(rng.NormFloat64()) * 0.1 // Gaussian with one outlier
		x[r*out+1] = float32(r%15-7) * 0.25           // exactly the 4-bit grid of ±1.75
		x[r*out+2] = float32(rng.NormFloat64())       // plain Gaussian
	}
	x[5*out+0] = 0.6 // the outlier: 6 standard deviations
	orig := slices.Clone(x)
	spec := Spec{Bits: 4, Scheme: Symmetric, Granularity: PerChannel, Axis: 1}
	mins, maxs, err := MSERanges(x, []int{in, out}, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x, orig) {
		t.Fatal("input modified")
	}
	mmMins, mmMaxs, err := MinMax(x, []int{in, out}, spec)
	if err != nil {
		t.Fatal(err)
	}
	channel := func(c int) []float32 {
		v := make([]float32, in)
		for r := range in {
			v[r] = x[r*out+c]
		}
		return v
	}
	perTensor := Spec{Bits: 4, Scheme: Symmetric, Granularity: PerTensor}
	for c := range out {
		v := channel(c)
		lo, hi, err := MSERanges(v, []int{in}, perTensor)
		if err != nil {
			t.Fatal(err)
		}
		if lo[0] != mins[c] || hi[0] != maxs[c] {
			t.Errorf("channel %d: per channel [%v, %v], alone [%v, %v]", c, mins[c], maxs[c], lo[0], hi[0])
		}
		if mins[c] != -maxs[c] || maxs[c] <= 0 || maxs[c] > max(-mmMins[c], mmMaxs[c]) {
			t.Errorf("channel %d: range [%v, %v], want symmetric within ±max|x| = %v", c, mins[c], maxs[c], max(-mmMins[c], mmMaxs[c]))
		}
		pc, err := ChooseParams(perTensor, []float32{mins[c]}, []float32{maxs[c]})
		if err != nil {
			t.Fatal(err)
		}
		pm, err := ChooseParams(perTensor, []float32{mmMins[c]}, []float32{mmMaxs[c]})
		if err != nil {
			t.Fatal(err)
		}
		e, em := mse(t, v, pc), mse(t, v, pm)
		switch c {
		case 0:
			t.Logf("outlier channel: clip %v (max %v), error %g (min/max %g)", maxs[c], mmMaxs[c], e, em)
			if !(maxs[c] < 0.75*mmMaxs[c]) || !(e < 0.6*em) {
				t.Errorf("outlier channel: clip %v (max %v), error %g (min/max %g); want the clip below 3/4 of the max and the error below 0.6 of min/max's", maxs[c], mmMaxs[c], e, em)
			}
		case 1:
			if maxs[c] != 1.75 || e != 0 {
				t.Errorf("grid channel: range ±%v, error %g; want ±1.75 exactly, error 0", maxs[c], e)
			}
		case 2:
			t.Logf("Gaussian channel: clip %v (max %v), error %g (min/max %g)", maxs[c], mmMaxs[c], e, em)
			if e > em {
				t.Errorf("Gaussian channel: error %g above min/max's %g", e, em)
			}
		}
	}
	// Errors are MinMax's.
	x[7] = float32(math.NaN())
	if _, _, err := MSERanges(x, []int{in, out}, spec); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("NaN: error %v, want one naming the NaN", err)
	}
	if _, _, err := MSERanges(x[:10], []int{in, out}, spec); err == nil {
		t.Error("wrong shape: no error")
	}
	// An all-zero channel keeps MinMax's empty range.
	lo, hi, err := MSERanges(make([]float32, 8), []int{8}, perTensor)
	if err != nil || lo[0] != 0 || hi[0] != 0 {
		t.Errorf("zeros: [%v, %v], %v; want [0, 0]", lo, hi, err)
	}
}
