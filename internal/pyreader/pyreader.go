// Package pyreader runs scripts/tinyq_reader.py, the independent reader of tinyq's model
// files written from docs/FORMAT.md alone, and compares its answers with the runtime's. It
// is a test helper (like net/http/httptest), shared by infer's tests, which run it on the
// committed model files, and crosstest's, which run it on models of every kind converted
// from a float model on real MNIST images.
//
// The reader needs python3. Without it the tests skip with a message that says so; under
// CI=true (the CI sets it, and has python3) they fail instead, so that a missing python3
// never passes unnoticed.
package pyreader

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"tinyq/infer"
)

// Script returns the path of scripts/tinyq_reader.py in the source tree this package was
// built from.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "scripts", "tinyq_reader.py")
}

// TB is the part of testing.TB that Python uses (so that its refusal can be tested).
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// Python returns the python3 on PATH and checks that the reader script exists. Without
// python3 it skips t, saying that the format reader was not run; with CI=true in the
// environment it fails t instead.
//
// On js/wasm and wasip1 a test cannot start a process at all: there it skips whatever CI says
// (.ci/run runs the same tests natively, with python3).
func Python(t TB) string {
	t.Helper()
	if runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skipf("SKIPPED: %s/%s cannot start processes, so the format reader (%s) is checked only in the native run", runtime.GOOS, runtime.GOARCH, Script())
		return ""
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 is not on PATH and CI=true: the format reader (%s) cannot be checked against the runtime; install python3", Script())
			return ""
		}
		t.Skipf("SKIPPED: python3 is not on PATH, so the format reader (%s) is NOT checked against the runtime (install python3; under CI=true this fails)", Script())
		return ""
	}
	if _, err := os.Stat(Script()); err != nil {
		t.Fatalf("format reader: %v", err)
	}
	return py
}

// FusesFMA reports whether this build fuses float32 multiply-adds, in which case the float
// runtime does not round every operation as docs/FORMAT.md does (section 8).
func FusesFMA() bool { return mulAdd(fmaX, fmaY, fmaZ) != 0 }

// fmaX*fmaY+fmaZ is 0 when the product is rounded to float32 before the addition and 2^-24
// when the compiler fuses them into one FMA, as Go may (arm64; amd64 with GOAMD64=v3).
var fmaX, fmaY, fmaZ float32 = 1 + 1.0/4096, 1 + 1.0/4096, -(1 + 1.0/2048)

//go:noinline
func mulAdd(x, y, z float32) float32 { return x*y + z }

// Result is one line of the script's --hex output.
type Result struct {
	Class  int
	Logits []uint32 // float32 bits
}

// Run runs the reader on a model and an input file and parses its --hex output.
func Run(t testing.TB, model, images string, extra ...string) []Result {
	t.Helper()
	py := Python(t)
	args := append([]string{Script(), model, images, "--hex"}, extra...)
	cmd := exec.Command(py, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var res []Result
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			t.Fatalf("reader output line %q", sc.Text())
		}
		c, err := strconv.Atoi(f[0])
		if err != nil {
			t.Fatalf("reader output line %q: %v", sc.Text(), err)
		}
		r := Result{Class: c}
		for _, h := range f[1:] {
			b, err := strconv.ParseUint(h, 16, 32)
			if err != nil {
				t.Fatalf("reader output line %q: %v", sc.Text(), err)
			}
			r.Logits = append(r.Logits, uint32(b))
		}
		res = append(res, r)
	}
	return res
}

// Check runs the reader on a model file and a file of raw pixels and returns its combined
// output and exit error: a test of which files the reader accepts.
func Check(t testing.TB, model, images string) (string, error) {
	t.Helper()
	py := Python(t)
	out, err := exec.Command(py, Script(), model, images).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// Compare compares the reader's results with the runtime's on rows of x. With exact, the
// logits must agree bit for bit; otherwise differing logits are only counted and logged,
// and the classes must still agree.
func Compare(t testing.TB, name string, m infer.Model, x []float32, rows int, got []Result, exact bool) {
	t.Helper()
	_, classes := m.Shape()
	if len(got) != rows {
		t.Fatalf("%s: the reader printed %d results for %d rows", name, len(got), rows)
	}
	want, err := infer.Classes(m, x, rows)
	if err != nil {
		t.Fatal(err)
	}
	logits := make([]float32, rows*classes)
	if err := m.Forward(x, rows, logits); err != nil {
		t.Fatal(err)
	}
	classDiff, logitDiff := 0, 0
	margin := math.Inf(1) // the smallest gap between the two largest logits
	for r := range rows {
		z := logits[r*classes : (r+1)*classes]
		if got[r].Class != want[r] {
			classDiff++
			t.Errorf("%s: row %d: reader class %d, runtime %d (logits %v)", name, r, got[r].Class, want[r], z)
		}
		if len(got[r].Logits) != classes {
			t.Fatalf("%s: row %d: reader printed %d logits, want %d", name, r, len(got[r].Logits), classes)
		}
		differ := false
		for o, v := range z {
			if got[r].Logits[o] != math.Float32bits(v) {
				differ = true
			}
		}
		if differ {
			logitDiff++
			if exact {
				gl := make([]float32, classes)
				for o, b := range got[r].Logits {
					gl[o] = math.Float32frombits(b)
				}
				t.Errorf("%s: row %d: reader logits %v, runtime %v", name, r, gl, z)
			}
		}
		best := infer.Argmax(z)
		for o, v := range z {
			if o != best {
				margin = math.Min(margin, float64(z[best])-float64(v))
			}
		}
	}
	t.Logf("%-28s %d rows: %d classes and %d logit rows differ (logits compared bit for bit: %t); smallest top-2 margin %.3g",
		name, rows, classDiff, logitDiff, exact, margin)
}
