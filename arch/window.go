package arch

import "fmt"

// Window is a square sliding window over an NHWC image of H×W pixels and C channels: the
// geometry of a convolution or a max pooling. The image is padded with Pad pixels on
// every side (zeros for a convolution; pooling has none); output pixel (oy, ox) covers
// input rows oy·Stride-Pad ... oy·Stride-Pad+Kernel-1 and the same columns.
type Window struct {
	H, W, C int // input height, width and channels
	Kernel  int // side of the window
	Stride  int // step between windows
	Pad     int // padding on each side
}

// OutH returns the output height, (H + 2·Pad - Kernel)/Stride + 1 (the one place this
// rule is written).
func (w Window) OutH() int { return (w.H+2*w.Pad-w.Kernel)/w.Stride + 1 }

// OutW returns the output width, (W + 2·Pad - Kernel)/Stride + 1.
func (w Window) OutW() int { return (w.W+2*w.Pad-w.Kernel)/w.Stride + 1 }

// PatchLen returns the values in one window, Kernel·Kernel·C: the row length of an im2col
// matrix, in the order (ky, kx, c).
func (w Window) PatchLen() int { return w.Kernel * w.Kernel * w.C }

// InLen returns the values of one input image, H·W·C.
func (w Window) InLen() int { return w.H * w.W * w.C }

// OutPixels returns OutH·OutW.
func (w Window) OutPixels() int { return w.OutH() * w.OutW() }

// Check reports whether the window is well formed: positive sizes within MaxDim, stride
// at least 1, padding in [0, Kernel-1] and the padded image at least one window wide.
func (w Window) Check() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"height", w.H}, {"width", w.W}, {"channels", w.C}, {"kernel", w.Kernel}, {"stride", w.Stride}} {
		if f.v < 1 || f.v > MaxDim {
			return fmt.Errorf("window %s %d: want [1, %d]", f.name, f.v, MaxDim)
		}
	}
	if w.Pad < 0 || w.Pad >= w.Kernel {
		return fmt.Errorf("window pad %d: want [0, kernel-1 = %d]", w.Pad, w.Kernel-1)
	}
	if w.H+2*w.Pad < w.Kernel || w.W+2*w.Pad < w.Kernel {
		return fmt.Errorf("window %d×%d does not fit the %d×%d input padded by %d", w.Kernel, w.Kernel, w.H, w.W, w.Pad)
	}
	if int64(w.PatchLen()) > MaxValues || int64(w.InLen()) > MaxValues {
		return fmt.Errorf("window of %d values over %d: at most %d", w.PatchLen(), w.InLen(), MaxValues)
	}
	return nil
}
