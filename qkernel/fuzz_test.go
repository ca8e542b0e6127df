package qkernel

import (
	"slices"
	"testing"
)

// FuzzAccumulate checks the invariant Accumulate == AccumulateRef on arbitrary shapes,
// weights, inputs and zero points, for int8 and int4 weights. The data bytes are used in turn
// as weights, then as inputs (reused cyclically if short).
func FuzzAccumulate(f *testing.F) {
	f.Add([]byte{1, 2, 3, 250, 0, 0, 7, 128}, uint8(3), uint8(5), uint8(2), int32(0), false, uint8(2))
	f.Add([]byte{0xFF, 0x80, 0x7F, 0x01, 0, 0xFF}, uint8(1), uint8(1), uint8(1), int32(255), true, uint8(1))
	f.Add([]byte{0x88, 0x77, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 9}, uint8(10), uint8(33), uint8(7), int32(-3), true, uint8(4))
	f.Add([]byte{0x81, 0x7F, 0xFF, 0xFF}, uint8(7), uint8(64), uint8(5), int32(1<<30), false, uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, out, in, batch uint8, zp int32, int4 bool, workers uint8) {
		if len(data) == 0 || out == 0 || in == 0 {
			return
		}
		o, n, b := int(out%40)+1, int(in), int(batch%16)
		byteAt := func(k int) byte { return data[k%len(data)] }
		var (
			ws  *Weights
			err error
		)
		if int4 {
			packed := make([]byte, (o*n+1)/2)
			for k := range packed {
				packed[k] = byteAt(k)
			}
			ws, err = NewWeightsInt4(packed, o, n)
		} else {
			w := make([]int8, o*n)
			for k := range w {
				w[k] = int8(byteAt(k))
			}
			ws, err = NewWeights(w, o, n)
		}
		if err != nil {
			t.Fatal(err)
		}
		src := make([]uint8, b*n)
		for k := range src {
			src[k] = byteAt(o*n + k)
			if byteAt(k+7)%3 == 0 {
				src[k] = 0 // keep zeros common, as in real activations
			}
		}
		zps := []int32{zp}
		if zp%2 != 0 && b > 0 { // per-row zero points
			zps = make([]int32, b)
			for k := range zps {
				zps[k] = zp + int32(k)
			}
		}
		want := make([]int32, b*o)
		if err := ws.AccumulateRef(want, src, b, zps); err != nil {
			t.Fatal(err)
		}
		got := make([]int32, b*o)
		if err := ws.Accumulate(got, src, b, zps, int(workers%5)); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Accumulate != AccumulateRef: out %d in %d batch %d zp %v int4 %v", o, n, b, zps, int4)
		}
	})
}
