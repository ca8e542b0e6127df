//go:build amd64 && gc && !purego

package gemm

import "unsafe"

// The sparse kernels (convgrad_amd64.s): sparseRowsNAVX512 runs N zmm accumulators, for
// each group k < ng, over its entries i in [spans[2k], spans[2k+1]): the accumulators
// start from dst at byte offset doff[k], get fma(vals[i], src at byte offset off[i], acc) for
// each entry in order, and are stored back (see ConvGrad).
//
//go:noescape
func sparseRows1AVX512(ng int, spans *int32, vals *float32, off *int32, src, dst unsafe.Pointer, doff *int32)

//go:noescape
func sparseRows2AVX512(ng int, spans *int32, vals *float32, off *int32, src, dst unsafe.Pointer, doff *int32)

//go:noescape
func sparseRows3AVX512(ng int, spans *int32, vals *float32, off *int32, src, dst unsafe.Pointer, doff *int32)

//go:noescape
func sparseRows4AVX512(ng int, spans *int32, vals *float32, off *int32, src, dst unsafe.Pointer, doff *int32)

//go:noescape
func sparseRows5AVX512(ng int, spans *int32, vals *float32, off *int32, src, dst unsafe.Pointer, doff *int32)

//go:noescape
func sparseRows6AVX512(ng int, spans *int32, vals *float32, off *int32, src, dst unsafe.Pointer, doff *int32)

//go:noescape
func sparseRows7AVX512(ng int, spans *int32, vals *float32, off *int32, src, dst unsafe.Pointer, doff *int32)

//go:noescape
func sparseRows8AVX512(ng int, spans *int32, vals *float32, off *int32, src, dst unsafe.Pointer, doff *int32)

// sparseKernels reports that this build has the sparse kernels.
const sparseKernels = true

// sparseVariants are the kernels by number of vectors, 1 to 8.
var sparseVariants = [...]func(ng int, spans *int32, vals *float32, off *int32, src, dst unsafe.Pointer, doff *int32){
	sparseRows1AVX512, sparseRows2AVX512, sparseRows3AVX512, sparseRows4AVX512,
	sparseRows5AVX512, sparseRows6AVX512, sparseRows7AVX512, sparseRows8AVX512,
}

// sparseRows runs the kernel of nv (1 to 8) vectors over ng groups. The callers (ConvGrad)
// build offsets that stay within src and dst: every entry's row, nv·16 values from src at
// off, and every group's from dst at doff.
func sparseRows(nv, ng int, spans []int32, g []float32, off []int32, src, dst []float32, doff []int32) {
	if ng == 0 {
		return
	}
	_ = spans[2*ng-1]
	_ = doff[ng-1]
	sparseVariants[nv-1](ng, &spans[0], &g[0], &off[0], unsafe.Pointer(&src[0]), unsafe.Pointer(&dst[0]), &doff[0])
}

// compressRowsAVX512 lists the nonzero values of rows of blocks·16 values and their
// columns' offsets (in convgrad_amd64.s): for each row r, appends its values that are not
// ±0 (NaN is listed) to outVals and offs[j] of their columns j to outOffs, in order, and
// sets counts[r]. It writes whole vectors: 16 elements of room past the total.
//
//go:noescape
func compressRowsAVX512(rows, blocks int, vals *float32, offs *int32, outVals *float32, outOffs *int32, counts *int32)

// compressRows is compressRowsAVX512 over slices (bounds checked here): vals holds rows
// rows of len(offs) values, len(offs) a multiple of 16; outVals and outOffs hold 16 values
// past the most the rows can list.
func compressRows(rows int, vals []float32, offs []int32, outVals []float32, outOffs []int32, counts []int32) {
	if rows == 0 {
		return
	}
	_ = vals[rows*len(offs)-1]
	_ = outVals[rows*len(offs)+15]
	_ = outOffs[rows*len(offs)+15]
	_ = counts[rows-1]
	compressRowsAVX512(rows, len(offs)/16, &vals[0], &offs[0], &outVals[0], &outOffs[0], &counts[0])
}
