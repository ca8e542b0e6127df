//go:build amd64 && gc && !purego

package qkernel

import (
	"math"
	"sync/atomic"
	"time"

	"tinyq/arch"
)

// convImplicit is Conv on the AVX-512 VNNI path without the patch matrix, for layers in
// 16-channel blocks (at most 48 outputs): the images of a chunk are padded once (the pad
// value is zp) into scratch, and each tile of six output pixels reads its windows in
// place. A window row of Kernel·C inputs is read as ceil(Kernel·C/4) groups of 4 bytes,
// group q of row ky at the fixed byte offset ky·paddedW·C + 4q from the window's corner
// (convLayout). Where Kernel·C is not a multiple of 4 (the CNN's first convolution, 5·1)
// the last group of a row reads up to 3 bytes past it (the next pixels, or the padded
// images' tail of zp bytes), which meet zero weights. Every group is summed (no zero
// skipping), so the result is Σ x·w over the padded window minus zp·colsum, the same
// integers as Accumulate on the patch matrix. With workers > 1, a chunk with enough work
// (implicitPartGroups: one image's second convolution of the CNN) splits its tiles over
// tinyq/internal/par's workers while splitGate lets it. It reports false, doing nothing,
// where it does not apply.
func (w *Weights) convImplicit(dst []int32, src []uint8, n int, win arch.Window, zp int32, scratch []uint8, workers int) bool {
	if active != AVX512VNNI || w.Out > 48 || n == 0 {
		return false
	}
	rowLen := win.Kernel * win.C
	l := w.convLayout(rowLen)
	if l == nil || l.groups*4 < win.PatchLen() {
		return false
	}
	rowGroups := l.groups / win.Kernel
	tail := 4*rowGroups - rowLen // bytes read past the last window row
	pw, ph, c := win.W+2*win.Pad, win.H+2*win.Pad, win.C
	img := ph * pw * c
	if len(scratch) < img+tail || img > math.MaxInt32/(vnniRows+1) { // int32 offsets (convGeom)
		return false
	}
	ic := implicitConv{l: l, img: img, pix: win.OutPixels(), outW: win.OutW(), outH: win.OutH(), step: win.Stride * c, down: win.Stride * pw * c}
	if geom := w.convGeometry(win, &ic, rowGroups); geom != nil {
		ic.offs, ic.corners = geom.offs, geom.corners
	} else {
		s, _ := vnniPool.Get().(*vnniScratch)
		if s == nil {
			s = &vnniScratch{}
		}
		defer vnniPool.Put(s)
		s.groups = groupOffsets(s.groups, win, rowGroups, pw)
		ic.offs = s.groups
	}
	per := (len(scratch) - tail) / img // images padded at once
	for b := 0; b < n; b += per {
		k := min(per, n-b)
		padded := scratch[:k*img+tail]
		padded[0] = uint8(zp)
		for i := 1; i < len(padded); i *= 2 {
			copy(padded[i:], padded[:i]) // doubling: log2(len) memmoves
		}
		for im := 0; im < k; im++ {
			from := src[(b+im)*win.InLen():]
			to := padded[im*img:]
			for y := 0; y < win.H; y++ {
				copy(to[((y+win.Pad)*pw+win.Pad)*c:], from[y*win.W*c:(y+1)*win.W*c])
			}
		}
		ic.padded, ic.rows = padded, k*ic.pix
		d := dst[b*ic.pix*w.Out : (b*ic.pix+ic.rows)*w.Out]
		tiles := (ic.rows + vnniRows - 1) / vnniRows
		parts := min(workers, tiles*l.blocks*l.groups/implicitPartGroups)
		if parts <= 1 || !w.simd.split.open() {
			w.implicitTiles(&ic, d, 0, tiles)
		} else {
			j := getJob(w, d, padded, k, parts, implicitRange)
			j.simd.conv = ic
			j.splitTimed(&w.simd.split, tiles)
		}
		w.subtractZeroPoints(d, ic.rows, zeroPoints[zp:zp+1])
	}
	return true
}

// groupOffsets returns the byte offsets of a window's input groups from its corner in the
// padded image (paddedW wide), in offs' memory: group q of window row ky at
// ky·paddedW·C + 4q.
func groupOffsets(offs []int32, win arch.Window, rowGroups, paddedW int) []int32 {
	offs = offs[:0]
	for ky := range win.Kernel {
		for q := range rowGroups {
			offs = append(offs, int32(ky*paddedW*win.C+4*q))
		}
	}
	return offs
}

// convGeom is convImplicit's constants for one window, kept in the Weights.
type convGeom struct {
	win  arch.Window
	offs []int32 // groupOffsets
	// corners[p] is the byte offset of output pixel p's window in its padded image; the
	// vnniRows-1 entries past OutPixels continue into the following padded images (the
	// next one's first window at img + corners[0]), so that a tile across images reads its
	// corners in a row.
	corners []int32
}

// convGeometry returns convImplicit's constants for win, built on the first call (for
// the first window asked: a layer convolves one window, and another one gets nil, for
// which convImplicit computes what it needs on each call).
func (w *Weights) convGeometry(win arch.Window, c *implicitConv, rowGroups int) *convGeom {
	g := w.simd.geom.Load()
	if g == nil {
		g = &convGeom{win: win, offs: groupOffsets(nil, win, rowGroups, win.W+2*win.Pad), corners: make([]int32, c.pix+vnniRows-1)}
		for p := range g.corners {
			q := p % c.pix
			g.corners[p] = int32(p/c.pix*c.img + q/c.outW*c.down + q%c.outW*c.step)
		}
		if !w.simd.geom.CompareAndSwap(nil, g) {
			g = w.simd.geom.Load()
		}
	}
	if g.win != win {
		return nil
	}
	return g
}

// implicitPartGroups is the least work, in input groups of six-pixel tiles of 16 channels
// (6 VPDPBUSD each), for which convImplicit hands a part to another worker: about
// 1000·6 = 6000 VPDPBUSD, 2 µs at one a cycle, against well under a microsecond to hand a
// part over to a spinning worker and bring its results back. The CNN's second convolution
// on one image has 33·2·100 = 6600 (split), its first 131·1·10 = 1310 (not).
const implicitPartGroups = 1000

// implicitConv is a chunk of padded images for convImplicit's tiles.
type implicitConv struct {
	l          *vnniLayout
	offs       []int32 // the groups' byte offsets from a window's corner
	corners    []int32 // convGeom's, or nil
	padded     []uint8 // the padded images
	img        int     // bytes per padded image
	pix        int     // output pixels per image
	outW, outH int
	step, down int // bytes from a window to the next one right, and down
	rows       int // output pixels of the chunk
}

// implicitRange is a splitJob's work for convImplicit: tiles [t0, t1), timed.
func implicitRange(j *splitJob, t0, t1 int) {
	start := time.Now()
	j.w.implicitTiles(&j.simd.conv, j.dst, t0, t1)
	j.notePart(time.Since(start))
}

// splitGate decides whether convImplicit splits a chunk over workers. A split pays only
// while the other workers run: on a machine whose cores are busy with other programs, the
// operating system deschedules a worker in the middle of its part for milliseconds, and
// the caller waits for it. Measured on 2 cores with one other busy thread, splitting every
// image's second convolution of the CNN gave one image in 31-58 µs, against 29 µs on one
// core: a stall costs as much as hundreds of splits gain, so a split pays only if nearly
// none stall. A stalled split (see lateSlack: a goroutine descheduled while it ran a
// part) keeps the next 256 chunks on the calling goroutine, twice as many after each
// further stall (up to 2^16, about a second of images); every 1024 splits in a row
// without a stall halve that count again. A worker
// that starts its part late (waking up: par's workers sleep after a pause) is not a stall:
// the parts' own durations are compared, not the split's. The first split after a closed
// period is not judged: its worker has slept, and measured on the 2-core virtual machine
// a woken worker's first part often takes 35-95 µs instead of 6 (its core waking up), so
// judging it kept the gate closed for good. Only the speed depends on the gate.
type splitGate struct {
	skip     atomic.Int32 // chunks left to run on one goroutine
	backoff  atomic.Int32 // the skip a stall sets next: 0, then 256 to 2^16
	streak   atomic.Int32 // splits since the last stall or halving
	cold     atomic.Bool  // the next split ends a closed period: not judged
	lastSlow atomic.Int64 // the number (splits) of the last delayed split
	splits   atomic.Int64 // splits judged, and stalls among them (for benchmarks)
	stalls   atomic.Int64
}

// open reports whether the next chunk may be split.
func (g *splitGate) open() bool {
	if g.skip.Load() <= 0 {
		return true
	}
	g.skip.Add(-1)
	return false
}

// A part that takes more than slowSlack longer than two of the fastest was delayed;
// more than lateSlack longer, descheduled for another program (0.5-4 ms measured): the
// split stalled. Delays of the size between happen on an idle machine too (on the 2-core
// virtual machine a 6 µs part takes 40-100 µs about every 4 ms, as often as the kernel's
// timer ticks), and delay one goroutine as much whether it splits or not; they count as a
// stall only when two come within slowSplits splits (on a busy machine they come far more
// often, and the goroutines that share the cores with others lose more than they gain).
const (
	slowSlack  = 20 * time.Microsecond
	lateSlack  = 200 * time.Microsecond
	slowSplits = 64
)

// wakeSlack is how much longer than two fastest parts a whole split may take before it
// counts as stalled even though no part ran long (a goroutine descheduled between
// claiming its part and starting it): longer than a sleeping worker takes to wake up on a
// small virtual machine (30-65 µs measured, 60-200 µs for a new goroutine), shorter
// than a descheduled goroutine's delay.
const wakeSlack = 500 * time.Microsecond

// record notes a split's wall time and its slowest and fastest parts' durations.
func (g *splitGate) record(total, slowest, fastest time.Duration) {
	if g.cold.Swap(false) {
		return
	}
	n := g.splits.Add(1)
	stalled := slowest > 2*fastest+lateSlack || total > 2*fastest+wakeSlack
	if !stalled && slowest > 2*fastest+slowSlack {
		last := g.lastSlow.Swap(n)
		stalled = last > 0 && n-last <= slowSplits
	}
	if !stalled {
		if g.streak.Add(1) >= 1024 {
			g.streak.Store(0)
			g.backoff.Store(g.backoff.Load() / 2)
		}
		return
	}
	g.stalls.Add(1)
	b := min(max(2*g.backoff.Load(), 256), 1<<16)
	g.backoff.Store(b)
	g.skip.Store(b)
	g.streak.Store(0)
	g.cold.Store(true)
}

// implicitTiles computes the six-pixel tiles [t0, t1) of the chunk c into d ([c.rows, Out],
// before the zero point's correction).
func (w *Weights) implicitTiles(c *implicitConv, d []int32, t0, t1 int) {
	s, _ := vnniPool.Get().(*vnniScratch)
	if s == nil {
		s = &vnniScratch{}
	}
	defer vnniPool.Put(s)
	l, offs, out := c.l, c.offs, w.Out
	ldc := 16 * l.blocks
	s.c = grow(s.c, vnniRows*ldc)
	if c.corners != nil && out%16 == 0 {
		// Whole tiles in one call: the kernel reads the windows' corners from the table.
		if e := min(t1, c.rows/vnniRows); t0 < e {
			r := t0 * vnniRows
			vnniConvRun(&c.padded[r/c.pix*c.img], &c.corners[0], r%c.pix, c.pix, c.img, e-t0,
				&offs[0], l.groups, &l.w[0], l.groups*64, l.blocks, &d[r*out], 4*out)
			t0 = e
		}
	}
	var ptrs [vnniRows]*uint8
	// The next window's corner: image im, output pixel (oy, ox), at byte at.
	r := t0 * vnniRows
	im := r / c.pix
	oy, ox := r%c.pix/c.outW, r%c.pix%c.outW
	at := im*c.img + oy*c.down + ox*c.step
	for r0 := r; r0 < min(c.rows, t1*vnniRows); r0 += vnniRows {
		cnt := min(vnniRows, c.rows-r0)
		for r := range cnt {
			ptrs[r] = &c.padded[at]
			if ox++; ox < c.outW {
				at += c.step
				continue
			}
			ox = 0
			if oy++; oy < c.outH {
				at = im*c.img + oy*c.down
				continue
			}
			oy = 0
			im++
			at = im * c.img
		}
		for r := cnt; r < vnniRows; r++ {
			ptrs[r] = ptrs[cnt-1] // a partial tile repeats its last window
		}
		direct := cnt == vnniRows && out%16 == 0
		for bl := 0; bl < l.blocks; bl++ {
			wb := &l.w[bl*l.groups*64]
			if direct {
				vnni6x16i(&ptrs, &offs[0], l.groups, wb, &d[r0*out+16*bl], 4*out)
			} else {
				vnni6x16i(&ptrs, &offs[0], l.groups, wb, &s.c[16*bl], 4*ldc)
			}
		}
		if !direct {
			for r := 0; r < cnt; r++ {
				copy(d[(r0+r)*out:(r0+r+1)*out], s.c[r*ldc:])
			}
		}
	}
}

// convLayout returns the weights packed for convImplicit, for windows whose rows hold
// rowLen inputs: the VNNI layout of 16-channel blocks, each window row's inputs padded
// with zero weights to whole groups of 4 (the plain VNNI layout where rowLen is a multiple
// of 4). It returns nil where the layout has 64-channel blocks, or for a second row length
// (the layout is built for the first one asked; Conv then takes the patch matrix).
func (w *Weights) convLayout(rowLen int) *vnniLayout {
	if rowLen <= 0 || w.In%rowLen != 0 {
		return nil
	}
	if rowLen%4 == 0 {
		if l := w.vnniLayout(); l.width == 16 {
			return l
		}
		return nil
	}
	if w.Out > 48 {
		return nil
	}
	w.simd.convOnce.Do(func() {
		rg, rows := (rowLen+3)/4, w.In/rowLen
		g := rows * rg
		nb := (w.Out + 15) / 16
		l := &vnniLayout{groups: g, width: 16, blocks: nb, w: make([]int8, nb*g*64), all: make([]int32, g)}
		for k := range l.all {
			l.all[k] = int32(k)
		}
		for o := 0; o < w.Out; o++ {
			b, j := o/16, o%16
			for i := 0; i < w.In; i++ {
				ky, r := i/rowLen, i%rowLen
				l.w[(b*g+ky*rg+r/4)*64+j*4+r%4] = w.At(o, i)
			}
		}
		w.simd.conv, w.simd.convRow = l, rowLen
	})
	if w.simd.convRow != rowLen {
		return nil
	}
	return w.simd.conv
}
