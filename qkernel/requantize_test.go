package qkernel

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestRequantizeHandMade(t *testing.T) {
	tests := []struct {
		name           string
		acc            []int32
		batch, out     int
		bias, mult     []int32
		shift          []int
		zp, qmin, qmax int32
		want           []uint8
	}{
		{
			// M = 0.5 (mult 2^30, shift 0): 2*x/2 and the half-up ties of the high multiply.
			name: "M=0.5", acc: []int32{0, 10, 5, -5, 3}, batch: 1, out: 5,
			mult: []int32{1 << 30}, shift: []int{0}, zp: 100, qmin: 0, qmax: 255,
			want: []uint8{100, 105, 103, 98, 102}, // 0, 5, 2.5->3, -2.5->-2, 1.5->2
		},
		{
			// Fused ReLU: qmin = zp = 10 clamps negatives; 255 saturates.
			name: "relu", acc: []int32{-1000, -2, 0, 7, 1000}, batch: 1, out: 5,
			mult: []int32{1 << 30}, shift: []int{0}, zp: 10, qmin: 10, qmax: 255,
			want: []uint8{10, 10, 10, 14, 255}, // -500, -1, 0, 3.5->4, 500
		},
		{
			// Bias at the accumulator scale, per-channel multipliers and shifts, 2 rows.
			// Channel 0: M = 2^30*2^(-2-31) = 1/8; channel 1: M = 2 (left shift 2, mult 2^30).
			name: "per-channel", acc: []int32{20, 3, -20, -3}, batch: 2, out: 2,
			bias: []int32{4, 1}, mult: []int32{1 << 30, 1 << 30}, shift: []int{-2, 2},
			zp: 0, qmin: 0, qmax: 255,
			// row 0: (20+4)/8 = 3; (3+1)*2 = 8. row 1: (-20+4)/8 = -2 -> 0; (-3+1)*2 = -4 -> 0.
			want: []uint8{3, 8, 0, 0},
		},
		{
			// Double rounding, as in TFLite: 5*0.25 = 1.25 gives 2 (2.5 -> 3, then 1.5 -> 2).
			name: "double rounding", acc: []int32{5, 4, 6}, batch: 1, out: 3,
			mult: []int32{1 << 30}, shift: []int{-1}, zp: 0, qmin: 0, qmax: 255,
			want: []uint8{2, 1, 2}, // 1.25 -> 2, 1 -> 1, 1.5 -> 2
		},
		{
			// A narrow clamp range (e.g. a 4-bit activation [0, 15]).
			name: "uint4 clamp", acc: []int32{-8, 8, 30, 40}, batch: 1, out: 4,
			mult: []int32{1 << 30}, shift: []int{0}, zp: 0, qmin: 0, qmax: 15,
			want: []uint8{0, 4, 15, 15},
		},
	}
	for _, tt := range tests {
		got := make([]uint8, len(tt.want))
		if err := Requantize(got, tt.acc, tt.batch, tt.out, tt.bias, tt.mult, tt.shift, tt.zp, tt.qmin, tt.qmax); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestRequantizeMatchesPrimitives checks the inlined, branch-free requantization against the
// definition written with the primitives, on random and extreme values.
func TestRequantizeMatchesPrimitives(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for iter := range 200 {
		batch, out := 1+r.IntN(40), 1+r.IntN(40)
		if iter == 0 {
			batch = 300 // large enough to run in parallel
			out = 200
		}
		acc := make([]int32, batch*out)
		for k := range acc {
			switch r.IntN(4) {
			case 0:
				acc[k] = int32(r.Uint32())
			case 1:
				acc[k] = []int32{math.MinInt32, math.MaxInt32, 0, -1, 1}[r.IntN(5)]
			default:
				acc[k] = int32(r.IntN(1<<20) - 1<<19)
			}
		}
		perChannel := r.IntN(2) == 0
		nq := 1
		if perChannel {
			nq = out
		}
		mult, shift := make([]int32, nq), make([]int, nq)
		for k := range mult {
			mult[k] = int32(1<<30 + r.IntN(1<<30))
			if r.IntN(20) == 0 {
				mult[k] = []int32{0, math.MaxInt32, 1}[r.IntN(3)]
			}
			shift[k] = -r.IntN(32)
			if r.IntN(5) == 0 {
				shift[k] = r.IntN(31)
			}
		}
		var bias []int32
		if r.IntN(3) > 0 {
			bias = make([]int32, out)
			for k := range bias {
				bias[k] = int32(r.Uint32()) >> r.IntN(32)
			}
		}
		zp := int32(r.IntN(256))
		qmin := int32(r.IntN(256))
		qmax := qmin + int32(r.IntN(256-int(qmin)))
		got := make([]uint8, batch*out)
		if err := Requantize(got, acc, batch, out, bias, mult, shift, zp, qmin, qmax); err != nil {
			t.Fatal(err)
		}
		for b := range batch {
			for o := range out {
				v := acc[b*out+o]
				if bias != nil {
					v += bias[o]
				}
				v = MultiplyByQuantizedMultiplier(v, mult[min(o, nq-1)], shift[min(o, nq-1)]) + zp
				want := uint8(min(max(v, qmin), qmax))
				if g := got[b*out+o]; g != want {
					t.Fatalf("iter %d [%d, %d]: acc %d: got %d, want %d", iter, b, o, acc[b*out+o], g, want)
				}
			}
		}
	}
}

func TestRequantizeErrors(t *testing.T) {
	acc, dst := make([]int32, 6), make([]uint8, 6)
	one, sh := []int32{1 << 30}, []int{0}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"bad out", Requantize(dst, acc, 2, 0, nil, one, sh, 0, 0, 255), "bad shape"},
		{"bad batch", Requantize(dst, acc, -1, 3, nil, one, sh, 0, 0, 255), "bad shape"},
		{"acc length", Requantize(dst, acc[:5], 2, 3, nil, one, sh, 0, 0, 255), "len(acc) = 5"},
		{"dst length", Requantize(dst[:4], acc, 2, 3, nil, one, sh, 0, 0, 255), "len(dst) = 4"},
		{"bias length", Requantize(dst, acc, 2, 3, []int32{1, 2}, one, sh, 0, 0, 255), "len(bias) = 2"},
		{"mult length", Requantize(dst, acc, 2, 3, nil, []int32{1, 2}, sh, 0, 0, 255), "len(mult) = 2"},
		{"mult missing", Requantize(dst, acc, 2, 3, nil, nil, sh, 0, 0, 255), "len(mult) = 0"},
		{"shift length", Requantize(dst, acc, 2, 3, nil, one, []int{0, 0}, 0, 0, 255), "len(shift) = 2"},
		{"negative mult", Requantize(dst, acc, 2, 3, nil, []int32{-1}, sh, 0, 0, 255), "negative multiplier"},
		{"shift too big", Requantize(dst, acc, 2, 3, nil, one, []int{31}, 0, 0, 255), "shift 31"},
		{"shift too small", Requantize(dst, acc, 2, 3, nil, one, []int{-32}, 0, 0, 255), "shift -32"},
		{"qmin < 0", Requantize(dst, acc, 2, 3, nil, one, sh, 0, -1, 255), "clamp"},
		{"qmax > 255", Requantize(dst, acc, 2, 3, nil, one, sh, 0, 0, 256), "clamp"},
		{"qmin > qmax", Requantize(dst, acc, 2, 3, nil, one, sh, 0, 9, 8), "clamp"},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.HasPrefix(tt.err.Error(), "qkernel: ") || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want qkernel: ...%s...", tt.name, tt.err, tt.want)
		}
	}
	if err := Requantize(nil, nil, 0, 3, nil, one, sh, 0, 0, 255); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}
