//go:build !amd64 || !gc || purego

package gemm

// asmPaths returns no paths: this build has only the pure-Go one.
func asmPaths() []*path { return nil }

// tiledPath is an assembly path (tiled.go); this build has none, so no call uses it.
type tiledPath struct{}

// tiledCall is the assembly paths' state of a call (tiled.go).
type tiledCall struct{}

func (*tiledPath) part(*call, int) {}
