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

// TestSplitGate: a stalled split (its parts together much slower than two of its fastest)
// keeps the next 256 chunks on one goroutine, then twice as many after each further stall,
// up to 2^16; 1024 splits without a stall halve that count; one goroutine running every
// part, or a worker waking up, is not a stall; a split far longer than its parts is.
func TestSplitGate(t *testing.T) {
	var g splitGate
	if !g.open() {
		t.Fatal("a new gate is closed")
	}
	us := time.Microsecond
	g.record(12*us, 6*us, 6*us) // the caller ran both parts
	if !g.open() {
		t.Fatal("closed after a split without a stall")
	}
	closedFor := func() int {
		n := 0
		for !g.open() {
			n++
		}
		return n
	}
	stall := func() { g.record(2000*us, 2000*us, 6*us) }
	for _, want := range []int{256, 512, 1024} {
		stall()
		if n := closedFor(); n != want {
			t.Fatalf("closed for %d chunks after a stall, want %d", n, want)
		}
	}
	for range 20 {
		stall()
		g.skip.Store(0)
	}
	if b := g.backoff.Load(); b != 1<<16 {
		t.Fatalf("backoff %d after many stalls, want %d", b, 1<<16)
	}
	for range 1023 {
		g.record(100*us, 7*us, 6*us)
	}
	stall()
	if n := closedFor(); n != 1<<16 {
		t.Fatalf("closed for %d chunks after 1023 splits and a stall, want %d", n, 1<<16)
	}
	g.skip.Store(0)
	g.record(300*us, 7*us, 6*us) // a worker woken up
	if !g.open() {
		t.Fatal("closed after a split whose worker woke up late")
	}
	g.record(2000*us, 7*us, 6*us) // a worker descheduled before its part
	if n := closedFor(); n != 1<<16 {
		t.Fatalf("closed for %d chunks after a split of 2 ms with short parts, want %d", n, 1<<16)
	}
	for range 3 * 1024 {
		g.record(100*us, 7*us, 6*us)
	}
	stall()
	if n := closedFor(); n != 1<<14 {
		t.Fatalf("closed for %d chunks after 3072 splits and a stall, want %d", n, 1<<14)
	}
}
