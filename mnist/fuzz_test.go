package mnist_test

import (
	"bytes"
	"testing"

	"tinyq/mnist"
)

// FuzzReadImages checks that ReadImages never panics and that a success is an exact
// round trip: the input is precisely the header for (n, rows, cols) followed by the
// n*rows*cols pixels.
func FuzzReadImages(f *testing.F) {
	f.Add(imagesFile(2, 2, 3, ramp(12)))
	f.Add(imagesFile(0, 28, 28, nil))
	f.Add(imagesFile(1, 28, 28, ramp(28*28-1)))       // truncated
	f.Add(append(imagesFile(1, 1, 1, []byte{9}), 0))  // trailing byte
	f.Add(imagesFile(0xffffffff, 0xffffffff, 1, nil)) // absurd size
	f.Add(idx(0x801, []uint32{1, 1, 1}, []byte{0}))   // wrong magic
	f.Add([]byte{0, 0, 8, 3})                         // header cut short
	f.Fuzz(func(t *testing.T, data []byte) {
		pixels, n, rows, cols, err := mnist.ReadImages(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		if len(pixels) != n*rows*cols {
			t.Fatalf("len(pixels) = %d, want %d×%d×%d", len(pixels), n, rows, cols)
		}
		if got := imagesFile(n, rows, cols, pixels); !bytes.Equal(got, data) {
			t.Fatalf("re-encoding (n=%d rows=%d cols=%d) differs from the input", n, rows, cols)
		}
	})
}

// FuzzReadLabels checks the same properties for labels, plus the 0..9 range.
func FuzzReadLabels(f *testing.F) {
	f.Add(labelsFile([]byte{0, 9, 5}))
	f.Add(labelsFile([]byte{10}))
	f.Add(idx(0x801, []uint32{5}, []byte{1}))
	f.Fuzz(func(t *testing.T, data []byte) {
		labels, err := mnist.ReadLabels(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		for i, l := range labels {
			if l > 9 {
				t.Fatalf("label[%d] = %d accepted", i, l)
			}
		}
		if got := labelsFile(labels); !bytes.Equal(got, data) {
			t.Fatalf("re-encoding differs from the input")
		}
	})
}
