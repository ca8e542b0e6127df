package qkernel

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"tinyq/quant"
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
			// One rounding of the exact product: M = 0.25 (mult 2^30, shift -1). gemmlowp's
			// double rounding would give 2 for 1.25 (2.5 -> 3, then 1.5 -> 2).
			name: "single rounding", acc: []int32{5, 4, 6, 7}, batch: 1, out: 4,
			mult: []int32{1 << 30}, shift: []int{-1}, zp: 0, qmin: 0, qmax: 255,
			want: []uint8{1, 1, 2, 2}, // 1.25 -> 1, 1 -> 1, 1.5 -> 2, 1.75 -> 2
		},
		{
			// The bias is added in int64, so sums beyond int32 do not wrap. Shift -31: M is
			// mult·2^-62. Channel 0: (2^31-1) + (2^31-1) = 2^32-2, times 2^30·2^-62 = 2^-32,
			// is 1 - 2^-31 -> 1. Channel 1: -2^31 + -2^31 = -2^32, times 2^-32, is -1 exactly.
			// Channel 2: (2^32-2)·(2^31-1)·2^-62 = 2 - 3·2^-30 + 2^-61 -> 2; the product
			// 2^63 - 3·2^32 + 2 fits in int64, but adding the rounding term 2^61 to it would
			// not (see requantizeRow). zp 7 is added to each.
			name: "int64 sums", acc: []int32{math.MaxInt32, math.MinInt32, math.MaxInt32}, batch: 1, out: 3,
			bias: []int32{math.MaxInt32, math.MinInt32, math.MaxInt32},
			mult: []int32{1 << 30, 1 << 30, math.MaxInt32}, shift: []int{-31, -31, -31}, zp: 7, qmin: 0, qmax: 255,
			want: []uint8{8, 6, 9},
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

// TestRequantizeMatchesQuant checks that Requantize applies quant's rule bit for bit: where
// acc+bias fits in int32, the result is clamp(zp + quant.MultiplyByQuantizedMultiplier(...));
// where it does not, the same rule computed exactly with big integers. Random and extreme
// accumulators, biases, multipliers (including 0, 1 and 2^31-1) and every shift.
func TestRequantizeMatchesQuant(t *testing.T) {
	var inInt32, beyond int
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
				x := int64(acc[b*out+o])
				if bias != nil {
					x += int64(bias[o])
				}
				m, sh := mult[min(o, nq-1)], shift[min(o, nq-1)]
				var r int64
				if x >= math.MinInt32 && x <= math.MaxInt32 {
					r = int64(quant.MultiplyByQuantizedMultiplier(int32(x), m, sh))
					inInt32++
				} else {
					r = refRule(x, m, sh)
					beyond++
				}
				want := uint8(min(max(int64(zp)+r, int64(qmin)), int64(qmax)))
				if g := got[b*out+o]; g != want {
					t.Fatalf("iter %d [%d, %d]: acc+bias %d, mult %d, shift %d: got %d, want %d", iter, b, o, x, m, sh, g, want)
				}
			}
		}
	}
	if inInt32 == 0 || beyond == 0 {
		t.Fatalf("%d sums within int32 and %d beyond: want both", inInt32, beyond)
	}
}

// refRule is quant.MultiplyByQuantizedMultiplier's rule without saturation, for any int64 x,
// in big integers: floor((x·mult + 2^(30-shift)) / 2^(31-shift)).
func refRule(x int64, mult int32, shift int) int64 {
	t := uint(31 - shift)
	p := new(big.Int).Mul(big.NewInt(x), big.NewInt(int64(mult)))
	p.Add(p, new(big.Int).Lsh(big.NewInt(1), t-1))
	return p.Rsh(p, t).Int64() // Rsh floors negative values
}

// TestRequantizeEqualsQuantEdges runs every combination of extreme accumulators, biases,
// multipliers and shifts through Requantize and compares with quant where the sum fits.
func TestRequantizeEqualsQuantEdges(t *testing.T) {
	accs := []int32{math.MinInt32, math.MinInt32 + 1, -1 << 30, -65536, -3, -2, -1, 0, 1, 2, 3, 65535, 1 << 30, math.MaxInt32 - 1, math.MaxInt32}
	biases := []int32{math.MinInt32, -1, 0, 1, math.MaxInt32}
	mults := []int32{0, 1, 1 << 30, 1<<30 + 1, 1518500250, math.MaxInt32}
	for _, bias := range biases {
		for _, m := range mults {
			for sh := -31; sh <= 30; sh++ {
				got := make([]uint8, len(accs))
				// One channel, len(accs) rows; a clamp [0, 255] around zp 128 keeps results
				// of both signs visible.
				if err := Requantize(got, accs, len(accs), 1, []int32{bias}, []int32{m}, []int{sh}, 128, 0, 255); err != nil {
					t.Fatal(err)
				}
				for k, a := range accs {
					x := int64(a) + int64(bias)
					r := refRule(x, m, sh)
					if x >= math.MinInt32 && x <= math.MaxInt32 {
						if q := int64(quant.MultiplyByQuantizedMultiplier(int32(x), m, sh)); q != max(math.MinInt32, min(math.MaxInt32, r)) {
							t.Fatalf("quant(%d, %d, %d) = %d, rule %d", x, m, sh, q, r)
						}
					}
					if want := uint8(min(max(128+r, 0), 255)); got[k] != want {
						t.Fatalf("acc %d bias %d mult %d shift %d: got %d, want %d", a, bias, m, sh, got[k], want)
					}
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
		{"negative mult channel", Requantize(dst, acc, 2, 3, nil, []int32{1, 2, -3}, []int{0, 0, 0}, 0, 0, 255), "channel 2: negative multiplier -3"},
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
