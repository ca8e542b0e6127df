//go:build !amd64 || !gc || purego

package patch

// maxArg is maxArgGo in this build.
func maxArg(out []float32, arg []int32, in []float32, off int32) { maxArgGo(out, arg, in, off) }

// maxArgAsmEnabled does nothing in this build; for tests.
func maxArgAsmEnabled(bool) bool { return false }
