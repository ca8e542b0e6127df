package autograd

import (
	"math"
	"math/rand"
	"testing"

	"tinyq/quant"
)

// TestFakeQuantFast checks fakeQuantFast (AVX-512 where available, then Go) against
// quant.FakeQuantize and quant.InRange bit for bit: per tensor (affine, zero point 3) and
// per channel along the last axis (symmetric), on lengths that are not multiples of 16, with
// ties (x/s = k + 0.5), ±0, small negatives that round to zero, and values far out of range.
func TestFakeQuantFast(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	value := func(s float32) float32 {
		switch rng.Intn(6) {
		case 0:
			return (float32(rng.Intn(40)-20) + 0.5) * s // a tie
		case 1:
			return float32(math.Copysign(0, float64(rng.Intn(2)-1)))
		case 2:
			return -float32(rng.Float64()) * 0.49 * s // rounds to -0 before clamping
		case 3:
			return float32(rng.NormFloat64()) * 1e4
		}
		return float32(rng.NormFloat64())
	}
	for _, chans := range []int{1, 10, 16, 37} {
		for _, rows := range []int{1, 3, 17} {
			var p quant.Params
			if chans == 1 {
				p = quant.Params{Scales: []float32{0.037}, ZeroPoints: []int32{3}, QMin: 0, QMax: 15, Axis: -1}
			} else {
				p = quant.Params{Scales: make([]float32, chans), ZeroPoints: make([]int32, chans), QMin: -7, QMax: 7, Axis: 1}
				for c := range p.Scales {
					p.Scales[c] = float32(0.01 + rng.Float64())
				}
			}
			x := make([]float32, rows*chans)
			for i := range x {
				x[i] = value(p.Scales[i%len(p.Scales)])
			}
			want := make([]float32, len(x))
			if err := quant.FakeQuantize(want, x, []int{rows, chans}, p); err != nil {
				t.Fatal(err)
			}
			op := &fakeQuantOp{p: p, shape: []int{rows, chans}, wantMask: true, mask: make([]uint32, len(x))}
			op.prepareFast()
			got := make([]float32, len(x))
			if !op.quantFast(x, got, 0, len(x)) {
				t.Fatalf("chans %d: fast path not taken", chans)
			}
			for i := range x {
				c := 0
				if chans > 1 {
					c = i % chans
				}
				in := quant.InRange(x[i], p.Scales[c], p.ZeroPoints[c], p.QMin, p.QMax)
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) || (op.mask[i] == keep) != in {
					t.Fatalf("chans %d rows %d: x[%d] = %v: fast %v (mask %x), quant %v (in range %v)", chans, rows, i, x[i], got[i], op.mask[i], want[i], in)
				}
			}
		}
	}
	// Non-finite input: the fast path declines, so quant.FakeQuantize reports the error.
	op := &fakeQuantOp{p: quant.Params{Scales: []float32{1}, ZeroPoints: []int32{0}, QMin: -7, QMax: 7, Axis: -1}, shape: []int{1, 20}}
	op.prepareFast()
	for _, at := range []int{3, 17} { // in a block of 16, and in the tail
		x := make([]float32, 20)
		x[at] = float32(math.Inf(1))
		if op.quantFast(x, make([]float32, 20), 0, 20) {
			t.Fatalf("fast path took a non-finite input at %d", at)
		}
	}
}

// TestRangeBlocks checks the AVX-512 per-column range (where available) against rangeRows'
// scalar loop bit for bit, with ±0, NaN and ±Inf among the values.
func TestRangeBlocks(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, chans := range []int{16, 37, 256} {
		rows := 9
		x := make([]float32, rows*chans)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
			if rng.Intn(50) == 0 {
				x[i] = specials[rng.Intn(len(specials))]
			}
		}
		mins, maxs := make([]float32, chans), make([]float32, chans)
		wmins, wmaxs := make([]float32, chans), make([]float32, chans)
		for c := range mins {
			mins[c], maxs[c] = x[c], x[c]
			wmins[c], wmaxs[c] = x[c], x[c]
		}
		done := rangeBlocks(x, rows, chans, mins, maxs)
		for o := range rows {
			for c := range chans {
				v := x[o*chans+c]
				if v < wmins[c] {
					wmins[c] = v
				}
				if v > wmaxs[c] {
					wmaxs[c] = v
				}
				if v-v != 0 {
					wmins[c] = v - v
				}
			}
		}
		for c := 0; c < done; c++ {
			if math.Float32bits(mins[c]) != math.Float32bits(wmins[c]) || math.Float32bits(maxs[c]) != math.Float32bits(wmaxs[c]) {
				t.Fatalf("chans %d column %d: range [%v, %v], want [%v, %v]", chans, c, mins[c], maxs[c], wmins[c], wmaxs[c])
			}
		}
	}
}

// TestRangeOf checks rangeOf against quant.RangeOf bit for bit: zeros of both signs first
// and later, all zeros, ±Inf and NaN, lengths around multiples of 16.
func TestRangeOf(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	negZero := float32(math.Copysign(0, -1))
	for _, n := range []int{1, 15, 16, 17, 33, 100, 784} {
		for trial := range 30 {
			x := make([]float32, n)
			for i := range x {
				switch rng.Intn(8) {
				case 0:
					x[i] = 0
				case 1:
					x[i] = negZero
				default:
					x[i] = float32(rng.NormFloat64())
					if trial%3 == 0 {
						x[i] = float32(math.Abs(float64(x[i]))) // min may be a zero
					} else if trial%3 == 1 {
						x[i] = -float32(math.Abs(float64(x[i]))) // max may be a zero
					}
				}
			}
			switch trial % 10 {
			case 7:
				x[rng.Intn(n)] = float32(math.Inf(1 - 2*rng.Intn(2)))
			case 8:
				x[rng.Intn(n)] = float32(math.NaN())
			case 9:
				for i := range x {
					x[i] = []float32{0, negZero}[rng.Intn(2)]
				}
			}
			lo, hi := rangeOf(x)
			wlo, whi := quant.RangeOf(x)
			if math.Float32bits(lo) != math.Float32bits(wlo) || math.Float32bits(hi) != math.Float32bits(whi) {
				t.Fatalf("n=%d trial %d: rangeOf [%v, %v], RangeOf [%v, %v]", n, trial, lo, hi, wlo, whi)
			}
		}
	}
}
