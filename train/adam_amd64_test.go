//go:build amd64 && gc && !purego

package train

import (
	"os"
	"os/exec"
	"testing"

	"tinyq/internal/kernel"
)

// TestAdamFollowsFloatPath checks that Adam's AVX-512 loop runs exactly when the process's
// float path is avx512, and that TINYQ_KERNEL=generic turns it off (the test runs itself
// again with it). Before issue 19 it read the CPU's features directly and ran under
// TINYQ_KERNEL=generic.
func TestAdamFollowsFloatPath(t *testing.T) {
	want := kernel.FloatAVX512()
	if os.Getenv(kernel.Var) == "generic" {
		want = false
	}
	if adamAsm != want {
		t.Fatalf("%s=%q: Adam AVX-512 loop %v; want %v", kernel.Var, os.Getenv(kernel.Var), adamAsm, want)
	}
	if os.Getenv(kernel.Var) != "" {
		return // the child, or a run with a chosen path
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAdamFollowsFloatPath$", "-test.count=1")
	cmd.Env = append(os.Environ(), kernel.Var+"=generic")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("with %s=generic: %v\n%s", kernel.Var, err, out)
	}
}
