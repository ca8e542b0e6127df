package gemm

import (
	"slices"
	"testing"

	"tinyq/internal/kernel"
)

// TestPathNames checks that the exported Path constants are the float path names of
// tinyq/internal/kernel, which TINYQ_KERNEL takes and -json output records, and that
// ActivePath is one of the paths this CPU and build run.
func TestPathNames(t *testing.T) {
	var names []string
	for _, p := range []Path{Generic, AVX2, AVX512} {
		names = append(names, p.String())
	}
	if want := kernel.Names(kernel.Float); !slices.Equal(names, want) {
		t.Errorf("Path constants %v, want internal/kernel's float names %v", names, want)
	}
	var supported []string
	for _, p := range paths() {
		supported = append(supported, p.name)
	}
	if !slices.Contains(supported, ActivePath().String()) {
		t.Errorf("ActivePath() = %v, not among the supported paths %v", ActivePath(), supported)
	}
}
