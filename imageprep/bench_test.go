package imageprep

import (
	"image"
	"testing"
)

// photo12MP is a 4000×3000 JPEG-like image (YCbCr 4:2:0): light paper and a dark bar.
func photo12MP() *image.YCbCr {
	m := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
	for i := range m.Y {
		m.Y[i] = 200
	}
	for i := range m.Cb {
		m.Cb[i], m.Cr[i] = 128, 128
	}
	for y := 1000; y < 2500; y++ {
		for x := 1800; x < 2100; x++ {
			m.Y[y*m.YStride+x] = 60
		}
	}
	return m
}

func BenchmarkMNIST(b *testing.B) {
	for _, bc := range []struct {
		name string
		img  image.Image
	}{
		{"28x28 pass-through", rects(Size, Size, image.Rect(9, 4, 19, 24))},
		{"140x140 black on white", strokes(140, 140, 255, 0, 9, seven...)},
		{"4000x3000 YCbCr", photo12MP()},
		{"4000x3000 YCbCr, EXIF orientation 6", orient(photo12MP(), rightTop)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := MNIST(bc.img); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
