package qkernel

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestRequantizer: on every path, a prepared Requantizer gives the bytes Requantize gives
// with the same arguments (random constants with their extremes, per channel and per
// tensor, with and without bias, layers over reqChunk channels), and leaves acc alone.
func TestRequantizer(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	for iter := range 300 {
		batch, out := r.IntN(9), 1+r.IntN(300)
		if iter%50 == 0 {
			batch, out = 3, 513 // three column strips
		}
		acc, bias, mult, shift, zp, qmin, qmax := randRequant(r, batch, out)
		eachPath(t, func(p Path) {
			want := make([]uint8, batch*out)
			if err := Requantize(want, acc, batch, out, bias, mult, shift, zp, qmin, qmax); err != nil {
				t.Fatal(err)
			}
			rq, err := NewRequantizer(out, bias, mult, shift, zp, qmin, qmax)
			if err != nil {
				t.Fatal(err)
			}
			acc0 := slices.Clone(acc)
			got := make([]uint8, batch*out)
			if err := rq.Apply(got, acc, batch); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%v: [%d, %d]: Requantizer.Apply differs from Requantize", p, batch, out)
			}
			if !slices.Equal(acc, acc0) {
				t.Fatal("acc modified")
			}
		})
	}
}

// TestRequantizerErrors: NewRequantizer refuses what Requantize refuses, with the same
// words; Apply refuses lengths that do not match its channels.
func TestRequantizerErrors(t *testing.T) {
	one, sh := []int32{1 << 30}, []int{0}
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"out", second(NewRequantizer(0, nil, one, sh, 0, 0, 255)), "0 channels"},
		{"bias length", second(NewRequantizer(3, []int32{1, 2}, one, sh, 0, 0, 255)), "len(bias) = 2"},
		{"mult length", second(NewRequantizer(3, nil, []int32{1, 2}, sh, 0, 0, 255)), "len(mult) = 2"},
		{"shift length", second(NewRequantizer(3, nil, one, []int{0, 0}, 0, 0, 255)), "len(shift) = 2"},
		{"negative mult", second(NewRequantizer(3, nil, []int32{-1}, sh, 0, 0, 255)), "negative multiplier"},
		{"shift", second(NewRequantizer(3, nil, one, []int{31}, 0, 0, 255)), "shift 31"},
		{"clamp", second(NewRequantizer(3, nil, one, sh, 0, 9, 8)), "clamp"},
	} {
		if tt.err == nil || !strings.HasPrefix(tt.err.Error(), "qkernel: NewRequantizer: ") || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want qkernel: NewRequantizer: ...%s...", tt.name, tt.err, tt.want)
		}
	}
	rq, err := NewRequantizer(3, nil, one, sh, 0, 0, 255)
	if err != nil {
		t.Fatal(err)
	}
	acc, dst := make([]int32, 6), make([]uint8, 6)
	for name, err := range map[string]error{
		"acc":   rq.Apply(dst, acc[:5], 2),
		"dst":   rq.Apply(dst[:5], acc, 2),
		"batch": rq.Apply(dst, acc, -1),
	} {
		if err == nil || !strings.HasPrefix(err.Error(), "qkernel: Requantizer.Apply: ") {
			t.Errorf("%s: err = %v, want a qkernel: Requantizer.Apply: error", name, err)
		}
	}
	if err := rq.Apply(nil, nil, 0); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}
