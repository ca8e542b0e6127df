package qkernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"tinyq/quant"
)

// eachPath runs f once for every path this CPU and build support, with active set to it,
// and restores active afterwards. The generic path is first: it is the reference.
func eachPath(t testing.TB, f func(p Path)) {
	t.Helper()
	saved := active
	defer func() { active = saved }()
	for _, p := range Supported() {
		active = p
		f(p)
	}
}

// sameFloat reports whether a and b have the same bits, or are both NaN (the payload of a
// NaN produced by arithmetic depends on the operand order the compiler picks).
func sameFloat(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
}

var (
	nan32  = float32(math.NaN())
	inf32  = float32(math.Inf(1))
	ninf32 = float32(math.Inf(-1))
	negz32 = float32(math.Copysign(0, -1))
	denorm = math.Float32frombits(1) // the smallest positive float32, 2^-149
)

// randFloats returns n floats of the magnitude around mag, mixed with ties (k+1/2)*mag when
// mag is a power of two, zeros of both signs, denormals and values far beyond mag.
func randFloats(r *rand.Rand, n int, mag float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		switch r.IntN(10) {
		case 0:
			x[i] = (float32(r.IntN(600)-300) + 0.5) * mag // a tie of x/mag when exact
		case 1:
			x[i] = []float32{0, negz32, denorm, -denorm, 1e-40, maxFloat32, -maxFloat32, 1e20, -3e9}[r.IntN(9)]
		case 2:
			x[i] = float32(r.NormFloat64()) * mag * 1e4 // mostly beyond the clamp range
		default:
			x[i] = float32(r.NormFloat64()) * mag * 100
		}
		if x[i]-x[i] != 0 { // overflowed: NaN and ±Inf are tested apart
			x[i] = maxFloat32
		}
	}
	return x
}

func TestQuantizeInputPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	scales := []float32{1, 1.0 / 255, 0.0039215686, 0.5, 0x1p-10, 1e-38, denorm, 1e38, maxFloat32}
	type params struct{ zp, qmin, qmax int32 }
	ps := []params{{0, 0, 255}, {128, 0, 255}, {255, 0, 255}, {0, 0, 0}, {255, 255, 255}, {7, 7, 15},
		{-(1 << 24) + 1, 0, 255}, {1 << 24, 0, 255}, {1<<24 + 255, 0, 255}, // just at and beyond the exact-float bounds
		{math.MaxInt32, 0, 255}, {math.MinInt32, 3, 200}, {-1000, 0, 255}}
	for iter := range 600 {
		n := iter % 301
		scale := scales[r.IntN(len(scales))]
		if r.IntN(3) == 0 {
			scale = float32(math.Exp(r.NormFloat64() * 5))
		}
		p := ps[r.IntN(len(ps))]
		if r.IntN(2) == 0 {
			p.zp = int32(r.IntN(256))
			p.qmin = int32(r.IntN(256))
			p.qmax = p.qmin + int32(r.IntN(256-int(p.qmin)))
		}
		x := randFloats(r, n, scale)
		x0 := slices.Clone(x)
		want := make([]uint8, n+5)
		if err := quant.QuantizeUint8(want, x, scale, p.zp, p.qmin, p.qmax); err != nil {
			t.Fatal(err)
		}
		eachPath(t, func(path Path) {
			got := make([]uint8, n+5)
			for k := range got {
				got[k] = 0xA5 // beyond len(x), must stay
			}
			if err := QuantizeInput(got, x, scale, p.zp, p.qmin, p.qmax); err != nil {
				t.Fatalf("%v: %v", path, err)
			}
			for k := range n {
				if got[k] != want[k] {
					t.Fatalf("%v: n %d scale %g %+v: x[%d] = %g: got %d, want %d", path, n, scale, p, k, x[k], got[k], want[k])
				}
			}
			for k := n; k < len(got); k++ {
				if got[k] != 0xA5 {
					t.Fatalf("%v: n %d: dst[%d] written", path, n, k)
				}
			}
		})
		if !slices.Equal(x, x0) {
			t.Fatal("x modified")
		}
	}
}

// TestQuantizeInputTies: x = (k + 1/2)*scale for a power-of-two scale is an exact tie,
// rounded to even, on every path and at every position of a block.
func TestQuantizeInputTies(t *testing.T) {
	x := make([]float32, 259)
	for k := range x {
		x[k] = (float32(k%40-20) + 0.5) * 0x1p-7
	}
	want := make([]uint8, len(x))
	if err := quant.QuantizeUint8(want, x, 0x1p-7, 20, 0, 255); err != nil {
		t.Fatal(err)
	}
	// -19.5 -> -20 (even) -> 0; -18.5 -> -18 -> 2; 0.5 -> 0 -> 20; 1.5 -> 2 -> 22.
	if want[0] != 0 || want[1] != 2 || want[20] != 20 || want[21] != 22 {
		t.Fatalf("reference ties: %v", want[:22])
	}
	eachPath(t, func(p Path) {
		got := make([]uint8, len(x))
		if err := QuantizeInput(got, x, 0x1p-7, 20, 0, 255); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%v: ties differ", p)
		}
	})
}

func TestQuantizeInputNonFinite(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	for iter := range 300 {
		n := 1 + iter%200
		x := randFloats(r, n, 0.01)
		bad := r.IntN(n)
		x[bad] = []float32{nan32, inf32, ninf32, math.Float32frombits(0x7fc00123)}[r.IntN(4)]
		if r.IntN(3) == 0 { // a second one after it
			x[bad+r.IntN(n-bad)] = nan32
		}
		want := quant.QuantizeUint8(make([]uint8, n), x, 0.01, 3, 0, 255)
		eachPath(t, func(p Path) {
			dst := make([]uint8, n)
			err := QuantizeInput(dst, x, 0.01, 3, 0, 255)
			var nf *quant.NonFiniteError
			if !errors.As(err, &nf) || nf.Index != bad || err.Error() != want.Error() {
				t.Fatalf("%v: n %d, bad %d: err = %v, want %v", p, n, bad, err, want)
			}
		})
	}
}

func TestQuantizeInputErrors(t *testing.T) {
	x := []float32{1, 2, 3}
	tests := []struct {
		name           string
		dst            []uint8
		scale          float32
		zp, qmin, qmax int32
		want           string
	}{
		{"short dst", make([]uint8, 2), 1, 0, 0, 255, "len(dst) = 2 < len(x) = 3"},
		{"qmin < 0", make([]uint8, 3), 1, 0, -1, 255, "range [-1, 255]"},
		{"qmax > 255", make([]uint8, 3), 1, 0, 0, 256, "range [0, 256]"},
		{"qmin > qmax", make([]uint8, 3), 1, 0, 9, 8, "range [9, 8]"},
		{"zero scale", make([]uint8, 3), 0, 0, 0, 255, "scale 0"},
		{"negative scale", make([]uint8, 3), -1, 0, 0, 255, "scale -1"},
		{"NaN scale", make([]uint8, 3), nan32, 0, 0, 255, "scale NaN"},
		{"Inf scale", make([]uint8, 3), inf32, 0, 0, 255, "scale +Inf"},
	}
	for _, tt := range tests {
		eachPath(t, func(p Path) {
			err := QuantizeInput(tt.dst, x, tt.scale, tt.zp, tt.qmin, tt.qmax)
			if err == nil || !strings.HasPrefix(err.Error(), "qkernel: QuantizeInput: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%v: %s: err = %v, want qkernel: ...%s...", p, tt.name, err, tt.want)
			}
		})
	}
}

func TestRowRangePaths(t *testing.T) {
	r := rand.New(rand.NewPCG(35, 36))
	check := func(x []float32) {
		t.Helper()
		wlo, whi := quant.RangeOf(x)
		eachPath(t, func(p Path) {
			lo, hi := RowRange(x)
			// Bit for bit, NaN payloads and zero signs included.
			if math.Float32bits(lo) != math.Float32bits(wlo) || math.Float32bits(hi) != math.Float32bits(whi) {
				t.Fatalf("%v: len %d: got (%v, %v) bits %#x %#x, want (%v, %v) bits %#x %#x", p, len(x),
					lo, hi, math.Float32bits(lo), math.Float32bits(hi), wlo, whi, math.Float32bits(wlo), math.Float32bits(whi))
			}
		})
	}
	check(nil)
	check([]float32{negz32})
	check([]float32{0, negz32})
	check([]float32{negz32, 0})
	check([]float32{inf32})
	check([]float32{ninf32, ninf32})
	for iter := range 1500 {
		n := iter % 301
		x := randFloats(r, n, 1)
		switch r.IntN(6) {
		case 0: // ReLU-like: min is a zero of either sign, somewhere
			for k := range x {
				x[k] = max(x[k], 0)
				if r.IntN(50) == 0 {
					x[k] = negz32
				}
			}
		case 1: // all zeros of mixed signs: both bounds are the first zero
			for k := range x {
				x[k] = []float32{0, negz32}[r.IntN(2)]
			}
		case 2:
			if n > 0 {
				x[r.IntN(n)] = []float32{inf32, ninf32}[r.IntN(2)]
			}
		case 3:
			if n > 0 {
				x[r.IntN(n)] = math.Float32frombits(0x7fc00000 | uint32(r.IntN(1000)))
				x[r.IntN(n)] = math.Float32frombits(0xffc00000 | uint32(r.IntN(1000)))
			}
		case 4: // denormals only
			for k := range x {
				x[k] = math.Float32frombits(uint32(r.IntN(1 << 23)))
				if r.IntN(2) == 0 {
					x[k] = -x[k]
				}
			}
		}
		x0 := slices.Clone(x)
		check(x)
		if !slices.EqualFunc(x, x0, sameFloat) {
			t.Fatal("x modified")
		}
	}
}

// refDequantize is Dequantize's rule, element by element.
func refDequantize(q int32, rs, ws, b float32, relu bool) float32 {
	s := rs * ws
	v := float32(float32(q)*s) + b
	if relu {
		v = max(v, 0)
	}
	return v
}

// randAcc returns n accumulators: small, large, and near the int32 limits.
func randAcc(r *rand.Rand, n int) []int32 {
	a := make([]int32, n)
	for k := range a {
		switch r.IntN(5) {
		case 0:
			a[k] = int32(r.Uint32())
		case 1:
			a[k] = []int32{math.MinInt32, math.MinInt32 + 1, math.MaxInt32, math.MaxInt32 - 1, 0, -1, 1, 1<<24 + 1, -(1<<25 + 2)}[r.IntN(9)]
		default:
			a[k] = int32(r.IntN(1<<20) - 1<<19)
		}
	}
	return a
}

func TestDequantizePaths(t *testing.T) {
	r := rand.New(rand.NewPCG(37, 38))
	special := []float32{0, negz32, denorm, 1e-30, 1e30, maxFloat32, inf32, nan32, -1}
	for iter := range 400 {
		rows, out := r.IntN(7), 1+r.IntN(70)
		if iter%50 == 0 {
			rows, out = 3, 256+r.IntN(40)
		}
		acc := randAcc(r, rows*out)
		rowScale := make([]float32, rows)
		for k := range rowScale {
			rowScale[k] = float32(math.Exp(r.NormFloat64() * 3))
			if r.IntN(10) == 0 {
				rowScale[k] = special[r.IntN(len(special))]
			}
		}
		nw := out
		if r.IntN(3) == 0 {
			nw = 1
		}
		wScale := make([]float32, nw)
		for k := range wScale {
			wScale[k] = float32(math.Exp(r.NormFloat64()*3 - 5))
			if r.IntN(10) == 0 {
				wScale[k] = special[r.IntN(len(special))]
			}
		}
		bias := make([]float32, out)
		for k := range bias {
			bias[k] = float32(r.NormFloat64())
			if r.IntN(5) == 0 {
				bias[k] = special[r.IntN(len(special))]
			}
		}
		relu := r.IntN(2) == 0
		in0 := [][]float32{slices.Clone(rowScale), slices.Clone(wScale), slices.Clone(bias)}
		acc0 := slices.Clone(acc)
		eachPath(t, func(p Path) {
			got := make([]float32, rows*out)
			if err := Dequantize(got, acc, rows, out, rowScale, wScale, bias, relu); err != nil {
				t.Fatal(err)
			}
			for rr := range rows {
				for o := range out {
					want := refDequantize(acc[rr*out+o], rowScale[rr], wScale[min(o, nw-1)], bias[o], relu)
					if g := got[rr*out+o]; !sameFloat(g, want) {
						t.Fatalf("%v: [%d, %d] of [%d, %d] relu %v: got %v (%#x), want %v (%#x)", p, rr, o, rows, out, relu,
							g, math.Float32bits(g), want, math.Float32bits(want))
					}
				}
			}
		})
		if !slices.Equal(acc, acc0) || !slices.EqualFunc(rowScale, in0[0], sameFloat) ||
			!slices.EqualFunc(wScale, in0[1], sameFloat) || !slices.EqualFunc(bias, in0[2], sameFloat) {
			t.Fatal("an input was modified")
		}
	}
}

// TestReLUZeros: the fused ReLU is Go's max(v, 0) on every path: -0 and negatives give +0,
// NaN stays NaN.
func TestReLUZeros(t *testing.T) {
	// acc 0 times a positive scale plus bias -0 is -0; acc -1 gives a negative; scale +Inf
	// with acc 0 gives NaN.
	acc := []int32{0, -1, 0, 5, 0, -1, 0, 5, 0}
	rowScale := []float32{1}
	wScale := []float32{1, 1, inf32, 1, 1, 1, inf32, 1, 1}
	bias := []float32{negz32, 0, 0, 0, negz32, 0, 0, 0, negz32}
	eachPath(t, func(p Path) {
		got := make([]float32, len(acc))
		if err := Dequantize(got, acc, 1, len(acc), rowScale, wScale, bias, true); err != nil {
			t.Fatal(err)
		}
		for k, v := range got {
			switch {
			case k%4 == 2 && v == v:
				t.Errorf("%v: dst[%d] = %v, want NaN", p, k, v)
			case k%4 != 2 && k%4 != 3 && math.Float32bits(v) != 0:
				t.Errorf("%v: dst[%d] = %v (bits %#x), want +0", p, k, v, math.Float32bits(v))
			}
		}
		lg := make([]float32, 9)
		if err := Logits(lg, []int32{0, 3, 0, 0, 0, 0, 0, 0, 0}, 1, 9, make([]int32, 9), []float32{-1}, true); err != nil {
			t.Fatal(err)
		}
		for k, v := range lg { // 0 * -1 = -0 and 3 * -1 = -3 give +0
			if math.Float32bits(v) != 0 {
				t.Errorf("%v: logits[%d] = %v (bits %#x), want +0", p, k, v, math.Float32bits(v))
			}
		}
	})
}

// refLogits is Logits' rule, element by element.
func refLogits(q, b int32, s float32, relu bool) float32 {
	v := float32(int64(q)+int64(b)) * s
	if relu {
		v = max(v, 0)
	}
	return v
}

func TestLogitsPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(39, 40))
	for range 400 {
		rows, out := r.IntN(7), 1+r.IntN(40)
		acc := randAcc(r, rows*out)
		bias := randAcc(r, out)
		ns := out
		if r.IntN(3) == 0 {
			ns = 1
		}
		scale := make([]float32, ns)
		for k := range scale {
			scale[k] = float32(math.Exp(r.NormFloat64() * 3))
			if r.IntN(10) == 0 {
				scale[k] = []float32{0, negz32, -1, denorm, inf32, nan32}[r.IntN(6)]
			}
		}
		relu := r.IntN(2) == 0
		eachPath(t, func(p Path) {
			got := make([]float32, rows*out)
			if err := Logits(got, acc, rows, out, bias, scale, relu); err != nil {
				t.Fatal(err)
			}
			for rr := range rows {
				for o := range out {
					want := refLogits(acc[rr*out+o], bias[o], scale[min(o, ns-1)], relu)
					if g := got[rr*out+o]; !sameFloat(g, want) {
						t.Fatalf("%v: [%d, %d]: acc %d bias %d: got %v, want %v", p, rr, o, acc[rr*out+o], bias[o], g, want)
					}
				}
			}
		})
	}
}

// TestLogitsRounding: sums that need rounding to float32, including exact ties (2^25 + 2 lies
// halfway between 2^25 and 2^25 + 4, and goes to the even 2^25), and sums beyond int32.
func TestLogitsRounding(t *testing.T) {
	acc := []int32{1 << 25, 1<<25 + 6, 1<<24 + 1, math.MaxInt32, math.MinInt32, -(1 << 25), 16777217, 3, 0}
	bias := []int32{2, 0, 0, math.MaxInt32, math.MinInt32, -2, 0, 0, 0}
	want := []float32{1 << 25, 1<<25 + 8, 1 << 24, 1 << 32, -(1 << 32), -(1 << 25), 1 << 24, 3, 0}
	eachPath(t, func(p Path) {
		got := make([]float32, len(acc))
		if err := Logits(got, acc, 1, len(acc), bias, []float32{1}, false); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%v: got %v, want %v", p, got, want)
		}
	})
}

func TestRowFunctionErrors(t *testing.T) {
	f6, i6 := make([]float32, 6), make([]int32, 6)
	f3, f2, i3 := make([]float32, 3), make([]float32, 2), make([]int32, 3)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"dq bad out", Dequantize(f6, i6, 2, 0, f2, f3, f3, false), "bad shape rows 2, out 0"},
		{"dq bad rows", Dequantize(f6, i6, -1, 3, f2, f3, f3, false), "bad shape"},
		{"dq acc", Dequantize(f6, i6[:5], 2, 3, f2, f3, f3, false), "len(acc) = 5"},
		{"dq dst", Dequantize(f6[:4], i6, 2, 3, f2, f3, f3, false), "len(dst) = 4"},
		{"dq rowScale", Dequantize(f6, i6, 2, 3, f3, f3, f3, false), "len(rowScale) = 3"},
		{"dq wScale", Dequantize(f6, i6, 2, 3, f2, f2, f3, false), "len(wScale) = 2"},
		{"dq wScale nil", Dequantize(f6, i6, 2, 3, f2, nil, f3, false), "len(wScale) = 0"},
		{"dq bias", Dequantize(f6, i6, 2, 3, f2, f3, f2, false), "len(bias) = 2"},
		{"dq bias nil", Dequantize(f6, i6, 2, 3, f2, f3, nil, false), "len(bias) = 0"},
		{"dq huge", Dequantize(nil, nil, 1<<30, 1<<10, nil, f3, f3, false), "too large"},
		{"lg bad out", Logits(f6, i6, 2, -3, i3, f3, false), "bad shape"},
		{"lg acc", Logits(f6, i6[:5], 2, 3, i3, f3, false), "len(acc) = 5"},
		{"lg dst", Logits(f6[:5], i6, 2, 3, i3, f3, false), "len(dst) = 5"},
		{"lg bias", Logits(f6, i6, 2, 3, i6, f3, false), "len(bias) = 6"},
		{"lg scale", Logits(f6, i6, 2, 3, i3, f2, false), "len(logitScale) = 2"},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.HasPrefix(tt.err.Error(), "qkernel: ") || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want qkernel: ...%s...", tt.name, tt.err, tt.want)
		}
	}
	// Empty batches are fine.
	if err := Dequantize(nil, nil, 0, 3, nil, f3, f3, true); err != nil {
		t.Error(err)
	}
	if err := Logits(nil, nil, 0, 3, i3, f3, true); err != nil {
		t.Error(err)
	}
}

// randRequant returns random Requantize arguments for [batch, out], extremes included.
func randRequant(r *rand.Rand, batch, out int) (acc, bias, mult []int32, shift []int, zp, qmin, qmax int32) {
	acc = randAcc(r, batch*out)
	nq := out
	if r.IntN(3) == 0 {
		nq = 1
	}
	mult, shift = make([]int32, nq), make([]int, nq)
	for k := range mult {
		mult[k] = int32(1<<30 + r.IntN(1<<30))
		if r.IntN(8) == 0 {
			mult[k] = []int32{0, 1, 1 << 30, math.MaxInt32}[r.IntN(4)]
		}
		shift[k] = -r.IntN(32)
		if r.IntN(4) == 0 {
			shift[k] = r.IntN(31)
		}
	}
	if r.IntN(4) > 0 {
		bias = make([]int32, out)
		for k := range bias {
			bias[k] = int32(r.Uint32()) >> r.IntN(32)
			if r.IntN(10) == 0 {
				bias[k] = []int32{math.MinInt32, math.MaxInt32}[r.IntN(2)]
			}
		}
	}
	zp = int32(r.IntN(256))
	qmin = int32(r.IntN(256))
	qmax = qmin + int32(r.IntN(256-int(qmin)))
	if r.IntN(3) == 0 {
		qmin, qmax = 0, 255
	}
	return
}

func TestRequantizePaths(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for iter := range 500 {
		batch, out := r.IntN(9), 1+r.IntN(300)
		switch iter % 100 {
		case 0:
			batch, out = 150, 256 // parallel
		case 1:
			batch, out = 70, 513 // parallel, three column strips
		case 2:
			batch, out = 2, 257
		}
		acc, bias, mult, shift, zp, qmin, qmax := randRequant(r, batch, out)
		want := make([]uint8, batch*out)
		saved := active
		active = Generic
		err := Requantize(want, acc, batch, out, bias, mult, shift, zp, qmin, qmax)
		active = saved
		if err != nil {
			t.Fatal(err)
		}
		acc0 := slices.Clone(acc)
		eachPath(t, func(p Path) {
			got := make([]uint8, batch*out)
			if err := Requantize(got, acc, batch, out, bias, mult, shift, zp, qmin, qmax); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				for k := range got {
					if got[k] != want[k] {
						o := k % out
						t.Fatalf("%v: [%d, %d] of [%d, %d]: acc %d mult %d shift %d: got %d, want %d", p, k/out, o, batch, out,
							acc[k], mult[min(o, len(mult)-1)], shift[min(o, len(shift)-1)], got[k], want[k])
					}
				}
			}
		})
		if !slices.Equal(acc, acc0) {
			t.Fatal("acc modified")
		}
	}
}

// TestRequantizeEveryPath runs the requantization tests above on every supported path.
func TestRequantizeEveryPath(t *testing.T) {
	eachPath(t, func(p Path) {
		t.Run(p.String(), func(t *testing.T) {
			TestRequantizeHandMade(t)
			TestRequantizeMatchesQuant(t)
			TestRequantizeEqualsQuantEdges(t)
			TestRequantizeErrors(t)
		})
	})
}

// TestElementwiseNoAlloc: the stages allocate nothing at steady state (below Requantize's
// parallel threshold, which starts goroutines).
func TestElementwiseNoAlloc(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	const rows, out = 4, 100
	x := randFloats(r, 999, 0.01)
	q := make([]uint8, len(x))
	acc, bias, mult, shift, zp, qmin, qmax := randRequant(r, rows, out)
	dq := make([]float32, rows*out)
	q8 := make([]uint8, rows*out)
	ones := []float32{1, 1, 1, 1}
	fb := make([]float32, out)
	eachPath(t, func(p Path) {
		allocs := testing.AllocsPerRun(20, func() {
			_ = QuantizeInput(q, x, 0.01, 3, 0, 255)
			RowRange(x)
			_ = Dequantize(dq, acc, rows, out, ones, fb, fb, true)
			_ = Logits(dq, acc, rows, out, acc[:out], fb, false)
			if p == AVX512VNNI { // the generic Requantize builds its channel table per call
				_ = Requantize(q8, acc, rows, out, bias, mult, shift, zp, qmin, qmax)
			}
		})
		if allocs != 0 {
			t.Errorf("%v: %v allocations per run", p, allocs)
		}
	})
}

// floatsFromBytes reads little-endian float32s from b (a fuzzer's bytes).
func floatsFromBytes(b []byte) []float32 {
	x := make([]float32, len(b)/4)
	for k := range x {
		x[k] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*k:]))
	}
	return x
}

// FuzzQuantizeInput: every path equals quant.QuantizeUint8 on arbitrary float bits
// (NaN and ±Inf give the same error), scales and zero points.
func FuzzQuantizeInput(f *testing.F) {
	f.Add([]byte{0, 0, 0xc0, 0x3f, 0, 0, 0x20, 0x40}, float32(1), int32(3), uint8(0), uint8(255))
	f.Add(make([]byte, 4*37), float32(0x1p-7), int32(128), uint8(10), uint8(20))
	f.Add([]byte{0, 0, 0xc0, 0x7f}, float32(3), int32(0), uint8(0), uint8(255))
	f.Fuzz(func(t *testing.T, b []byte, scale float32, zp int32, qmin, qmax uint8) {
		x := floatsFromBytes(b)
		if !(scale > 0) || scale > maxFloat32 || qmin > qmax {
			return
		}
		want := make([]uint8, len(x))
		werr := quant.QuantizeUint8(want, x, scale, zp, int32(qmin), int32(qmax))
		eachPath(t, func(p Path) {
			got := make([]uint8, len(x))
			err := QuantizeInput(got, x, scale, zp, int32(qmin), int32(qmax))
			if fmt.Sprint(err) != fmt.Sprint(werr) || !slices.Equal(got, want) {
				t.Fatalf("%v: got %v, %v; want %v, %v", p, got, err, want, werr)
			}
		})
	})
}

// FuzzRequantize: every path equals the generic one on arbitrary accumulators and biases,
// with one multiplier and shift per tensor.
func FuzzRequantize(f *testing.F) {
	f.Add([]byte("0123456789abcdefghijklmnopqrstuvwxyz"), uint8(5), int32(1<<30), int8(0), uint8(3), uint8(0), uint8(255), true)
	f.Add(make([]byte, 4*70), uint8(13), int32(math.MaxInt32), int8(-31), uint8(255), uint8(7), uint8(200), false)
	f.Fuzz(func(t *testing.T, b []byte, out8 uint8, mult int32, shift int8, zp, qmin, qmax uint8, withBias bool) {
		out := int(out8)
		if out == 0 || mult < 0 || shift < -31 || shift > 30 || qmin > qmax {
			return
		}
		words := make([]int32, len(b)/4)
		for k := range words {
			words[k] = int32(binary.LittleEndian.Uint32(b[4*k:]))
		}
		var bias []int32
		if withBias && len(words) >= out {
			bias, words = words[:out], words[out:]
		}
		batch := len(words) / out
		acc := words[:batch*out]
		args := func(dst []uint8) error {
			return Requantize(dst, acc, batch, out, bias, []int32{mult}, []int{int(shift)}, int32(zp), int32(qmin), int32(qmax))
		}
		want := make([]uint8, len(acc))
		saved := active
		active = Generic
		err := args(want)
		active = saved
		if err != nil {
			t.Fatal(err)
		}
		eachPath(t, func(p Path) {
			got := make([]uint8, len(acc))
			if err := args(got); err != nil || !slices.Equal(got, want) {
				t.Fatalf("%v: got %v, %v; want %v", p, got, err, want)
			}
		})
	})
}
