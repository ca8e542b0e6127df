package patch

import (
	"unsafe"

	"tinyq/arch"
)

// poolKernel takes, for each of n output pixels p, the maximum of each of c channels over
// kh×kw taps with MaxPool's rule for ties and NaN, the taps of pixel p at in + p·step +
// ky·row bytes + kx·c values, and writes it at out + p·c values. An assembly kernel.
type poolKernel func(out, in unsafe.Pointer, c, kw, kh, row, step, n int)

// The assembly pooling kernels of this build and process (poolKernels), nil where there is
// none; only tests change them (to run the pure-Go loops). poolF32Wide, where there is
// one, takes the float channel counts that fill its vectors (multiples of
// poolLanesF32Wide), poolF32 the others.
var poolF32, poolF32Wide, poolU8 = poolKernels()

// copyRuns reports whether im2colPadded copies window rows with the assembly copier
// copyRunsCall (copyKernel): it copies the k window rows of run bytes of each of pixels
// windows, the rows of window p at src + p·step + ky·row bytes, to dst one after another
// (runs under 8 bytes as 8, writing up to 7 bytes past the last). Only tests change it.
var copyRuns = copyKernel()

// poolLanes is the channels a kernel's vector holds: poolF32 wants a multiple of 8
// float32s, poolU8 of 16 bytes.
const (
	poolLanesF32 = 8
	// poolLanesF32Wide is poolF32Wide's: 16 float32s (AVX-512).
	poolLanesF32Wide = 16
	poolLanesU8      = 16
)

// maxPoolVec is MaxPool without offsets on kernel k, for values of size bytes: per output
// row, one call for the run of windows inside the image's columns, one call for each
// window the padding clips. c must be a multiple of the kernel's lanes.
func maxPoolVec(dst, src unsafe.Pointer, size, n int, w arch.Window, k poolKernel) {
	outH, outW, kk, c := w.OutH(), w.OutW(), w.Kernel, w.C
	row, step := w.W*c*size, w.Stride*c*size
	d := 0 // output values written
	for b := 0; b < n; b++ {
		img := unsafe.Add(src, b*w.InLen()*size)
		for oy := 0; oy < outH; oy++ {
			y0 := oy*w.Stride - w.Pad
			ky0, ky1 := max(0, -y0), min(kk, w.H-y0)
			for ox := 0; ox < outW; {
				x0 := ox*w.Stride - w.Pad
				kx0, kx1 := max(0, -x0), min(kk, w.W-x0)
				in := unsafe.Add(img, ((y0+ky0)*w.W+x0+kx0)*c*size)
				out := unsafe.Add(dst, d*size)
				if kx0 == 0 && kx1 == kk {
					// Windows further right start further right: the run lasts while they end
					// inside the image.
					e := ox + 1
					for e < outW && e*w.Stride-w.Pad+kk <= w.W {
						e++
					}
					k(out, in, c, kk, ky1-ky0, row, step, e-ox)
					d += (e - ox) * c
					ox = e
					continue
				}
				k(out, in, c, kx1-kx0, ky1-ky0, row, step, 1)
				d += c
				ox++
			}
		}
	}
}
