package train

import "fmt"

// MaxShift bounds Config.Shift: a translation wider than this moves a 28×28 digit mostly
// out of its image.
const MaxShift = 8

// shifted copies the image src (h×w pixels of c channels, NHWC) into dst translated by (dy,
// dx) pixels, filling the uncovered border with zeros: dst[y, x] = src[y-dy, x-dx].
func shifted(dst, src []float32, h, w, c, dy, dx int) {
	clear(dst)
	for y := max(0, dy); y < min(h, h+dy); y++ {
		sy := y - dy
		x0, x1 := max(0, dx), min(w, w+dx)
		copy(dst[(y*w+x0)*c:(y*w+x1)*c], src[(sy*w+x0-dx)*c:(sy*w+x1-dx)*c])
	}
}

// shiftOf returns the translation of sample position pos of epoch epoch under seed: each of
// dy and dx uniform in [-s, s], from a SplitMix64 hash of the three, so that it does not
// depend on how a batch is split over the CPUs, nor on anything but the seed, the epoch and
// the position (a resumed run draws the same shifts).
func shiftOf(seed int64, epoch, pos, s int) (dy, dx int) {
	z := uint64(seed)*0x9e3779b97f4a7c15 ^ uint64(epoch)<<40 ^ uint64(pos)
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	n := uint64(2*s + 1)
	return int(z%n) - s, int(z/n%n) - s
}

// checkShift checks Config.Shift against the model's input image.
func checkShift(s, h, w, in int) error {
	if s < 0 || s > MaxShift {
		return fmt.Errorf("train: shift %d, want 0 to %d pixels", s, MaxShift)
	}
	if s > 0 && (h < 1 || w < 1 || in%(h*w) != 0) {
		return fmt.Errorf("train: shift needs images: the model's %d inputs are not %dx%d pixels of whole channels", in, h, w)
	}
	return nil
}
