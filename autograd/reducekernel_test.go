package autograd

import (
	"math"
	"math/rand"
	"testing"
)

// TestReductionSumKernels checks the per-channel sums of a reduction (the convolution's bias
// gradient) with the assembly loops (where the CPU has them) against a plain float64 loop over
// the rows in order, bit for bit, for channel counts around the 8-, 16- and 32-channel groups
// and row counts across several blocks, with values of mixed magnitudes (so that another
// summation order would round differently) and a few infinities.
func TestReductionSumKernels(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, c := range []int{1, 7, 8, 9, 16, 17, 24, 31, 32, 33, 48, 56, 64, 71, 128} {
		for _, rows := range []int{0, 1, 3, 200, 3*reduceBlock/c + 5} {
			x := make([]float32, rows*c)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.Intn(12)-6)))
				if rng.Intn(5000) == 0 {
					x[i] = float32(math.Inf(1 - 2*rng.Intn(2)))
				}
			}
			want := make([]float64, c)
			for row := range rows {
				for j := range c {
					want[j] += float64(x[row*c+j])
				}
			}
			for _, asm := range []bool{true, false} {
				old := reduceAsmEnabled(asm)
				var r reduction
				got := r.run(x, nil, nil, nil, rows, c)[0]
				reduceAsmEnabled(old)
				// The blocks' sums are added in block order, as the Go loop over the rows does
				// only when there is one block: compare against the same blocks.
				w := want
				if r.n > 1 {
					w = blockSums(x, rows, c, r.n)
				}
				for j := range c {
					if math.Float64bits(got[j]) != math.Float64bits(w[j]) {
						t.Fatalf("c=%d rows=%d asm=%v: channel %d sum %v, want %v", c, rows, asm, j, got[j], w[j])
					}
				}
			}
		}
	}
}

// TestReductionBNKernels checks BatchNorm's per-channel sums (the centred sums of the
// statistics, and the gradient's sums) with the assembly loops (where the CPU has them)
// against the Go loops, bit for bit, for channel counts around the 8-channel groups and
// row counts across several blocks, on values of mixed magnitudes.
func TestReductionBNKernels(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	mixed := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.Intn(8)-4)))
		}
		return v
	}
	for _, c := range []int{1, 7, 8, 9, 16, 17, 32, 33} {
		for _, rows := range []int{0, 1, 3, 200, 3*reduceBlock/c + 5} {
			x, dy, mean, inv := mixed(rows*c), mixed(rows*c), mixed(c), mixed(c)
			for _, grad := range []bool{false, true} {
				var want [2][]float64
				for _, asm := range []bool{false, true} {
					old := reduceAsmEnabled(asm)
					var r reduction
					var got [2][]float64
					if grad {
						got = r.run(x, dy, mean, inv, rows, c)
					} else {
						got = r.run(x, nil, mean, nil, rows, c)
					}
					reduceAsmEnabled(old)
					if !asm {
						want = [2][]float64{append([]float64(nil), got[0]...), append([]float64(nil), got[1]...)}
						continue
					}
					for k := range 2 {
						for j := range c {
							if math.Float64bits(got[k][j]) != math.Float64bits(want[k][j]) {
								t.Fatalf("c=%d rows=%d grad=%v: sum %d channel %d = %v, Go loop %v", c, rows, grad, k, j, got[k][j], want[k][j])
							}
						}
					}
				}
			}
		}
	}
}

// blockSums is the reference of a reduction's sums over n blocks: each block's rows summed in
// order from zero, then the blocks' sums added in order.
func blockSums(x []float32, rows, c, n int) []float64 {
	total := make([]float64, c)
	for i := range n {
		lo, hi := split(rows, n, i)
		part := make([]float64, c)
		for row := lo; row < hi; row++ {
			for j := range c {
				part[j] += float64(x[row*c+j])
			}
		}
		for j := range c {
			total[j] += part[j]
		}
	}
	return total
}

// BenchmarkReductionSums is the convolution's bias gradient on the CNN's first convolution
// at batch 128 (128·28·28 rows of 16 channels), with the assembly loops and without.
func BenchmarkReductionSums(b *testing.B) {
	rows, c := 128*28*28, 16
	x := make([]float32, rows*c)
	for i := range x {
		x[i] = float32(i%97) - 48
	}
	for _, asm := range []bool{true, false} {
		name := "go"
		if asm {
			name = "asm"
		}
		b.Run(name, func(b *testing.B) {
			defer reduceAsmEnabled(reduceAsmEnabled(asm))
			var r reduction
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				r.run(x, nil, nil, nil, rows, c)
			}
		})
	}
}
