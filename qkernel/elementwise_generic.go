//go:build !amd64 || !gc || purego

package qkernel

// Without assembly every element-wise stage runs its generic implementation: the fast
// hooks below report that they did nothing.

func quantizeFast(dst []uint8, x []float32, scale float32, zp, qmin, qmax int32) bool {
	return false
}

func rangeFast(x []float32) (lo, hi float32, ok bool) { return 0, 0, false }

func dequantizeFast(dst []float32, acc []int32, rows, out int, rowScale, wScale, bias []float32, relu bool) int {
	return 0
}

func logitsFast(dst []float32, acc []int32, rows, out int, bias []int32, logitScale []float32, relu bool) int {
	return 0
}

func requantizeFast(dst []uint8, acc []int32, batch, out int, bias, mult []int32, shift []int, zpOut, qmin, qmax int32) bool {
	return false
}

func requantizeTables(dst []uint8, acc []int32, batch, out int, tabs []reqTable, zpOut, qmin, qmax int32) bool {
	return false
}
