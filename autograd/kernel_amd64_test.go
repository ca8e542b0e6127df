//go:build amd64 && gc && !purego

package autograd

import (
	"os"
	"os/exec"
	"testing"

	"tinyq/internal/kernel"
)

// TestAsmFollowsFloatPath checks that the AVX-512 loops of fake quantization, LSQ, ReLU and
// the reductions' sums run exactly when the process's float path is avx512, and that
// TINYQ_KERNEL=generic turns them off (the test runs itself again with it). Before issue 19
// they read the CPU's features directly and ran under TINYQ_KERNEL=generic.
func TestAsmFollowsFloatPath(t *testing.T) {
	want := kernel.FloatAVX512()
	if os.Getenv(kernel.Var) == "generic" {
		want = false
	}
	if fqAsm != want || lsqAsm != want || reluAsm != want || reduceAsm != want {
		t.Fatalf("%s=%q: fake-quant %v, LSQ %v, ReLU %v, reduction %v AVX-512 loops; want %v",
			kernel.Var, os.Getenv(kernel.Var), fqAsm, lsqAsm, reluAsm, reduceAsm, want)
	}
	if os.Getenv(kernel.Var) != "" {
		return // the child, or a run with a chosen path
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAsmFollowsFloatPath$", "-test.count=1")
	cmd.Env = append(os.Environ(), kernel.Var+"=generic")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("with %s=generic: %v\n%s", kernel.Var, err, out)
	}
}
