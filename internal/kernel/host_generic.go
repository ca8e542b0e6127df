//go:build !amd64 || !gc || purego

package kernel

// hostSupport is the generic paths only: this build has no assembly.
func hostSupport() Support { return Features{}.Support() }
