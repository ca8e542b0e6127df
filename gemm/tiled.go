//go:build amd64 && gc && !purego

package gemm

import (
	"math"
	"unsafe"

	"tinyq/internal/par"
)

// tiledPath is an assembly path: a micro-kernel for mr×nr tiles of C and a row kernel for
// products with fewer than mr rows or with sparse rows of A (sparseRows).
//
// The tile kernel computes, for r < mr and j < nr, with c = c[r·ldc + j],
//
//	c = beta·init[r·ldi + j] if flags&1, else +0      (init is C itself, or the bias with ldi 0)
//	c = c + a[r·rs + p·ps]·b[p·bs + j]    for p = 0 .. k-1 (fused multiply-adds)
//	c = max(c, 0) if flags&2                           (Go's max: NaN kept)
//
// with strides in bytes: A is read in place (rows or columns, by the strides), B from a
// packed panel of nr columns (or in place when op(B) = B and the panel is whole). Tiles at
// the edges run the same kernel on zero-padded copies, so that every element of C is computed
// the same way wherever it lies.
//
// The list kernel (optional) is the tile kernel for a tile of A whose columns p are mostly
// zero in all mr rows (MNIST's background): it runs over a list of the n other columns,
// given by their index p (idx) and their mr values packed together (a, [n][mr]), and reads
// B's row p at b + p·bs. Skipping the columns that are zero in every row changes a result at
// most in the sign of a zero.
//
// The row kernel computes one row and rowN columns the same way from a list of the row's
// nonzero terms: their values (vals) and the byte offsets of their rows of B (offs), read in
// place. Skipping the terms where a is ±0 changes a result at most in the sign of a zero (see
// the package documentation); listing them first keeps the kernel free of branches that
// MNIST's zeros would make unpredictable.
type tiledPath struct {
	mr, nr, rowN int
	tile         func(k int, a unsafe.Pointer, rs, ps uintptr, b unsafe.Pointer, bs uintptr, c unsafe.Pointer, ldc uintptr, init unsafe.Pointer, ldi uintptr, beta float32, flags uintptr)
	row          func(n int, vals *float32, offs *uintptr, b unsafe.Pointer, c unsafe.Pointer, init unsafe.Pointer, beta float32, flags uintptr)
	list         func(n int, a *float32, idx *uintptr, b unsafe.Pointer, bs uintptr, c unsafe.Pointer, ldc uintptr, init unsafe.Pointer, ldi uintptr, beta float32, flags uintptr) // optional
	// nonzero (optional) lists the nonzero terms of blocks·16 contiguous values of a row of A
	// for the row kernel, as rowRange's loop does; see nonzeroAVX512.
	nonzero func(blocks int, a *float32, vals *float32, offs *uintptr, lanes *[16]uintptr, step uintptr) int
	// narrow (optional) runs the products of at most narrow.nr columns with A in place
	// (op(A) = A), which this path's tiles would compute half padding: a path with the
	// same arithmetic (one fused multiply-add per term, in order of p) and, for so few
	// columns, no zero skipping on either (no row kernel below rowN columns, no list
	// kernel without Aᵀ), so every element is the same bit for bit.
	narrow *tiledPath
	// pack (optional) packs a panel of op(B) = B of cols <= nr columns: see packPanelAVX512.
	pack func(dst, src *float32, k, ldb int, lo, hi uint16)
}

// indices pools the kernels' lists of indices and offsets.
var indices slicePool[uintptr]

// tiledCall is the part of a call that only the assembly paths use.
type tiledCall struct {
	byRows  bool // parts split the rows (else the columns)
	rowCols int  // > 0: parts compute rows [split) of C's first rowCols columns with the row kernel
	list    bool // try the list kernel on each tile
}

func (tp *tiledPath) gemm(tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	tp.run(newCall(tA, tB, m, n, k, a, lda, b, ldb, beta, c, ldc))
}

// affine is Affine's core on this path: the kernels start from the bias and end with ReLU.
func (tp *tiledPath) affine(m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, relu bool, c []float32, ldc int) {
	s := newCall(false, false, m, n, k, a, lda, b, ldb, 1, c, ldc)
	s.bias, s.relu = bias, relu
	tp.run(s)
}

// run computes the call s and returns it to the pool.
func (tp *tiledPath) run(s *call) {
	if tp.narrow != nil && !s.tA && s.n <= tp.narrow.nr && s.n < tp.narrow.rowN {
		tp.narrow.run(s)
		return
	}
	tA, tB, m, n, k, b, c := s.tA, s.tB, s.m, s.n, s.k, s.b, s.c
	if !tB && n >= tp.rowN && (m < tp.mr || tp.sparseRows(s)) {
		// Few rows, or rows of A that are mostly zero (MNIST's pixels): one row at a time,
		// rowN columns at a time, over the row's nonzero terms, B read in place; the
		// remaining columns go through the tiles.
		s.tc.rowCols = n / tp.rowN * tp.rowN
		s.tiled = tp
		s.parts = partsFor(m, s.tc.rowCols, k, m)
		par.Do(s.parts, s.work)
		if s.tc.rowCols == n {
			s.done()
			return
		}
		nf := s.tc.rowCols
		s.tc.rowCols = 0
		s.b, s.c, s.n = b[nf:], c[nf:], n-nf
		if s.bias != nil {
			s.bias = s.bias[nf:]
		}
		n = s.n
	}
	s.tiled = tp
	tiles, panels := (m+tp.mr-1)/tp.mr, (n+tp.nr-1)/tp.nr
	// Split the rows when B is read in place (nothing to pack), else the panels (columns) if
	// there are enough, so that each part packs only the panels it uses.
	s.tc.byRows = (!tB || panels < 2) && tiles >= 2
	units := panels
	if s.tc.byRows {
		units = tiles
	}
	s.tc.list = false
	if tp.list != nil && tA && !tB && m >= tp.mr {
		// Decide from the first tile whether to try the list kernel at all. Only for
		// op(A) = Aᵀ: for A in place the list costs more than it saves. Measured on one
		// core with real MNIST images: the first layer's forward 128×256×784 (46% of a
		// tile's columns nonzero, B's panel of 100 KB streamed from L2) 318 µs with the
		// list against 296 µs dense; its weight gradient xᵀ·dy, 784×256×128 (39% nonzero,
		// B's panel of 16 KB in L1) 303 µs against 426 µs.
		buf, idx := buffers.get(tp.mr*(k+1)+k), indices.get(k+1)
		s.tc.list = listColumns((*buf)[:tp.mr*(k+1)], *idx, (*buf)[tp.mr*(k+1):], s, 0, tp.mr, tp.mr, k*listMax/100) >= 0
		buffers.put(buf)
		indices.put(idx)
	}
	s.parts = partsFor(m, n, k, units)
	par.Do(s.parts, s.work)
	s.done()
}

// part computes goroutine i's share of C: all rows and a range of panels, or all panels and a
// range of row tiles.
func (tp *tiledPath) part(s *call, i int) {
	if s.tc.rowCols > 0 {
		lo, hi := split(s.m, s.parts, i)
		tp.rowRange(s, lo, hi, 0, s.tc.rowCols)
		return
	}
	mr, nr, k := tp.mr, tp.nr, s.k
	tiles, panels := (s.m+mr-1)/mr, (s.n+nr-1)/nr
	t0, t1, q0, q1 := 0, tiles, 0, panels
	if s.tc.byRows {
		t0, t1 = split(tiles, s.parts, i)
	} else {
		q0, q1 = split(panels, s.parts, i)
	}
	if t0 == t1 || q0 == q1 {
		return
	}
	// Scratch: the packed panels [q1-q0][k][nr], a padded row tile [k][mr], a tile of C, the
	// list kernel's packed values [k+1][mr], indices [k+1] and column mask [k] (its own: a
	// partial tile's apad must survive a list that is given up), a padded piece of the bias.
	np := (q1 - q0) * k * nr
	l := (k + 1) * mr
	buf, idx := buffers.get(np+k*mr+l+mr*nr+nr+k), indices.get(k+1)
	packed := (*buf)[:np]
	apad := (*buf)[np : np+k*mr]
	lpack := (*buf)[np+k*mr : np+k*mr+l]
	ctile := (*buf)[np+k*mr+l : np+k*mr+l+mr*nr]
	bpad := (*buf)[np+k*mr+l+mr*nr : np+k*mr+l+mr*nr+nr]
	lmask := (*buf)[np+k*mr+l+mr*nr+nr : np+k*mr+l+mr*nr+nr+k]
	lidx := *idx

	// Pack the panels that cannot be read in place: all of them for op(B) = Bᵀ, else only a
	// partial last panel.
	for q := q0; q < q1; q++ {
		if !s.tB && (q+1)*nr <= s.n {
			continue
		}
		dst, cols := packed[(q-q0)*k*nr:(q-q0+1)*k*nr], min(nr, s.n-q*nr)
		if tp.pack != nil && !s.tB && k > 0 {
			// B's rows of the panel, read with masks (nothing past column cols), padded
			// with zeros: one call rather than a copy per row and a clear.
			_ = s.b[(k-1)*s.ldb+q*nr+cols-1]
			tp.pack(&dst[0], &s.b[q*nr], k, s.ldb, uint16(1<<min(cols, 16)-1), uint16(1<<max(cols-16, 0)-1))
			continue
		}
		packPanel(dst, s, q*nr, cols, nr)
	}

	ldc := uintptr(s.ldc * f32)
	for t := t0; t < t1; t++ {
		i0 := t * mr
		rows := min(mr, s.m-i0)
		// A's tile in place: row r, column p at a[(i0+r)·lda + p] (or a[p·lda + i0+r] for
		// Aᵀ); a partial tile is copied into apad as [k][mr] with zero rows.
		var ap unsafe.Pointer
		var rs, ps uintptr
		switch {
		case rows < mr:
			packRows(apad, s, i0, rows, mr)
			ap, rs, ps = unsafe.Pointer(&apad[0]), f32, uintptr(mr*f32)
		case s.tA:
			ap, rs, ps = unsafe.Pointer(&s.a[i0]), f32, uintptr(s.lda*f32)
		default:
			ap, rs, ps = unsafe.Pointer(&s.a[i0*s.lda]), uintptr(s.lda*f32), f32
		}
		// A tile whose columns are mostly zero in all its rows goes through the list kernel.
		nl := -1
		if s.tc.list {
			nl = listColumns(lpack, lidx, lmask, s, i0, rows, mr, k*listMax/100)
		}
		for q := q0; q < q1; q++ {
			j0 := q * nr
			cols := min(nr, s.n-j0)
			bp, bs := unsafe.Pointer(&packed[(q-q0)*k*nr]), uintptr(nr*f32)
			if !s.tB && cols == nr {
				bp, bs = unsafe.Pointer(&s.b[j0]), uintptr(s.ldb*f32)
			}
			// The tile starts from C's block (ldc), or from the bias row repeated (stride 0).
			flags := s.flags()
			init, ldi := unsafe.Pointer(&s.c[i0*s.ldc+j0]), ldc
			if s.bias != nil {
				if cols == nr {
					init = unsafe.Pointer(&s.bias[j0])
				} else {
					clear(bpad)
					copy(bpad, s.bias[j0:j0+cols])
					init = unsafe.Pointer(&bpad[0])
				}
				ldi = 0
			}
			if nl >= 0 {
				if rows == mr && cols == nr {
					tp.list(nl, &lpack[0], &lidx[0], bp, bs, unsafe.Pointer(&s.c[i0*s.ldc+j0]), ldc, init, ldi, s.beta, flags)
					continue
				}
			} else if rows == mr && cols == nr {
				tp.tile(k, ap, rs, ps, bp, bs, unsafe.Pointer(&s.c[i0*s.ldc+j0]), ldc, init, ldi, s.beta, flags)
				continue
			}
			// Edge: through ctile, a copy of C's block (or of the bias) padded with zeros.
			ct := unsafe.Pointer(&ctile[0])
			if s.bias == nil {
				if s.beta != 0 {
					clear(ctile)
					for r := 0; r < rows; r++ {
						copy(ctile[r*nr:r*nr+cols], s.c[(i0+r)*s.ldc+j0:])
					}
				}
				init, ldi = ct, uintptr(nr*f32)
			}
			if nl >= 0 {
				tp.list(nl, &lpack[0], &lidx[0], bp, bs, ct, uintptr(nr*f32), init, ldi, s.beta, flags)
			} else {
				tp.tile(k, ap, rs, ps, bp, bs, ct, uintptr(nr*f32), init, ldi, s.beta, flags)
			}
			for r := 0; r < rows; r++ {
				copy(s.c[(i0+r)*s.ldc+j0:(i0+r)*s.ldc+j0+cols], ctile[r*nr:])
			}
		}
	}
	buffers.put(buf)
	indices.put(idx)
}

// rowRange computes rows [i0, i1) of C, columns [j0, j1) (whole chunks of rowN), with the
// row kernel.
func (tp *tiledPath) rowRange(s *call, i0, i1, j0, j1 int) {
	k := s.k
	buf, idx := buffers.get(k+16), indices.get(k+32)
	vals, offs := *buf, *idx
	for i := i0; i < i1; i++ {
		n := tp.terms(s, i, vals, offs)
		for j := j0; j < j1; j += tp.rowN {
			c := unsafe.Pointer(&s.c[i*s.ldc+j])
			init := c
			if s.bias != nil {
				init = unsafe.Pointer(&s.bias[j])
			}
			tp.row(n, &vals[0], &offs[0], unsafe.Pointer(&s.b[j]), c, init, s.beta, s.flags())
		}
	}
	buffers.put(buf)
	indices.put(idx)
}

// sparseRows reports whether op(A) is sparse enough for the row kernel: at most rowDensity
// percent of the terms of sampleRows of its rows, spread evenly, nonzero. The choice depends
// only on A, never on how the call is split, and changes a result at most in the sign of a
// zero (see the package documentation). Paths without an assembly list builder (avx2) build
// the list in Go, which still pays: MNIST's first layer, 1000×256×784, took 3.2 ms on one
// core against 4.8 ms dense.
func (tp *tiledPath) sparseRows(s *call) bool {
	if s.tA {
		// For op(A) = Aᵀ the list kernel does better on MNIST's dW = xᵀ·dy, whose zero
		// pixels are the same in many images: a training step took 0.94 ms with it and 1.17
		// ms with the row kernel (medians of 5, real MNIST batches).
		return false
	}
	rows := min(s.m, sampleRows)
	buf, idx := buffers.get(s.k+16), indices.get(s.k+32)
	nz := 0
	for j := 0; j < rows; j++ {
		nz += tp.terms(s, j*s.m/rows, *buf, *idx)
	}
	buffers.put(buf)
	indices.put(idx)
	return nz*100 <= rowDensity*rows*s.k
}

// sampleRows is how many rows of A, spread evenly, sparseRows looks at.
const sampleRows = 8

// rowDensity is the largest share of nonzero terms, in percent, for which sparseRows chooses
// the row kernel. Measured on one core, 128×256×784 with zeros at random: the row kernel wins
// below about 28% nonzero (207 µs against 314 µs dense at 19%), loses above (362 against 314
// at 30%); MNIST's pixels are 19% nonzero, a trained model's hidden layer 38-41%.
const rowDensity = 30

// terms writes the nonzero terms of row i of op(A), in order of p, for the row kernel: their
// values into vals and the byte offsets of their rows of B (p·ldb·4) into offs, and returns
// how many. vals holds at least k+16 elements, offs k+32 (the last 16 are scratch).
func (tp *tiledPath) terms(s *call, i int, vals []float32, offs []uintptr) int {
	k, ldb := s.k, uintptr(s.ldb*f32)
	n, p0 := 0, 0
	ai, stride := i*s.lda, 1
	if s.tA {
		ai, stride = i, s.lda
	} else if tp.nonzero != nil && k >= 16 {
		lanes := (*[16]uintptr)(offs[k+16:]) // in the pooled buffer: a local array would escape
		for j := range lanes {
			lanes[j] = uintptr(j) * ldb
		}
		blocks := k / 16
		n = tp.nonzero(blocks, &s.a[ai], &vals[0], &offs[0], lanes, 16*ldb)
		p0 = blocks * 16
	}
	// Locals, so that the stores into vals and offs do not make the compiler reload s.a.
	a, vals, offs := s.a[ai:], vals[:k+16], offs[:k+16]
	for p := p0; p < k; p++ {
		v := a[p*stride]
		vals[n], offs[n] = v, uintptr(p)*ldb
		n += nonzero(v)
	}
	return n
}

// flags returns the kernels' flags for the call: bit 0, start from beta·C or the bias (else
// +0); bit 1, ReLU at the end.
func (s *call) flags() uintptr {
	var f uintptr
	if s.beta != 0 || s.bias != nil {
		f |= 1
	}
	if s.relu {
		f |= 2
	}
	return f
}

// listColumns writes, for each column p of op(A)'s rows [i0, i0+rows) that is not zero in
// every row, p into idx and the column's values into pack ([n][mr], zero past rows), and
// returns the number n of such columns, or -1 if there are more than max. pack holds at
// least (k+1)·mr elements, idx k+1 (one group of room past the last), scratch k.
func listColumns(pack []float32, idx []uintptr, scratch []float32, s *call, i0, rows, mr, max int) int {
	k := s.k
	if s.tA && rows == 8 && mr == 8 {
		// A full tile of the AVX-512 path (the only one with a list kernel): in assembly.
		n := cols8AVX(k, unsafe.Pointer(&s.a[i0]), uintptr(s.lda*f32), &pack[0], &idx[0])
		if n > max {
			return -1
		}
		return n
	}
	// Which columns are nonzero (mask[p] = 1), reading A in storage order, without branches.
	mask := unsafe.Slice((*uint32)(unsafe.Pointer(&scratch[0])), k)
	if s.tA {
		for p := 0; p < k; p++ {
			var bits uint32 // the OR of the values' bits without their signs: 0 iff all are ±0
			for _, v := range s.a[p*s.lda+i0 : p*s.lda+i0+rows] {
				bits |= math.Float32bits(v) << 1
			}
			mask[p] = (bits | -bits) >> 31
		}
	} else {
		clear(mask)
		for r := i0; r < i0+rows; r++ {
			for p, v := range s.a[r*s.lda : r*s.lda+k] {
				mask[p] |= uint32(nonzero(v))
			}
		}
	}
	n := 0
	for p := 0; p < k; p++ {
		idx[n] = uintptr(p)
		n += int(mask[p])
	}
	if n > max {
		return -1
	}
	for t, p := range idx[:n] {
		col := pack[t*mr : (t+1)*mr]
		if s.tA {
			for r, v := range s.a[int(p)*s.lda+i0 : int(p)*s.lda+i0+rows] {
				col[r] = v
			}
		} else {
			for r := 0; r < rows; r++ {
				col[r] = s.a[(i0+r)*s.lda+int(p)]
			}
		}
		clear(col[rows:])
	}
	return n
}

// listMax is the largest share of nonzero columns, in percent, for which a tile goes through
// the list kernel: its extra cost per column (an index load and a multiply) is small, so it
// wins as soon as a few columns are skipped. On MNIST about 45% of a tile's columns (8 images)
// are nonzero. Sgemm tries the list kernel only if A's first tile qualifies (one decision
// per call, from data that does not depend on how the call is split).
const listMax = 90

// packPanel writes op(B)[p, j0:j0+cols] for every p into dst as [k][nr], zero past cols.
func packPanel(dst []float32, s *call, j0, cols, nr int) {
	k := s.k
	if cols < nr {
		clear(dst)
	}
	if !s.tB {
		for p := 0; p < k; p++ {
			copy(dst[p*nr:p*nr+cols], s.b[p*s.ldb+j0:p*s.ldb+j0+cols])
		}
		return
	}
	// op(B)[p, j] = b[j·ldb + p], transposed 16 values of p at a time so that the rows of
	// dst being written stay in L1.
	for p0 := 0; p0 < k; p0 += 16 {
		p1 := min(p0+16, k)
		for j := 0; j < cols; j++ {
			row := (j0 + j) * s.ldb
			for p, v := range s.b[row+p0 : row+p1] {
				dst[(p0+p)*nr+j] = v
			}
		}
	}
}

// packRows writes op(A)[i0+r, p] for r < rows into dst as [k][mr], zero for r >= rows.
func packRows(dst []float32, s *call, i0, rows, mr int) {
	clear(dst)
	for r := 0; r < rows; r++ {
		for p := 0; p < s.k; p++ {
			if s.tA {
				dst[p*mr+r] = s.a[p*s.lda+i0+r]
			} else {
				dst[p*mr+r] = s.a[(i0+r)*s.lda+p]
			}
		}
	}
}
