package infer

import (
	"fmt"
	"math"
)

// unitDivisor is the divisor of the images Repixel rewrites: 255, the default input record's
// (DefaultInput) and the mnist package's (mnist.Set holds pixel/255).
const unitDivisor = 255

// Repixel rewrites in place images that hold pixel/255 (as the mnist package loads them, and
// as DefaultInput reads pixels) into the input m's record asks for, exactly as Pixels makes
// it from the same bytes: unchanged for a pixel/255 model, pixel/127.5 for a model whose file
// says pixel_divisor 127.5. It works a chunk at a time, so that the caller never holds two
// copies of a large set. A value that is not a byte over 255 is an error, and images that are
// not whole are refused before anything is rewritten.
func Repixel(m Model, images []float32) error {
	in, _ := m.Shape()
	if len(images)%in != 0 {
		return fmt.Errorf("infer: %d values are not whole images of %d", len(images), in)
	}
	if m.Input().PixelDivisor == unitDivisor {
		return nil
	}
	const chunk = 1000 // images at a time
	pixels := make([]uint8, 0, chunk*in)
	for lo := 0; lo < len(images); lo += chunk * in {
		x := images[lo:min(lo+chunk*in, len(images))]
		pixels = pixels[:len(x)]
		for i, v := range x {
			// The byte whose pixel/255 v is: float32(p)/255 is exact to within 2^-24 relative,
			// far from the 0.5 that rounding would need to go wrong, and checked.
			p := math.Round(float64(v) * unitDivisor)
			if !(p >= 0 && p <= 255) || float32(p)/unitDivisor != v {
				return fmt.Errorf("infer: image value %v is not a pixel over %v", v, unitDivisor)
			}
			pixels[i] = uint8(p)
		}
		y, err := Pixels(m, pixels)
		if err != nil {
			return err
		}
		copy(x, y)
	}
	return nil
}
