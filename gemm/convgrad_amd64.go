//go:build amd64 && gc && !purego

package gemm

//go:generate go run gen_convgrad.go

import "unsafe"

// sparseKernel is the signature of the sparse kernels (convgrad_kernels_amd64.s, written
// by gen_convgrad.go): the kernel of S segments of V vectors runs S·V zmm (or ymm) accumulators,
// for each group k < ng, over its entries i in [spans[2k], spans[2k+1]): accumulator
// (s, v) starts from dst at byte offset doff[k] + s·dstride + v·(vector bytes), gets
// fma(vals[i], src at byte offset off[i] + s·sstride + 64v, acc) for each entry in order,
// and is stored back (see ConvGrad).
type sparseKernel func(ng int, spans *int32, vals *float32, off *int32, src, dst unsafe.Pointer, doff *int32, sstride, dstride uintptr)

// sparseKernels reports that this build has the sparse kernels.
const sparseKernels = true

// sparseRun runs the sparse kernels of the active path (AVX-512 or AVX2) over ng groups
// for windows of segs rows of run values (whole vectors): entry rows from src (plus off;
// row s at s·sstride values on) into the groups' rows in dst (plus doff; row s at
// s·dstride values on). A window of 3 or 5 rows that fits the registers is one kernel
// call, every accumulator in a register; other windows go a row, and a block of at most
// 8 vectors, at a time. The callers (ConvGrad) build offsets that stay within src and dst.
func sparseRun(ng int, spans []int32, vals []float32, off []int32, src, dst []float32, doff []int32, segs, run, sstride, dstride int) {
	if ng == 0 {
		return
	}
	_ = spans[2*ng-1]
	_ = doff[ng-1]
	table, width := &sparseTableAVX512, 16
	if ActivePath() == AVX2 {
		table, width = &sparseTableAVX2, 8
	}
	vecs := run / width
	call := func(k sparseKernel, s, v int) {
		k(ng, &spans[0], &vals[0], &off[0], unsafe.Pointer(&src[s*sstride+v*width]), unsafe.Pointer(&dst[s*dstride+v*width]), &doff[0], uintptr(sstride*f32), uintptr(dstride*f32))
	}
	if segs < len(table) && vecs < len(table[segs]) && table[segs][vecs] != nil {
		call(table[segs][vecs], 0, 0)
		return
	}
	for s := range segs {
		for v := 0; v < vecs; v += 8 {
			call(table[1][min(8, vecs-v)], s, v)
		}
	}
}

// compressRowsAVX512 lists the nonzero values of rows of blocks·16 values and their
// columns' offsets (in convgrad_amd64.s): for each row r, appends its values that are not
// ±0 (NaN is listed) to outVals and offs[j] of their columns j to outOffs, in order, and
// sets counts[r]. It writes whole vectors: 16 elements of room past the total.
//
//go:noescape
func compressRowsAVX512(rows, blocks int, vals *float32, offs *int32, outVals *float32, outOffs *int32, counts *int32)

// compressRowsAVX2 is compressRowsAVX512 for AVX2 over blocks of 8 values, permuting each
// block's nonzero values to its front with perm[mask] (compressPerm).
//
//go:noescape
func compressRowsAVX2(rows, blocks int, vals *float32, offs *int32, outVals *float32, outOffs *int32, counts *int32, perm *[256][8]int32)

// compressPerm[m] lists the lanes of the set bits of m in order, then the others: the
// permutation that packs a block's nonzero values (mask m) to its front.
var compressPerm = func() (p [256][8]int32) {
	for m := range p {
		k := 0
		for _, set := range []bool{true, false} {
			for lane := range 8 {
				if (m>>lane&1 == 1) == set {
					p[m][k] = int32(lane)
					k++
				}
			}
		}
	}
	return p
}()

// compressRows is compressRowsAVX512 or compressRowsAVX2 over slices (bounds checked here):
// vals holds rows rows of len(offs) values, len(offs) a multiple of sparseWidth();
// outVals and outOffs hold 16 values past the most the rows can list.
func compressRows(rows int, vals []float32, offs []int32, outVals []float32, outOffs []int32, counts []int32) {
	if rows == 0 {
		return
	}
	_ = vals[rows*len(offs)-1]
	_ = outVals[rows*len(offs)+15]
	_ = outOffs[rows*len(offs)+15]
	_ = counts[rows-1]
	if sparseWidth() == 8 {
		compressRowsAVX2(rows, len(offs)/8, &vals[0], &offs[0], &outVals[0], &outOffs[0], &counts[0], &compressPerm)
		return
	}
	compressRowsAVX512(rows, len(offs)/16, &vals[0], &offs[0], &outVals[0], &outOffs[0], &counts[0])
}
