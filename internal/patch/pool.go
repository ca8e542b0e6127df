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

// WindowRuns calls f for the output pixels of n NHWC images of window w, in order, in runs
// whose windows have the same taps inside the image: kw × kh of them (the padding's taps
// left out), each window's first tap Stride·C values after the one before. first is the
// value offset, in the n images, of the run's first window's first tap inside the image,
// pixels the run's length. Per output row, the windows inside the image's columns make one
// run; each window the padding clips is a run of its own. The one walk of a pooling's
// windows (MaxPool's assembly path, tinyq/qkernel's MaxPoolAcc).
func WindowRuns(n int, w arch.Window, f func(first, kw, kh, pixels int)) {
	outH, outW, kk := w.OutH(), w.OutW(), w.Kernel
	for b := 0; b < n; b++ {
		img := b * w.InLen()
		for oy := 0; oy < outH; oy++ {
			y0 := oy*w.Stride - w.Pad
			ky0, ky1 := max(0, -y0), min(kk, w.H-y0)
			for ox := 0; ox < outW; {
				x0 := ox*w.Stride - w.Pad
				kx0, kx1 := max(0, -x0), min(kk, w.W-x0)
				e := ox + 1
				if kx0 == 0 && kx1 == kk {
					// Windows further right start further right: the run lasts while they end
					// inside the image.
					for e < outW && e*w.Stride-w.Pad+kk <= w.W {
						e++
					}
				}
				f(img+((y0+ky0)*w.W+x0+kx0)*w.C, kx1-kx0, ky1-ky0, e-ox)
				ox = e
			}
		}
	}
}

// maxPoolVec is MaxPool without offsets on kernel k, for values of size bytes: one call per
// run of WindowRuns. c must be a multiple of the kernel's lanes.
func maxPoolVec(dst, src unsafe.Pointer, size, n int, w arch.Window, k poolKernel) {
	c := w.C
	row, step := w.W*c*size, w.Stride*c*size
	d := 0 // output values written
	WindowRuns(n, w, func(first, kw, kh, pixels int) {
		k(unsafe.Add(dst, d*size), unsafe.Add(src, first*size), c, kw, kh, row, step, pixels)
		d += pixels * c
	})
}
