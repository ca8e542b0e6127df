package patch

import "tinyq/arch"

// MaxPoolGradInto writes the gradient of a max pooling into dx: the same values, bit for
// bit, as clear(dx) followed by MaxPoolGrad(dx, dy, arg, n, w), where arg holds the offsets
// MaxPool (or MaxPoolArg) recorded for these windows. When the windows tile the images
// exactly (Pad 0, Stride = Kernel, H and W multiples of Kernel: the CNN's 2x2 poolings)
// over a multiple of 8 channels and the CPU and build allow, every element of dx lies in
// one window and is written once, +0 + dy where it is its window's maximum and +0
// elsewhere, 8 channels at a time without branches (AVX2), a row of windows per assembly
// call: no separate clear, no scattered additions. An offset outside its own window then
// drops its gradient rather than panicking. Other windows go through MaxPoolGrad.
func MaxPoolGradInto(dx, dy []float32, arg []int32, n int, w arch.Window) {
	per := w.OutPixels() * w.C
	check("MaxPoolGradInto", n, w, "dx", len(dx), n*w.InLen(), "dy", len(dy), n*per, "arg", len(arg), n*per)
	k := w.Kernel
	if w.Pad != 0 || w.Stride != k || w.H%k != 0 || w.W%k != 0 || !routeImages(dx, dy, arg, n, w) {
		clear(dx)
		MaxPoolGrad(dx, dy, arg, n, w)
	}
}
