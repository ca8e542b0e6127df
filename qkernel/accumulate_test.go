package qkernel

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"tinyq/quant"
)

// naive computes the accumulators straight from the row-major int8 weights, independently of
// any Weights layout, so that AccumulateRef itself is checked.
func naive(w []int8, out, in int, src []uint8, batch int, zp []int32) []int32 {
	dst := make([]int32, batch*out)
	for b := range batch {
		z := zp[0]
		if len(zp) > 1 {
			z = zp[b]
		}
		for o := range out {
			var s int32
			for i := range in {
				s += (int32(src[b*in+i]) - z) * int32(w[o*in+i])
			}
			dst[b*out+o] = s
		}
	}
	return dst
}

// variants returns every way of preparing the int8 weights w (whose values must be in
// [-8, 7] when int4 is true): the public constructors and every internal layout.
func variants(t testing.TB, w []int8, out, in int, int4 bool) map[string]*Weights {
	t.Helper()
	m := map[string]*Weights{}
	add := func(name string, ws *Weights, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m[name] = ws
	}
	ws, err := NewWeights(w, out, in)
	add("int8", ws, err)
	for _, l := range []layout{lanes2x32, lanes3x21, {}} {
		ws, err := newWeights(w, out, in, l)
		add("int8-"+l.name, ws, err)
	}
	if int4 {
		for _, l := range []layout{lanes4x16, lanes3x21, {}} {
			ws, err := NewWeightsInt4(packInt4(w), out, in)
			if ws != nil {
				ws.lay = l
			}
			add("int4-"+l.name, ws, err)
		}
	}
	return m
}

// checkAccumulate checks that Accumulate, for every layout and 1..4 workers, and
// AccumulateRef equal the naive computation bit for bit.
func checkAccumulate(t *testing.T, w []int8, out, in int, src []uint8, batch int, zp []int32, int4 bool) {
	t.Helper()
	want := naive(w, out, in, src, batch, zp)
	for name, ws := range variants(t, w, out, in, int4) {
		got := make([]int32, batch*out)
		if err := ws.AccumulateRef(got, src, batch, zp); err != nil {
			t.Fatalf("%s: AccumulateRef: %v", name, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: AccumulateRef differs from naive", name)
		}
		for workers := range 5 { // 0 means GOMAXPROCS
			got := make([]int32, batch*out)
			if err := ws.Accumulate(got, src, batch, zp, workers); err != nil {
				t.Fatalf("%s: Accumulate: %v", name, err)
			}
			if k := firstDiff(got, want); k >= 0 {
				t.Fatalf("%s, out %d in %d batch %d zp %v workers %d: dst[%d] = %d, want %d",
					name, out, in, batch, zp, workers, k, got[k], want[k])
			}
		}
	}
}

func firstDiff(a, b []int32) int {
	for k := range a {
		if a[k] != b[k] {
			return k
		}
	}
	return -1
}

func TestAccumulateRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	shapes := [][3]int{ // out, in, batch
		{1, 1, 1}, {1, 1, 5}, {1, 7, 3}, {5, 1, 4}, {3, 3, 1}, {2, 9, 7}, {7, 13, 5},
		{10, 128, 9}, {13, 31, 11}, {16, 64, 13}, {17, 33, 3}, {31, 50, 6}, {256, 784, 3},
	}
	for _, s := range shapes {
		out, in, batch := s[0], s[1], s[2]
		for _, int4 := range []bool{false, true} {
			lo, hi := -127, 127
			if int4 {
				lo, hi = -8, 7
			}
			w := randInt8(r, out*in, lo, hi)
			for _, density := range []float64{0, 0.2, 1} {
				src := sparseInput(r, batch*in, density)
				perRow := make([]int32, batch)
				for b := range perRow {
					perRow[b] = int32(r.IntN(256))
				}
				for _, zp := range [][]int32{{0}, {3}, {255}, {-1000}, perRow} {
					t.Run(fmt.Sprintf("%dx%d/b%d/int4=%v/d%v/zp%v", out, in, batch, int4, density, zp), func(t *testing.T) {
						checkAccumulate(t, w, out, in, src, batch, zp, int4)
					})
				}
			}
		}
	}
}

// TestAccumulateExtremes checks the largest magnitudes: all inputs 255 with all weights at
// one bound, and with the int4 bounds, so every lane is as full as it can be between flushes.
func TestAccumulateExtremes(t *testing.T) {
	const out, in, batch = 11, 784, 3
	src := make([]uint8, batch*in)
	for k := range src {
		src[k] = 255
	}
	for _, v := range []int8{-128, -127, 127, -8, 7} {
		w := make([]int8, out*in)
		for k := range w {
			w[k] = v
		}
		int4 := v >= -8 && v <= 7
		for _, zp := range [][]int32{{0}, {255}, {-255}} {
			checkAccumulate(t, w, out, in, src, batch, zp, int4)
		}
	}
	// Alternating extremes within a word, so that a borrow or carry between lanes would show.
	w := make([]int8, out*in)
	for k := range w {
		w[k] = []int8{-127, 127, -128, 0}[k%4]
	}
	checkAccumulate(t, w, out, in, src, batch, []int32{0}, false)
	for k := range w {
		w[k] = []int8{-8, 7, 0}[k%3]
	}
	checkAccumulate(t, w, out, in, src, batch, []int32{0}, true)
}

// TestAccumulateLongRow uses an In beyond which two 32-bit lanes without flushing would carry
// (66052*255*255 > 2^32) and sums that wrap int32 (wrapping is part of the contract).
func TestAccumulateLongRow(t *testing.T) {
	if testing.Short() {
		t.Skip("long row")
	}
	const out, in, batch = 3, 70000, 2
	r := rand.New(rand.NewPCG(9, 10))
	src := make([]uint8, batch*in)
	for k := range src {
		src[k] = uint8(200 + r.IntN(56))
	}
	w := make([]int8, out*in)
	for k := range w {
		w[k] = []int8{127, -128, 7}[k/in]
	}
	checkAccumulate(t, w, out, in, src, batch, []int32{0}, false)
}

func TestInt4MatchesInt8(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, s := range [][2]int{{1, 1}, {3, 5}, {10, 128}, {128, 256}, {7, 9}} {
		out, in := s[0], s[1]
		w := randInt8(r, out*in, -8, 7)
		w8, err := NewWeights(w, out, in)
		if err != nil {
			t.Fatal(err)
		}
		w4, err := NewWeightsInt4(packInt4(w), out, in)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := w4.Bytes(), (out*in+1)/2; got != want {
			t.Errorf("int4 Bytes() = %d, want %d", got, want)
		}
		if got, want := w8.Bytes(), out*in; got != want {
			t.Errorf("int8 Bytes() = %d, want %d", got, want)
		}
		for o := range out {
			for i := range in {
				if w4.At(o, i) != w[o*in+i] || w8.At(o, i) != w[o*in+i] {
					t.Fatalf("At(%d, %d): int4 %d, int8 %d, want %d", o, i, w4.At(o, i), w8.At(o, i), w[o*in+i])
				}
			}
		}
		const batch = 6
		src := sparseInput(r, batch*in, 0.5)
		got4 := make([]int32, batch*out)
		got8 := make([]int32, batch*out)
		if err := w4.Accumulate(got4, src, batch, []int32{2}, 2); err != nil {
			t.Fatal(err)
		}
		if err := w8.Accumulate(got8, src, batch, []int32{2}, 2); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got4, got8) {
			t.Errorf("%dx%d: int4 and int8 results differ", out, in)
		}
	}
}

// TestInt4Nibbles checks the packing convention on a hand-made byte: 0x9F holds element 0 in
// the low nibble (0xF = -1) and element 1 in the high nibble (0x9 = -7).
func TestInt4Nibbles(t *testing.T) {
	w, err := NewWeightsInt4([]byte{0x9F, 0x78, 0x05}, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []int8{-1, -7, -8, 7, 5}
	for i, v := range want {
		if got := w.At(0, i); got != v {
			t.Errorf("At(0, %d) = %d, want %d", i, got, v)
		}
	}
}

// TestInputsNotModified checks the documented invariant: inputs are never modified.
func TestInputsNotModified(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	w := randInt8(r, 12*20, -127, 127)
	w0 := slices.Clone(w)
	ws, err := NewWeights(w, 12, 20)
	if err != nil {
		t.Fatal(err)
	}
	src := sparseInput(r, 4*20, 0.5)
	src0 := slices.Clone(src)
	zp := []int32{1, 2, 3, 4}
	if err := ws.Accumulate(make([]int32, 4*12), src, 4, zp, 2); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(w, w0) || !slices.Equal(src, src0) || !slices.Equal(zp, []int32{1, 2, 3, 4}) {
		t.Error("an input was modified")
	}
	// The weights are copied: changing w afterwards does not change ws.
	w[0]++
	if ws.At(0, 0) != w0[0] {
		t.Error("NewWeights retained its input")
	}
}

func TestAccumulateErrors(t *testing.T) {
	ws, err := NewWeights(make([]int8, 6), 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		dst   []int32
		src   []uint8
		batch int
		zp    []int32
		want  string
	}{
		{"negative batch", nil, nil, -1, []int32{0}, "negative batch"},
		{"short src", make([]int32, 4), make([]uint8, 5), 2, []int32{0}, "len(src) = 5"},
		{"long src", make([]int32, 4), make([]uint8, 7), 2, []int32{0}, "len(src) = 7"},
		{"short dst", make([]int32, 3), make([]uint8, 6), 2, []int32{0}, "len(dst) = 3"},
		{"no zp", make([]int32, 4), make([]uint8, 6), 2, nil, "len(zp) = 0"},
		{"zp length", make([]int32, 6), make([]uint8, 9), 3, []int32{0, 0}, "len(zp) = 2"},
	}
	for _, tt := range tests {
		for _, ref := range []bool{false, true} {
			var err error
			if ref {
				err = ws.AccumulateRef(tt.dst, tt.src, tt.batch, tt.zp)
			} else {
				err = ws.Accumulate(tt.dst, tt.src, tt.batch, tt.zp, 2)
			}
			if err == nil || !strings.HasPrefix(err.Error(), "qkernel: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s (ref %v): err = %v, want qkernel: ...%s...", tt.name, ref, err, tt.want)
			}
		}
	}
	// An empty batch is fine.
	if err := ws.Accumulate(nil, nil, 0, []int32{0}, 0); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}

func TestNewWeightsErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"int8 length", second(NewWeights(make([]int8, 5), 2, 3)), "len(w) = 5"},
		{"int8 zero out", second(NewWeights(nil, 0, 3)), "must be positive"},
		{"int8 negative in", second(NewWeights(nil, 2, -1)), "must be positive"},
		{"int8 huge", second(NewWeights(nil, 1<<20, 1<<20)), "too many"},
		{"int4 length", second(NewWeightsInt4(make([]byte, 4), 2, 3)), "len(packed) = 4, want (out*in+1)/2 = 3"},
		{"int4 odd length", second(NewWeightsInt4(make([]byte, 3), 1, 7)), "want (out*in+1)/2 = 4"},
		{"int4 zero in", second(NewWeightsInt4(nil, 3, 0)), "must be positive"},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.HasPrefix(tt.err.Error(), "qkernel: ") || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want qkernel: ...%s...", tt.name, tt.err, tt.want)
		}
	}
	if _, err := NewWeightsInt4(make([]byte, 3), 2, 3); err != nil {
		t.Errorf("int4 2x3 in 3 bytes: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestInt2MatchesInt8: 2-bit packed weights give exactly NewWeights' results on the same
// values, for several shapes and zero points.
func TestInt2MatchesInt8(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 0))
	for _, sh := range [][2]int{{1, 1}, {3, 5}, {10, 7}, {256, 784}} {
		out, in := sh[0], sh[1]
		w := make([]int8, out*in)
		for i := range w {
			w[i] = int8(rng.IntN(4)) - 2
		}
		packed := make([]byte, (out*in+3)/4)
		for i, v := range w {
			packed[i/4] |= (byte(v) & 3) << (2 * (i % 4))
		}
		w2, err := NewWeightsInt2(packed, out, in)
		if err != nil {
			t.Fatal(err)
		}
		w8, err := NewWeights(w, out, in)
		if err != nil {
			t.Fatal(err)
		}
		if w2.Bytes() != len(packed) {
			t.Fatalf("Bytes() = %d, want %d", w2.Bytes(), len(packed))
		}
		const batch = 9
		src := make([]uint8, batch*in)
		for i := range src {
			if rng.IntN(3) == 0 {
				src[i] = uint8(rng.IntN(256))
			}
		}
		for _, zp := range [][]int32{{0}, {7}} {
			a, b := make([]int32, batch*out), make([]int32, batch*out)
			if err := w2.Accumulate(a, src, batch, zp, 2); err != nil {
				t.Fatal(err)
			}
			if err := w8.AccumulateRef(b, src, batch, zp); err != nil {
				t.Fatal(err)
			}
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("%dx%d zp %v: output %d = %d, int8 reference %d", out, in, zp, i, a[i], b[i])
				}
			}
		}
	}
	if _, err := NewWeightsInt2(make([]byte, 1), 2, 3); err == nil {
		t.Fatal("NewWeightsInt2 accepted a short buffer")
	}
}

// TestNewWeightsPacked: NewWeightsPacked equals the specific constructor of each packing bit
// for bit (At, Bytes and Accumulate), on shapes whose size is not a multiple of 2 or 4 and on
// the extreme values of each packing.
func TestNewWeightsPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, tc := range []struct {
		p      quant.Packing
		lo, hi int // weight range
	}{
		{quant.PackedInt8, -128, 127},
		{quant.PackedInt4, -8, 7},
		{quant.PackedInt2, -2, 1},
	} {
		for _, sh := range [][2]int{{1, 1}, {3, 5}, {7, 9}, {10, 33}} {
			out, in := sh[0], sh[1]
			w := randInt8(r, out*in, tc.lo, tc.hi)
			w[0], w[len(w)-1] = int8(tc.lo), int8(tc.hi)
			data := make([]byte, tc.p.Len(out*in))
			if err := tc.p.Pack(data, w); err != nil {
				t.Fatal(err)
			}
			data0 := slices.Clone(data)
			got, err := NewWeightsPacked(tc.p, data, out, in)
			if err != nil {
				t.Fatalf("%v %dx%d: %v", tc.p, out, in, err)
			}
			if !slices.Equal(data, data0) {
				t.Fatalf("%v: data modified", tc.p)
			}
			var want *Weights
			switch tc.p {
			case quant.PackedInt8:
				want, err = NewWeights(w, out, in)
			case quant.PackedInt4:
				want, err = NewWeightsInt4(data, out, in)
			case quant.PackedInt2:
				want, err = NewWeightsInt2(data, out, in)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Bytes() != want.Bytes() || got.Bytes() != len(data) {
				t.Errorf("%v %dx%d: Bytes() = %d, specific constructor %d, data %d", tc.p, out, in, got.Bytes(), want.Bytes(), len(data))
			}
			for o := range out {
				for i := range in {
					if got.At(o, i) != w[o*in+i] {
						t.Fatalf("%v: At(%d, %d) = %d, want %d", tc.p, o, i, got.At(o, i), w[o*in+i])
					}
				}
			}
			const batch = 5
			src := sparseInput(r, batch*in, 0.6)
			for _, zp := range [][]int32{{0}, {200}} {
				a, b := make([]int32, batch*out), make([]int32, batch*out)
				if err := got.Accumulate(a, src, batch, zp, 2); err != nil {
					t.Fatal(err)
				}
				if err := want.Accumulate(b, src, batch, zp, 2); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(a, b) {
					t.Fatalf("%v %dx%d zp %v: Accumulate differs from the specific constructor", tc.p, out, in, zp)
				}
			}
		}
	}
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"invalid packing", second(NewWeightsPacked(0, make([]byte, 6), 2, 3)), "invalid packing Packing(0)"},
		{"int8 length", second(NewWeightsPacked(quant.PackedInt8, make([]byte, 5), 2, 3)), "int8: len(data) = 5, want 6 for [2, 3]"},
		{"int4 length", second(NewWeightsPacked(quant.PackedInt4, make([]byte, 4), 2, 3)), "int4: len(data) = 4, want 3"},
		{"int2 length", second(NewWeightsPacked(quant.PackedInt2, make([]byte, 1), 2, 3)), "int2: len(data) = 1, want 2"},
		{"shape", second(NewWeightsPacked(quant.PackedInt8, nil, 0, 3)), "must be positive"},
	} {
		if tt.err == nil || !strings.HasPrefix(tt.err.Error(), "qkernel: ") || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want qkernel: ...%s...", tt.name, tt.err, tt.want)
		}
	}
}
