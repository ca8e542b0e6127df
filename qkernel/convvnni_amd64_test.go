//go:build amd64 && gc && !purego

package qkernel

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"tinyq/arch"
)

// TestConvImplicitRows: the AVX-512 VNNI path's implicit convolution takes windows whose
// rows are not whole groups of 4 inputs (the CNN's first convolution, 5·1; its rows are
// padded with zero weights) as well as those that are, and equals the direct integer
// convolution bit for bit, with the least scratch it accepts (the last row's last group
// reads up to 3 bytes past the padded images: they must be inside scratch), one image or
// several per chunk, 1 to 48 outputs, zero points 0 to 255, one worker or the tiles split
// over several (the CNN's second convolution has the work to split on one image).
func TestConvImplicitRows(t *testing.T) {
	if !slices.Contains(Supported(), AVX512VNNI) {
		t.Skip("no AVX-512 VNNI")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	wins := []arch.Window{
		{H: 28, W: 28, C: 1, Kernel: 5, Stride: 1, Pad: 2},
		{H: 14, W: 14, C: 16, Kernel: 5, Stride: 1, Pad: 2},
		{H: 7, W: 5, C: 3, Kernel: 3, Stride: 2, Pad: 1},
		{H: 1, W: 1, C: 1, Kernel: 1, Stride: 1, Pad: 0},
		{H: 6, W: 9, C: 2, Kernel: 3, Stride: 3, Pad: 0},
		{H: 5, W: 5, C: 7, Kernel: 5, Stride: 1, Pad: 4},
	}
	for len(wins) < 24 {
		k := 1 + rng.IntN(5)
		w := arch.Window{H: 1 + rng.IntN(12), W: 1 + rng.IntN(12), C: 1 + rng.IntN(9), Kernel: k, Stride: 1 + rng.IntN(3), Pad: rng.IntN(k)}
		if w.Check() == nil {
			wins = append(wins, w)
		}
	}
	withPath(t, AVX512VNNI, func() {
		for i, win := range wins {
			for _, bits := range []int{8, 4, 2} {
				out := []int{1, 5, 16, 17, 32, 48}[rng.IntN(6)]
				if i == 0 {
					out = 16
				}
				n := 1 + rng.IntN(4)
				w, ws := packedWeights(t, rng, bits, out, win.PatchLen())
				src := make([]uint8, n*win.InLen())
				for k := range src {
					if rng.IntN(10) < 6 {
						src[k] = uint8(rng.IntN(256))
					}
				}
				zp := []int32{0, 3, 128, 255}[rng.IntN(4)]
				want := naiveConv(w, out, src, n, win, zp)
				img := (win.H + 2*win.Pad) * (win.W + 2*win.Pad) * win.C
				tail := (4 - win.Kernel*win.C%4) % 4
				for _, c := range []struct{ images, workers int }{{1, 1}, {n, 1}, {n, 2}, {1, 3}} {
					images := c.images
					got := make([]int32, len(want))
					scratch := make([]uint8, images*img+tail)
					if !ws.convImplicit(got, src, n, win, zp, scratch, c.workers) {
						t.Fatalf("%+v out %d: convImplicit does not apply", win, out)
					}
					if !slices.Equal(got, want) {
						k := 0
						for got[k] == want[k] {
							k++
						}
						t.Fatalf("%+v int%d out %d n %d zp %d images %d workers %d: element %d is %d, want %d", win, bits, out, n, zp, images, c.workers, k, got[k], want[k])
					}
				}
				if ws.convImplicit(make([]int32, len(want)), src, n, win, zp, make([]uint8, img+tail-1), 1) {
					t.Fatalf("%+v: convImplicit ran with %d bytes of scratch, want at least %d", win, img+tail-1, img+tail)
				}
			}
		}
	})
}

// TestConvImplicitWindows: weights convolved with two windows of the same row length
// (the first window's constants are kept in the weights, the second's computed per call)
// give the direct convolution on both, on whole and partial tiles.
func TestConvImplicitWindows(t *testing.T) {
	if !slices.Contains(Supported(), AVX512VNNI) {
		t.Skip("no AVX-512 VNNI")
	}
	rng := rand.New(rand.NewPCG(71, 72))
	withPath(t, AVX512VNNI, func() {
		a := arch.Window{H: 28, W: 28, C: 1, Kernel: 5, Stride: 1, Pad: 2}
		b := arch.Window{H: 10, W: 7, C: 1, Kernel: 5, Stride: 2, Pad: 1}
		w, ws := packedWeights(t, rng, 8, 16, a.PatchLen())
		for round := range 2 {
			for _, win := range []arch.Window{a, b} {
				n := 3
				src := make([]uint8, n*win.InLen())
				for k := range src {
					src[k] = uint8(rng.IntN(256))
				}
				want := naiveConv(w, 16, src, n, win, 5)
				got := make([]int32, len(want))
				if err := ws.Conv(got, src, n, win, 5, make([]uint8, ConvScratch(win, n)), 1); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("round %d %+v: Conv differs from the direct convolution", round, win)
				}
			}
		}
		if g := ws.simd.geom.Load(); g == nil || g.win != a {
			t.Fatalf("kept constants for %+v, want %+v", g, a)
		}
	})
}

// TestSplitGate: a stalled split (a part much slower than two of the fastest, or the
// split far slower than its parts) keeps the next 256 chunks on one goroutine, then twice
// as many after each further stall, up to 2^16; the first split after that is not judged
// (its worker slept); 1024 judged splits without a stall halve the count; one goroutine
// running every part, a worker waking up late, or a part delayed by 100 µs (as a timer
// interrupt delays a goroutine whether it splits or not) is not a stall, but two such
// delays within 64 splits are.
func TestSplitGate(t *testing.T) {
	var g splitGate
	if !g.open() {
		t.Fatal("a new gate is closed")
	}
	us := time.Microsecond
	ok := func() { g.record(100*us, 7*us, 6*us) } // a worker woke up late: not a stall
	g.record(12*us, 6*us, 6*us)                   // the caller ran both parts
	g.record(105*us, 100*us, 6*us)                // a part hit by a timer interrupt
	ok()
	if !g.open() {
		t.Fatal("closed after splits without a stall")
	}
	closedFor := func() int {
		n := 0
		for !g.open() {
			n++
		}
		return n
	}
	// stall records a stalled split, counts the chunks it closes the gate for, and
	// records the unjudged split that follows (a stall in it changes nothing).
	stall := func(slowest time.Duration) int {
		g.record(2000*us, slowest, 6*us)
		n := closedFor()
		g.record(5000*us, 5000*us, 6*us)
		if !g.open() {
			t.Fatal("the first split after a closed period was judged")
		}
		return n
	}
	for _, want := range []int{256, 512, 1024} {
		if n := stall(2000 * us); n != want {
			t.Fatalf("closed for %d chunks after a stall, want %d", n, want)
		}
	}
	for range 20 {
		stall(2000 * us)
	}
	if n := stall(7 * us); n != 1<<16 { // descheduled before its part began
		t.Fatalf("closed for %d chunks after a split of 2 ms with short parts, want %d", n, 1<<16)
	}
	for range 1023 {
		ok()
	}
	if n := stall(2000 * us); n != 1<<16 {
		t.Fatalf("closed for %d chunks after 1023 splits and a stall, want %d", n, 1<<16)
	}
	for range 3 * 1024 {
		ok()
	}
	if n := stall(2000 * us); n != 1<<14 {
		t.Fatalf("closed for %d chunks after 3072 splits and a stall, want %d", n, 1<<14)
	}
	// Delayed parts: one in 65 splits is not a stall, two within 64 are.
	g = splitGate{}
	delayed := func() { g.record(105*us, 100*us, 6*us) }
	for range 4 {
		delayed()
		for range 64 {
			ok()
		}
	}
	if !g.open() {
		t.Fatal("closed by delayed parts 65 splits apart")
	}
	delayed()
	for range 63 {
		ok()
	}
	delayed()
	if n := closedFor(); n != 256 {
		t.Fatalf("closed for %d chunks after two delayed parts 64 splits apart, want 256", n)
	}
}

// BenchmarkConvSplit times the CNN's second convolution on one image on two workers (the
// runtime's batch 1), with the splits it made and the stalls among them per thousand
// images: on a busy machine the gate keeps most images on one worker.
func BenchmarkConvSplit(b *testing.B) {
	if ActivePath() != AVX512VNNI {
		b.Skip("the split is the AVX-512 VNNI path's")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	win := arch.Window{H: 14, W: 14, C: 16, Kernel: 5, Stride: 1, Pad: 2}
	_, ws := packedWeights(b, rng, 8, 32, win.PatchLen())
	src := make([]uint8, win.InLen())
	for i := range src {
		src[i] = uint8(rng.IntN(256))
	}
	dst, sc := make([]int32, win.OutPixels()*32), make([]uint8, ConvScratch(win, 1))
	for b.Loop() {
		if err := ws.Conv(dst, src, 1, win, 0, sc, 2); err != nil {
			b.Fatal(err)
		}
	}
	g := &ws.simd.split
	b.ReportMetric(float64(g.splits.Load())*1000/float64(b.N), "splits/1000")
	b.ReportMetric(float64(g.stalls.Load())*1000/float64(b.N), "stalls/1000")
}

// TestRowBlocks: one row of a wide layer with several workers on the AVX-512 VNNI path
// (its 64-channel blocks split over them, rowBlocks) equals AccumulateRef bit for bit,
// for dense, sparse and all-zero rows, zero points 0 to 255, int8, int4 and int2 weights.
func TestRowBlocks(t *testing.T) {
	if !slices.Contains(Supported(), AVX512VNNI) {
		t.Skip("no AVX-512 VNNI")
	}
	rng := rand.New(rand.NewPCG(61, 62))
	withPath(t, AVX512VNNI, func() {
		for _, c := range []struct{ in, out int }{{1568, 128}, {1024, 192}, {2049, 256}, {4001, 64}, {300, 128}} {
			for _, bits := range []int{8, 4, 2} {
				_, ws := packedWeights(t, rng, bits, c.out, c.in)
				for _, density := range []int{0, 1, 5, 10} { // of 10
					src := make([]uint8, c.in)
					for k := range src {
						if rng.IntN(10) < density {
							src[k] = uint8(rng.IntN(256))
						}
					}
					zp := []int32{[]int32{0, 7, 128, 255}[rng.IntN(4)]}
					want := make([]int32, c.out)
					if err := ws.AccumulateRef(want, src, 1, zp); err != nil {
						t.Fatal(err)
					}
					for _, workers := range []int{2, 3} {
						got := make([]int32, c.out)
						for k := range got {
							got[k] = -1 // rowBlocks must write every element
						}
						if err := ws.Accumulate(got, src, 1, zp, workers); err != nil {
							t.Fatal(err)
						}
						if !slices.Equal(got, want) {
							t.Fatalf("[%d, %d] int%d density %d zp %d workers %d: differs from AccumulateRef", c.out, c.in, bits, density, zp[0], workers)
						}
					}
				}
				_, fresh := packedWeights(t, rng, bits, c.out, c.in) // its gate open
				applies := fresh.rowBlocks(fresh.vnniLayout(), make([]int32, c.out), make([]uint8, c.in), 2)
				blocks := (c.out + 63) / 64
				if want := blocks >= 2 && (c.in+3)/4*blocks >= 2*rowPartGroups && c.out%64 == 0; applies != want {
					t.Errorf("[%d, %d]: rowBlocks applies %v, want %v", c.out, c.in, applies, want)
				}
			}
		}
	})
}
