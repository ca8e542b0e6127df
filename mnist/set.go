package mnist

// Set is a labelled image set. Images are float32 in [0,1] (pixel/255), row-major
// [N, Rows*Cols].
type Set struct {
	Images        []float32 // [N*Rows*Cols]
	Labels        []uint8   // [N], each 0..9
	N, Rows, Cols int
}

// Slice returns samples [lo, hi) as a Set that shares memory with s; nothing is copied.
// Like a slice expression, it panics unless 0 <= lo <= hi <= s.N.
func (s *Set) Slice(lo, hi int) *Set {
	if lo < 0 || hi < lo || hi > s.N {
		panic("mnist: Set.Slice bounds out of range")
	}
	size := s.Rows * s.Cols
	return &Set{
		Images: s.Images[lo*size : hi*size : hi*size], // [hi-lo, Rows*Cols]; capped so append cannot overwrite s
		Labels: s.Labels[lo:hi:hi],
		N:      hi - lo,
		Rows:   s.Rows,
		Cols:   s.Cols,
	}
}

// Image returns the Rows*Cols pixels of sample i, sharing memory with s.
// It panics unless 0 <= i < s.N.
func (s *Set) Image(i int) []float32 {
	if i < 0 || i >= s.N {
		panic("mnist: Set.Image index out of range")
	}
	size := s.Rows * s.Cols
	return s.Images[i*size : (i+1)*size : (i+1)*size] // [Rows*Cols]
}

// toFloat maps a pixel byte to [0,1]: toFloat[p] = float32(p)/255, rounded once in
// float32, so 0 -> 0, 51 -> float32(0.2), 255 -> 1 exactly.
var toFloat = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// newSet converts pixels [n*rows*cols] to float32 and pairs them with labels [n].
func newSet(pixels []uint8, labels []uint8, n, rows, cols int) *Set {
	images := make([]float32, len(pixels)) // [n, rows*cols]
	for i, p := range pixels {
		images[i] = toFloat[p]
	}
	return &Set{Images: images, Labels: labels, N: n, Rows: rows, Cols: cols}
}
