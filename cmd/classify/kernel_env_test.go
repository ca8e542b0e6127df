package main

import (
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tinyq/internal/kernel"
	"tinyq/internal/proctest"
	"tinyq/nn"
)

// TestKernelEnvProcess runs the built command with TINYQ_KERNEL set to every name of both
// families (float: generic, avx2, avx512; integer: generic, avx2, avxvnni, avx512vnni) and
// to unknown values: a name whose path this CPU supports classifies (exit 0), any other
// value is refused before any work with exit 2 and one line naming the value, and an unknown
// one lists both families. Issue 18, item 15: TINYQ_KERNEL=avx512, the float path every run
// prints, was refused as unknown.
func TestKernelEnvProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	dir := t.TempDir()
	bin := proctest.Build(t, ".", "classify")
	m, err := nn.NewMLP([]int{784, 10}, rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "m.safetensors")
	if err := m.Save(model, ""); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "digit.png")
	px := make([]uint8, 784)
	for y := 6; y < 22; y++ {
		px[y*28+14] = 255 // a "1"
	}
	writePNG(t, img, px, 28, 28)
	host := kernel.Host()
	values := []string{"", "generic", "avx2", "avxvnni", "avx512", "avx512vnni", "bogus", "AVX512"}
	for _, v := range values {
		// Supported here: the value's path is supported in every family that has the name.
		known := slices.Contains(kernel.Names(kernel.Float), v) || slices.Contains(kernel.Names(kernel.Int), v)
		ok := v == ""
		if known {
			ok = true
			for _, f := range []kernel.Family{kernel.Float, kernel.Int} {
				if slices.Contains(kernel.Names(f), v) && !host.Has(f, v) {
					ok = false
				}
			}
		}
		cmd := exec.Command(bin, "-model", model, img)
		cmd.Env = append(os.Environ(), kernel.Var+"="+v)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, isExit := err.(*exec.ExitError); isExit {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s=%s: %v", kernel.Var, v, err)
		}
		msg := stderr.String()
		t.Logf("%s=%q: exit %d, stderr %q", kernel.Var, v, code, msg)
		switch {
		case ok && (code != 0 || !strings.HasPrefix(stdout.String(), img+"\t")):
			t.Errorf("%s=%q (supported here): exit %d, stdout %q, stderr %q; want the image classified", kernel.Var, v, code, stdout.String(), msg)
		case !ok && (code != 2 || stdout.Len() != 0 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, v)):
			t.Errorf("%s=%q (not supported here): exit %d, stdout %q, stderr %q; want exit 2 and one line naming the value", kernel.Var, v, code, stdout.String(), msg)
		case !ok && !known && !strings.Contains(msg, "float path (generic, avx2, avx512) or an integer path (generic, avx2, avxvnni, avx512vnni)"):
			t.Errorf("%s=%q (unknown): stderr %q, want both families' names listed", kernel.Var, v, msg)
		case !ok && known && !(strings.Contains(msg, "float "+strings.Join(host.Float, ", ")) && strings.Contains(msg, "integer "+strings.Join(host.Int, ", "))):
			t.Errorf("%s=%q (not supported here): stderr %q, want the supported paths of both families listed", kernel.Var, v, msg)
		}
	}
}
