package patch

// addGo adds src to dst elementwise (len(src) values).
func addGo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] += v
	}
}
