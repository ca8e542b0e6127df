//go:build !amd64 || !gc || purego

package qkernel

// poolAccFast reports false: this build has no pooling kernel.
func poolAccFast(c int) bool { return false }

// poolAccCall is never called in this build.
func poolAccCall(out, in *int32, c, kw, kh, row, step, pixels int) {
	panic("qkernel: no pooling kernel in this build")
}
