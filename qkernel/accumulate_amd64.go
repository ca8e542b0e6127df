//go:build amd64 && gc && !purego

package qkernel

import (
	"encoding/binary"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// vnniLayout is a weight matrix packed for the AVX-512 VNNI micro-kernels: blocks of 64
// output channels; in each block, for each group g of 4 inputs, 4 vectors of 16 lanes x 4
// bytes, lane j of vector v holding W[64·block+16v+j][4g..4g+3]. Channels past Out and inputs
// past In are zero, so padded activations and outputs contribute nothing.
type vnniLayout struct {
	groups int     // input groups of 4: ceil(In/4)
	width  int     // output channels per block: 64, or 16 for layers of at most 16 outputs
	blocks int     // output blocks: ceil(Out/width)
	w      []int8  // [blocks][groups][width/16][16][4]
	all    []int32 // every group, 0 .. groups-1 (never modified)
}

// simdLayouts are the weight layouts of the SIMD paths, each built on its first use.
type simdLayouts struct {
	vnniOnce sync.Once
	vnni     *vnniLayout
	avnOnce  sync.Once
	avn      *vnniLayout // AVX-VNNI: the VNNI layout in blocks of 16 channels, 2 vectors of 8
	avx2Once sync.Once
	avx2     *avx2Layout
	split    splitGate                // whether convImplicit splits its tiles over workers
	geom     atomic.Pointer[convGeom] // convImplicit's constants for the first window
	convOnce sync.Once
	conv     *vnniLayout // convLayout's, for window rows of convRow inputs
	convRow  int
}

// bytes returns the memory the built layouts hold.
func (s *simdLayouts) bytes() int {
	n := 0
	if s.vnni != nil {
		n += len(s.vnni.w)
	}
	if s.avx2 != nil {
		n += 2 * len(s.avx2.w)
	}
	if s.avn != nil {
		n += len(s.avn.w)
	}
	if s.conv != nil {
		n += len(s.conv.w)
	}
	return n
}

// vnniBlock is the number of output channels the main micro-kernels compute per call.
const vnniBlock = 64

// vnniRows is the number of rows the main micro-kernel computes at once.
const vnniRows = 6

// checkGroups is the most input groups for which the six-row tiles skip looking for zero
// groups: summing every group costs less than the look (about 25 ns per tile, against
// 6 VPDPBUSD per group; the CNN's first convolution has 7 groups and 131 tiles per image).
// Skipping zero terms never changes an integer sum, so this changes only speed (measured:
// the CNN's W8A8 forward at batch 1000 on one core, 28 -> 25 µs of CPU per image).
const checkGroups = 16

func (w *Weights) vnniLayout() *vnniLayout {
	w.simd.vnniOnce.Do(func() {
		g := (w.In + 3) / 4
		width := vnniBlock
		if w.Out <= 48 {
			// A 64-wide block would be at least a quarter padding (the CNN's second
			// convolution, 32 channels: half): blocks of 16 channels, whose kernel has six
			// independent accumulators, as many as VPDPBUSD's latency needs. Measured on
			// an AMD EPYC, the CNN's W8A8 forward at batch 1000 on one core: 41 -> 32 µs
			// of CPU per image.
			width = 16
		}
		nb := (w.Out + width - 1) / width
		nv := width / 16
		l := &vnniLayout{groups: g, width: width, blocks: nb, w: make([]int8, nb*g*4*width), all: make([]int32, g)}
		for k := range l.all {
			l.all[k] = int32(k)
		}
		for o := 0; o < w.Out; o++ {
			b, v, j := o/width, (o%width)/16, o%16
			for i := 0; i < w.In; i++ {
				l.w[((b*g+i/4)*nv+v)*64+j*4+i%4] = w.At(o, i)
			}
		}
		w.simd.vnni = l
	})
	return w.simd.vnni
}

// vnniScratch is per-call working memory, pooled.
type vnniScratch struct {
	groups []int32  // the nonzero groups of the current row tile
	masks  []uint16 // nonzeroMask's output
	a      []uint8  // a padded copy of a partial last tile, [vnniRows][4·groups]
	c      []int32  // a padded output tile, [vnniRows][64·blocks]
}

var vnniPool sync.Pool

// accumulateFast runs Accumulate on the active SIMD path; it reports false when there is none.
func (w *Weights) accumulateFast(dst []int32, src []uint8, batch int, zp []int32, workers int) bool {
	switch active {
	case AVX2:
		w.accumulateAVX2(dst, src, batch, workers)
		w.subtractZeroPoints(dst, batch, zp)
		return true
	case AVXVNNI:
		w.accumulateAVXVNNI(dst, src, batch, workers)
		w.subtractZeroPoints(dst, batch, zp)
		return true
	case AVX512VNNI:
	default:
		return false
	}
	l := w.vnniLayout()
	tiles := (batch + vnniRows - 1) / vnniRows
	oneRow := batch < vnniRows && l.width == vnniBlock
	if oneRow {
		tiles = batch // single rows: the one-row kernel
	}
	if oneRow && batch == 1 && workers > 1 && w.rowBlocks(l, dst, src, workers) {
		w.subtractZeroPoints(dst, batch, zp)
		return true
	}
	workers = max(1, min(workers, tiles))
	if workers <= 1 {
		w.vnniTiles(l, dst, src, batch, oneRow, 0, tiles)
	} else {
		j := getJob(w, dst, src, batch, workers, vnniRange)
		j.simd = simdJob{layout: l, oneRow: oneRow}
		j.do(tiles)
	}
	w.subtractZeroPoints(dst, batch, zp)
	return true
}

// subtractZeroPoints turns Σ q·w into Σ (q - zp)·w: dst[b, o] -= zp_b·colsum[o] (int32,
// wrapping like the reference).
func (w *Weights) subtractZeroPoints(dst []int32, batch int, zp []int32) {
	if len(zp) == 1 {
		// One zero point for every row (static mode, convolutions): nothing to do for 0, the
		// common case (ReLU outputs and [0, 1] pixels), else one pass without the per-row
		// choice.
		z := zp[0]
		if z == 0 {
			return
		}
		cs := w.colsum[:w.Out]
		for b := 0; b < batch; b++ {
			row := dst[b*w.Out : (b+1)*w.Out]
			for o := range row {
				row[o] -= z * cs[o]
			}
		}
		return
	}
	for b := 0; b < batch; b++ {
		z := zp[0]
		if len(zp) > 1 {
			z = zp[b]
		}
		if z == 0 {
			continue
		}
		row := dst[b*w.Out : (b+1)*w.Out]
		for o := range row {
			row[o] -= z * w.colsum[o]
		}
	}
}

// nonzero returns the groups of 4 inputs in which any of rows rows of a (stride lda bytes)
// has a nonzero byte: l.all when every group does (dense activations: no list to build),
// or with most set when at least three in four do (one row: summing a zero group, 4
// VPDPBUSD a block, costs less than listing the others, about a nanosecond a group; the
// CNN's first dense layer, 392 groups), else a list built in s.groups. a must hold
// (rows-1)·lda + 64·ceil(groups/16) bytes.
func (l *vnniLayout) nonzero(s *vnniScratch, a []uint8, lda, rows int, most bool) []int32 {
	chunks := (l.groups + 15) / 16
	s.masks = grow(s.masks, chunks)
	nonzeroMask(&a[0], lda, rows, chunks, &s.masks[0])
	dense, set := true, 0
	for c, m := range s.masks {
		want := uint16(0xFFFF)
		if rest := l.groups - 16*c; rest < 16 {
			want = 1<<rest - 1
		}
		if m&want != want {
			dense = false
		}
		set += bits.OnesCount16(m & want)
	}
	if dense || most && 4*set >= 3*l.groups {
		return l.all
	}
	s.groups = s.groups[:0]
	for c, m := range s.masks {
		for m != 0 {
			g := 16*c + bits.TrailingZeros16(m)
			if g >= l.groups {
				break
			}
			s.groups = append(s.groups, int32(g))
			m &= m - 1
		}
	}
	return s.groups
}

// tile returns rows rows of src starting at row r0 as the kernels read them: in place when
// every read stays inside src, else copied into a zero-padded buffer. It returns the rows and
// their stride.
func (l *vnniLayout) tile(s *vnniScratch, src []uint8, in, r0, rows, kernelRows int) ([]uint8, int) {
	span := 64 * ((l.groups + 15) / 16) // bytes the mask and the kernels may read per row
	a := src[r0*in:]
	if rows == kernelRows && len(a) >= (kernelRows-1)*in+span {
		return a, in
	}
	s.a = grow(s.a, kernelRows*span)
	clear(s.a)
	for r := 0; r < rows; r++ {
		copy(s.a[r*span:], src[(r0+r)*in:(r0+r+1)*in])
	}
	return s.a, span
}

// vnniTile computes rows [6t, 6t+6) of dst (fewer for the last tile).
func (w *Weights) vnniTile(l *vnniLayout, s *vnniScratch, dst []int32, src []uint8, batch, t int) {
	out := w.Out
	r0 := t * vnniRows
	rows := min(vnniRows, batch-r0)
	a, lda := l.tile(s, src, w.In, r0, rows, vnniRows)
	groups := l.all
	if l.groups > checkGroups {
		groups = l.nonzero(s, a, lda, rows, false)
		if len(groups) == 0 {
			clear(dst[r0*out : (r0+rows)*out])
			return
		}
	}
	// The kernel writes whole 64-channel blocks: straight into dst when they fit, else into
	// the padded tile.
	direct := out%l.width == 0 && rows == vnniRows
	ldc := out
	c := dst[r0*out:]
	if !direct {
		ldc = l.width * l.blocks
		s.c = grow(s.c, vnniRows*ldc)
		c = s.c
	}
	for b := 0; b < l.blocks; b++ {
		wb := &l.w[b*l.groups*4*l.width]
		if l.width == 16 {
			vnni6x16(&a[0], lda, wb, &groups[0], len(groups), &c[b*16], 4*ldc)
		} else {
			vnni6x64(&a[0], lda, wb, &groups[0], len(groups), &c[b*vnniBlock], 4*ldc)
		}
	}
	if !direct {
		for r := 0; r < rows; r++ {
			copy(dst[(r0+r)*out:(r0+r+1)*out], s.c[r*ldc:])
		}
	}
}

// vnniRow computes row r of dst with the one-row kernel.
func (w *Weights) vnniRow(l *vnniLayout, s *vnniScratch, dst []int32, src []uint8, r int) {
	out := w.Out
	a, _ := l.tile(s, src, w.In, r, 1, 1)
	groups := l.nonzero(s, a, 0, 1, true)
	if len(groups) == 0 {
		clear(dst[r*out : (r+1)*out])
		return
	}
	ldc := vnniBlock * l.blocks
	c := dst[r*out:]
	if out%vnniBlock != 0 {
		s.c = grow(s.c, ldc)
		c = s.c
	}
	for b := 0; b < l.blocks; b++ {
		vnni1x64(&a[0], &l.w[b*l.groups*256], &groups[0], len(groups), &c[b*vnniBlock])
	}
	if out%vnniBlock != 0 {
		copy(dst[r*out:(r+1)*out], s.c)
	}
}

// avx2Layout is a weight matrix packed for the AVX2 micro-kernel: blocks of 16 output
// channels; in each block, for each pair p of inputs, 2 vectors of 8 lanes x 2 int16, lane j
// of vector v holding W[16·block+8v+j][2p, 2p+1]. Padding channels and inputs are zero.
type avx2Layout struct {
	pairs  int     // input pairs: ceil(In/2)
	blocks int     // output blocks of 16: ceil(Out/16)
	w      []int16 // [blocks][pairs][2][8][2]
}

// avx2Block is the number of output channels one AVX2 micro-kernel call computes.
const avx2Block = 16

func (w *Weights) avx2Layout() *avx2Layout {
	w.simd.avx2Once.Do(func() {
		np := (w.In + 1) / 2
		nb := (w.Out + avx2Block - 1) / avx2Block
		l := &avx2Layout{pairs: np, blocks: nb, w: make([]int16, nb*np*32)}
		for o := 0; o < w.Out; o++ {
			b, v, j := o/avx2Block, (o%avx2Block)/8, o%8
			for i := 0; i < w.In; i++ {
				l.w[((b*np+i/2)*2+v)*16+j*2+i%2] = int16(w.At(o, i))
			}
		}
		w.simd.avx2 = l
	})
	return w.simd.avx2
}

// avx2Scratch is per-call working memory of the AVX2 path, pooled.
type avx2Scratch struct {
	pairs []int32 // the nonzero pairs of the current tile
	a     []int16 // the tile widened to int16, [vnniRows][2·pairs]
	c     []int32 // the output tile, [vnniRows][16·blocks]
}

var avx2Pool sync.Pool

// accumulateAVX2 computes Σ q·w (no zero point) in tiles of six rows.
func (w *Weights) accumulateAVX2(dst []int32, src []uint8, batch, workers int) {
	l := w.avx2Layout()
	tiles := (batch + vnniRows - 1) / vnniRows
	workers = max(1, min(workers, tiles))
	if workers <= 1 {
		w.avx2Tiles(l, dst, src, batch, 0, tiles)
	} else {
		j := getJob(w, dst, src, batch, workers, avx2Range)
		j.simd.layout = l
		j.do(tiles)
	}
}

// avxvnniLayout returns the weights packed for the AVX-VNNI kernel: the vnniLayout order with
// blocks of 16 channels, each group's 16 lanes of 4 bytes split into two ymm vectors of 8.
// (That is vnniLayout with width 16, whose vector of 16 lanes is the two ymm halves.)
func (w *Weights) avxvnniLayout() *vnniLayout {
	w.simd.avnOnce.Do(func() {
		g := (w.In + 3) / 4
		nb := (w.Out + 15) / 16
		l := &vnniLayout{groups: g, width: 16, blocks: nb, w: make([]int8, nb*g*64), all: make([]int32, g)}
		for k := range l.all {
			l.all[k] = int32(k)
		}
		for o := 0; o < w.Out; o++ {
			b, j := o/16, o%16
			for i := 0; i < w.In; i++ {
				l.w[(b*g+i/4)*64+j*4+i%4] = w.At(o, i)
			}
		}
		w.simd.avn = l
	})
	return w.simd.avn
}

// nonzeroScalar is vnniLayout.nonzero without AVX-512: the groups of 4 inputs in which any of
// rows rows of a (stride lda bytes) has a nonzero byte.
func (l *vnniLayout) nonzeroScalar(s *vnniScratch, a []uint8, lda, rows int) []int32 {
	s.groups = s.groups[:0]
	for g := 0; g < l.groups; g++ {
		var or uint32
		for r := 0; r < rows; r++ {
			or |= binary.LittleEndian.Uint32(a[r*lda+4*g:])
		}
		if or != 0 {
			s.groups = append(s.groups, int32(g))
		}
	}
	if len(s.groups) == l.groups {
		return l.all
	}
	return s.groups
}

// accumulateAVXVNNI computes Σ q·w (no zero point) in tiles of six rows with the AVX-VNNI
// kernel.
func (w *Weights) accumulateAVXVNNI(dst []int32, src []uint8, batch, workers int) {
	l := w.avxvnniLayout()
	tiles := (batch + vnniRows - 1) / vnniRows
	workers = max(1, min(workers, tiles))
	if workers <= 1 {
		w.avxvnniTiles(l, dst, src, batch, 0, tiles)
	} else {
		j := getJob(w, dst, src, batch, workers, avxvnniRange)
		j.simd.layout = l
		j.do(tiles)
	}
}

// vnniTiles runs tiles [t0, t1).
func (w *Weights) vnniTiles(l *vnniLayout, dst []int32, src []uint8, batch int, oneRow bool, t0, t1 int) {
	s, _ := vnniPool.Get().(*vnniScratch)
	if s == nil {
		s = &vnniScratch{}
	}
	for t := t0; t < t1; t++ {
		if oneRow {
			w.vnniRow(l, s, dst, src, t)
		} else {
			w.vnniTile(l, s, dst, src, batch, t)
		}
	}
	vnniPool.Put(s)
}

// avx2Tiles runs tiles [t0, t1).
func (w *Weights) avx2Tiles(l *avx2Layout, dst []int32, src []uint8, batch int, t0, t1 int) {
	s, _ := avx2Pool.Get().(*avx2Scratch)
	if s == nil {
		s = &avx2Scratch{}
	}
	lda := 2 * l.pairs
	ldc := avx2Block * l.blocks
	s.a, s.c = grow(s.a, vnniRows*lda), grow(s.c, vnniRows*ldc)
	for t := t0; t < t1; t++ {
		r0 := t * vnniRows
		rows := min(vnniRows, batch-r0)
		clear(s.a)
		s.pairs = s.pairs[:0]
		for r := 0; r < rows; r++ {
			row := s.a[r*lda : (r+1)*lda]
			for i, v := range src[(r0+r)*w.In : (r0+r+1)*w.In] {
				row[i] = int16(v)
			}
		}
		for p := 0; p < l.pairs; p++ {
			var or int16
			for r := 0; r < rows; r++ {
				or |= s.a[r*lda+2*p] | s.a[r*lda+2*p+1]
			}
			if or != 0 {
				s.pairs = append(s.pairs, int32(p))
			}
		}
		if len(s.pairs) == 0 {
			clear(dst[r0*w.Out : (r0+rows)*w.Out])
			continue
		}
		for b := 0; b < l.blocks; b++ {
			avx2x6x16(&s.a[0], 2*lda, &l.w[b*l.pairs*32], &s.pairs[0], len(s.pairs), &s.c[b*avx2Block], 4*ldc)
		}
		for r := 0; r < rows; r++ {
			copy(dst[(r0+r)*w.Out:(r0+r+1)*w.Out], s.c[r*ldc:])
		}
	}
	avx2Pool.Put(s)
}

// avxvnniTiles runs tiles [t0, t1).
func (w *Weights) avxvnniTiles(l *vnniLayout, dst []int32, src []uint8, batch int, t0, t1 int) {
	s, _ := vnniPool.Get().(*vnniScratch)
	if s == nil {
		s = &vnniScratch{}
	}
	ldc := 16 * l.blocks
	s.c = grow(s.c, vnniRows*ldc)
	for t := t0; t < t1; t++ {
		r0 := t * vnniRows
		rows := min(vnniRows, batch-r0)
		a, lda := l.tile(s, src, w.In, r0, rows, vnniRows)
		groups := l.nonzeroScalar(s, a, lda, rows)
		if len(groups) == 0 {
			clear(dst[r0*w.Out : (r0+rows)*w.Out])
			continue
		}
		for b := 0; b < l.blocks; b++ {
			avxvnni6x16(&a[0], lda, &l.w[b*l.groups*64], &groups[0], len(groups), &s.c[b*16], 4*ldc)
		}
		for r := 0; r < rows; r++ {
			copy(dst[(r0+r)*w.Out:(r0+r+1)*w.Out], s.c[r*ldc:])
		}
	}
	vnniPool.Put(s)
}

// simdJob is a splitJob's arguments for the SIMD paths.
type simdJob struct {
	layout any          // the path's weight layout (a pointer)
	oneRow bool         // the VNNI path's one-row kernel
	conv   implicitConv // the VNNI path's implicit convolution
	row    []uint8      // the VNNI path's one row split by blocks (rowBlocks): the row,
	groups []int32      // and its nonzero groups
	// A split judged by splitGate: its parts' shortest and longest durations in
	// nanoseconds (atomic).
	fastest, slowest int64
}

// vnniRange, avx2Range and avxvnniRange are a splitJob's work on the SIMD paths: tiles
// [t0, t1).
func vnniRange(j *splitJob, t0, t1 int) {
	j.w.vnniTiles(j.simd.layout.(*vnniLayout), j.dst, j.src, j.batch, j.simd.oneRow, t0, t1)
}

func avx2Range(j *splitJob, t0, t1 int) {
	j.w.avx2Tiles(j.simd.layout.(*avx2Layout), j.dst, j.src, j.batch, t0, t1)
}

func avxvnniRange(j *splitJob, t0, t1 int) {
	j.w.avxvnniTiles(j.simd.layout.(*vnniLayout), j.dst, j.src, j.batch, t0, t1)
}

// rowPartGroups is the least work per part, in input groups of 64-channel blocks (4
// VPDPBUSD and 256 bytes of weights each), for which one row's blocks are split over
// workers: the CNN's first dense layer, 392 groups of 2 blocks, takes about 2 µs on one
// core, bound by reading its 200 KB of weights from the core's L2 cache, so a part of
// 256 takes about 0.6 µs, above the hand-over to a polling worker.
const rowPartGroups = 256

// rowBlocks is Accumulate of one row with workers > 1 on the VNNI path, its 64-channel
// blocks split over workers (each reading its blocks' weights), while the weights'
// splitGate lets it; it reports false, doing nothing, where it does not apply.
func (w *Weights) rowBlocks(l *vnniLayout, dst []int32, src []uint8, workers int) bool {
	parts := min(workers, l.blocks, l.groups*l.blocks/rowPartGroups)
	if parts <= 1 || w.Out%vnniBlock != 0 || !w.simd.split.open() {
		return false
	}
	s, _ := vnniPool.Get().(*vnniScratch)
	if s == nil {
		s = &vnniScratch{}
	}
	defer vnniPool.Put(s)
	a, _ := l.tile(s, src, w.In, 0, 1, 1)
	groups := l.nonzero(s, a, 0, 1, true)
	if len(groups) == 0 {
		clear(dst)
		return true
	}
	j := getJob(w, dst, src, 1, parts, rowBlocksRange)
	j.simd = simdJob{layout: l, row: a, groups: groups}
	j.splitTimed(&w.simd.split, l.blocks)
	return true
}

// rowBlocksRange is a splitJob's work for rowBlocks: blocks [b0, b1), timed.
func rowBlocksRange(j *splitJob, b0, b1 int) {
	start := time.Now()
	l := j.simd.layout.(*vnniLayout)
	for b := b0; b < b1; b++ {
		vnni1x64(&j.simd.row[0], &l.w[b*l.groups*256], &j.simd.groups[0], len(j.simd.groups), &j.dst[b*vnniBlock])
	}
	j.notePart(time.Since(start))
}

// splitTimed runs units [0, units) of j over its workers, records the split's and its
// parts' durations in g (the parts call notePart), and releases j.
func (j *splitJob) splitTimed(g *splitGate, units int) {
	j.simd.fastest, j.simd.slowest = math.MaxInt64, 0
	start := time.Now()
	j.runParts(units)
	g.record(time.Since(start), time.Duration(j.simd.slowest), time.Duration(j.simd.fastest))
	j.release()
}

// notePart records a part's duration for splitTimed.
func (j *splitJob) notePart(took time.Duration) {
	for {
		f := atomic.LoadInt64(&j.simd.fastest)
		if int64(took) >= f || atomic.CompareAndSwapInt64(&j.simd.fastest, f, int64(took)) {
			break
		}
	}
	for {
		f := atomic.LoadInt64(&j.simd.slowest)
		if int64(took) <= f || atomic.CompareAndSwapInt64(&j.simd.slowest, f, int64(took)) {
			return
		}
	}
}
