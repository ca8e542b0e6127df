package quant

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestQuantizeBias checks hand-computed values. All scales are powers of two, so b/s is
// exact and the comments give it exactly.
func TestQuantizeBias(t *testing.T) {
	tests := []struct {
		name    string
		b       []float32
		sIn     float32
		sW      []float32
		want    []int32   // QuantizeBias
		wantF32 []float32 // FakeQuantizeBias
	}{
		{
			// s = 0.5·0.25 = 0.125. b/s: 8, 0.5 (tie to even 0), 1.5 (tie to 2), -0.5 (to
			// -0), -1.5 (to -2), 2.5 (to 2), and float32(0.3)/0.125 = 2.4000000953674316 -> 2.
			name: "per-tensor", b: []float32{1, 0.0625, 0.1875, -0.0625, -0.1875, 0.3125, 0.3},
			sIn: 0.5, sW: []float32{0.25},
			want:    []int32{8, 0, 2, 0, -2, 2, 2},
			wantF32: []float32{1, 0, 0.25, 0, -0.25, 0.25, 0.25},
		},
		{
			// Per output: s = 2^-3·2^-1 = 2^-4, 2^-3·2^-4 = 2^-7, 2^-3·1 = 2^-3.
			// b/s: 1/2^-4 = 16; 0.0390625/2^-7 = 5; -2.6875/2^-3 = -21.5 (tie to even -22).
			name: "per-channel", b: []float32{1, 0.0390625, -2.6875},
			sIn: 0.125, sW: []float32{0.5, 0.0625, 1},
			want:    []int32{16, 5, -22},
			wantF32: []float32{1, 0.0390625, -2.75},
		},
		{
			// The ends of int32: s = 2^-5·2^-5 = 2^-10, and -2^21/2^-10 = -2^31 = MinInt32 fits;
			// (2^21-0.25)/2^-10 = 2^31-256 (float32 2^21 has a spacing of 0.25).
			name: "int32 ends", b: []float32{-(1 << 21), 1<<21 - 0.25},
			sIn: 1.0 / 32, sW: []float32{1.0 / 32},
			want:    []int32{math.MinInt32, math.MaxInt32 - 255},
			wantF32: []float32{-(1 << 21), 1<<21 - 0.25},
		},
		{name: "empty", b: []float32{}, sIn: 1, sW: []float32{1}, want: []int32{}, wantF32: []float32{}},
	}
	for _, tt := range tests {
		got := make([]int32, len(tt.b))
		if err := QuantizeBias(got, tt.b, tt.sIn, tt.sW); err != nil {
			t.Fatalf("%s: QuantizeBias: %v", tt.name, err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: QuantizeBias = %v, want %v", tt.name, got, tt.want)
		}
		gotF := make([]float32, len(tt.b))
		if err := FakeQuantizeBias(gotF, tt.b, tt.sIn, tt.sW); err != nil {
			t.Fatalf("%s: FakeQuantizeBias: %v", tt.name, err)
		}
		if !slices.Equal(gotF, tt.wantF32) {
			t.Errorf("%s: FakeQuantizeBias = %v, want %v", tt.name, gotF, tt.wantF32)
		}
		// In place.
		inPlace := slices.Clone(tt.b)
		if err := FakeQuantizeBias(inPlace, inPlace, tt.sIn, tt.sW); err != nil || !slices.Equal(inPlace, tt.wantF32) {
			t.Errorf("%s: FakeQuantizeBias in place = %v, %v; want %v", tt.name, inPlace, err, tt.wantF32)
		}
	}
}

// TestFakeQuantizeBiasMatchesQuantizeBias: on random biases and scales, FakeQuantizeBias is
// the dequantized QuantizeBias, float32(float64(q)·s), exactly (as numbers: a bias that rounds
// to 0 from below gives -0 from FakeQuantizeBias and +0 from the int32 route).
func TestFakeQuantizeBiasMatchesQuantizeBias(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		n := 1 + r.IntN(40)
		b := make([]float32, n)
		for i := range b {
			b[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(5)-3)))
		}
		sIn := float32(math.Exp(r.Float64()*8 - 9)) // ~1e-4 .. 0.4
		sW := make([]float32, 1)
		if r.IntN(2) == 0 {
			sW = make([]float32, n)
		}
		for i := range sW {
			sW[i] = float32(math.Exp(r.Float64()*8 - 9))
		}
		q := make([]int32, n)
		if err := QuantizeBias(q, b, sIn, sW); err != nil {
			t.Fatal(err)
		}
		f := make([]float32, n)
		if err := FakeQuantizeBias(f, b, sIn, sW); err != nil {
			t.Fatal(err)
		}
		for o := range b {
			s := float64(sIn) * float64(sW[min(o, len(sW)-1)])
			if want := float32(float64(q[o]) * s); f[o] != want {
				t.Fatalf("b[%d] = %v, s %v: FakeQuantizeBias %v, dequantized QuantizeBias %v", o, b[o], s, f[o], want)
			}
			// And the rounding is to nearest: |b - fq| <= s/2 up to float32 rounding of fq.
			if d := math.Abs(float64(b[o]) - float64(f[o])); d > s/2+math.Abs(float64(f[o]))*0x1p-24 {
				t.Fatalf("b[%d] = %v, s %v: |b - fq| = %v > s/2", o, b[o], s, d)
			}
		}
	}
}

func TestQuantizeBiasErrors(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	tests := []struct {
		name string
		dst  int // len(dst)
		b    []float32
		sIn  float32
		sW   []float32
		want string
	}{
		{"dst length", 1, []float32{1, 2}, 1, []float32{1}, "len(dst) 1 != len(b) 2"},
		{"sW length", 3, []float32{1, 2, 3}, 1, []float32{1, 1}, "2 weight scales for 3 biases"},
		{"sW empty", 1, []float32{1}, 1, nil, "0 weight scales"},
		{"sIn zero", 1, []float32{1}, 0, []float32{1}, "input scale 0"},
		{"sIn negative", 1, []float32{1}, -1, []float32{1}, "input scale -1"},
		{"sIn NaN", 1, []float32{1}, nan, []float32{1}, "input scale NaN"},
		{"sIn Inf", 1, []float32{1}, inf, []float32{1}, "input scale +Inf"},
		{"sW zero", 2, []float32{1, 2}, 1, []float32{1, 0}, "sW[1] = 0"},
		{"sW Inf", 2, []float32{1, 2}, 1, []float32{inf, 1}, "sW[0] = +Inf"},
		{"b NaN", 2, []float32{1, nan}, 1, []float32{1}, "b[1] is NaN"},
		{"b Inf", 2, []float32{-inf, 1}, 1, []float32{1}, "b[0] is -Inf"},
		// s = 2^-10: 2^21/s = 2^31, one above the largest int32.
		{"above int32", 2, []float32{0, 1 << 21}, 1.0 / 32, []float32{1.0 / 32}, "b[1] = 2.097152e+06 is 2.147483648e+09 steps of s_in·s_w = 0.0009765625, outside int32"},
		// s = 1e-12 or so: 1e12 steps.
		{"far below int32", 1, []float32{-1}, 1e-6, []float32{1e-6}, "b[0] = -1 is"},
	}
	for _, tt := range tests {
		for _, fake := range []bool{false, true} {
			var err error
			var unchanged bool
			if fake {
				dst := make([]float32, tt.dst)
				for i := range dst {
					dst[i] = 42
				}
				err = FakeQuantizeBias(dst, tt.b, tt.sIn, tt.sW)
				unchanged = !slices.ContainsFunc(dst, func(v float32) bool { return v != 42 })
			} else {
				dst := make([]int32, tt.dst)
				for i := range dst {
					dst[i] = 42
				}
				err = QuantizeBias(dst, tt.b, tt.sIn, tt.sW)
				unchanged = !slices.ContainsFunc(dst, func(v int32) bool { return v != 42 })
			}
			if err == nil || !strings.HasPrefix(err.Error(), "quant: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s (fake %t): err = %v, want quant: ...%s...", tt.name, fake, err, tt.want)
			}
			if !unchanged {
				t.Errorf("%s (fake %t): dst modified on error", tt.name, fake)
			}
		}
	}
	var nf *NonFiniteError
	if err := QuantizeBias(make([]int32, 1), []float32{nan}, 1, []float32{1}); !errors.As(err, &nf) || nf.What != "b" || nf.Index != 0 {
		t.Errorf("NaN bias: err = %#v, want a *NonFiniteError for b[0]", err)
	}
}
