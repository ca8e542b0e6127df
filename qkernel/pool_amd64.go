//go:build amd64 && gc && !purego

package qkernel

// poolAccFast reports whether MaxPoolAcc takes c channels with poolAccAVX512: on the
// AVX-512 VNNI path, c a multiple of 16.
func poolAccFast(c int) bool { return active == AVX512VNNI && c%16 == 0 }

// poolAccAVX512 is poolAccGo 16 channels at a time (c a multiple of 16; c, row and step in
// int32 elements). See pool_amd64.s.
//
//go:noescape
func poolAccAVX512(out, in *int32, c, kw, kh, row, step, pixels int)

// poolAccCall calls poolAccAVX512.
func poolAccCall(out, in *int32, c, kw, kh, row, step, pixels int) {
	poolAccAVX512(out, in, c, kw, kh, row, step, pixels)
}
