//go:build amd64 && gc && !purego

package gemm

import (
	"unsafe"

	"tinyq/internal/kernel"
)

// The AVX-512 path: 8×32 tiles (16 zmm accumulators) and 128-column rows (8 zmm); products
// of at most 16 columns (the CNN's first convolution) on the AVX2 tiles, which do not pad
// them to 32 (measured on an AMD EPYC, whose 512-bit FMAs take two 256-bit slots: the
// CNN's fp32 forward at batch 1000 on one core, 84 -> 73 µs of CPU per image).
var avx512Path = &tiledPath{mr: 8, nr: 32, rowN: 128, tile: tileAVX512, list: tileListAVX512, row: rowAVX512, nonzero: nonzeroAVX512, narrow: narrowPath(), pack: packPanelAVX512}

// narrowPath returns the AVX2 path for avx512's narrow products when this CPU supports it.
func narrowPath() *tiledPath {
	if kernel.Host().Has(kernel.Float, "avx2") {
		return avx2Path
	}
	return nil
}

// The AVX2 path: 6×16 tiles (12 ymm accumulators) and 64-column rows (8 ymm).
var avx2Path = &tiledPath{mr: 6, nr: 16, rowN: 64, tile: tileAVX2, row: rowAVX2}

// asmPaths returns the assembly paths this CPU supports (tinyq/internal/kernel reads its
// features), fastest last.
func asmPaths() []*path {
	var ps []*path
	for _, name := range kernel.Host().Float {
		switch name {
		case "avx2":
			ps = append(ps, &path{name: name, gemm: avx2Path.gemm, affine: avx2Path.affine})
		case "avx512":
			ps = append(ps, &path{name: name, gemm: avx512Path.gemm, affine: avx512Path.affine})
		}
	}
	return ps
}

// tileAVX512 is the 8×32 tile kernel of tiledPath (in gemm_amd64.s).
//
//go:noescape
func tileAVX512(k int, a unsafe.Pointer, rs, ps uintptr, b unsafe.Pointer, bs uintptr, c unsafe.Pointer, ldc uintptr, init unsafe.Pointer, ldi uintptr, beta float32, flags uintptr)

// tileListAVX512 is the 8×32 list kernel of tiledPath (in gemm_amd64.s).
//
//go:noescape
func tileListAVX512(n int, a *float32, idx *uintptr, b unsafe.Pointer, bs uintptr, c unsafe.Pointer, ldc uintptr, init unsafe.Pointer, ldi uintptr, beta float32, flags uintptr)

// rowAVX512 is the 128-column row kernel of tiledPath (in gemm_amd64.s).
//
//go:noescape
func rowAVX512(n int, vals *float32, offs *uintptr, b unsafe.Pointer, c unsafe.Pointer, init unsafe.Pointer, beta float32, flags uintptr)

// packPanelAVX512 writes k rows of a panel of 32 columns of B (row stride ldb values) to
// dst as [k][32]: the columns where lo (the first 16) and hi (the next 16) have their bit
// set are loaded from src (masked loads: nothing else is read), the others are zero.
//
//go:noescape
func packPanelAVX512(dst, src *float32, k, ldb int, lo, hi uint16)

// tileAVX2 is the 6×16 tile kernel of tiledPath (in gemm_amd64.s).
//
//go:noescape
func tileAVX2(k int, a unsafe.Pointer, rs, ps uintptr, b unsafe.Pointer, bs uintptr, c unsafe.Pointer, ldc uintptr, init unsafe.Pointer, ldi uintptr, beta float32, flags uintptr)

// rowAVX2 is the 64-column row kernel of tiledPath (in gemm_amd64.s).
//
//go:noescape
func rowAVX2(n int, vals *float32, offs *uintptr, b unsafe.Pointer, c unsafe.Pointer, init unsafe.Pointer, beta float32, flags uintptr)

// nonzeroAVX512 lists the nonzero values of blocks·16 contiguous floats and their offsets
// (in gemm_amd64.s).
//
//go:noescape
func nonzeroAVX512(blocks int, a *float32, vals *float32, offs *uintptr, lanes *[16]uintptr, step uintptr) int

// cols8AVX lists the columns of an 8-row tile of op(A) = Aᵀ that are not zero in every row
// (in gemm_amd64.s): listColumns' loop for full tiles of 8.
//
//go:noescape
func cols8AVX(k int, a unsafe.Pointer, ps uintptr, pack *float32, idx *uintptr) int
