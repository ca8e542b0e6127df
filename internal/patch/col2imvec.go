package patch

// addGo adds src to dst elementwise (len(src) values).
func addGo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] += v
	}
}

// addRunsGo adds runs runs of runLen values of src, srcStride apart, to dst's runs,
// dstStride apart: dst[i·dstStride+j] += src[i·srcStride+j], runs in order.
func addRunsGo(dst, src []float32, runs, runLen, dstStride, srcStride int) {
	for i := range runs {
		addTo(dst[i*dstStride:i*dstStride+runLen], src[i*srcStride:i*srcStride+runLen])
	}
}
