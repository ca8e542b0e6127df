package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"tinyq/internal/proctest"
)

// quick are the flags of a run that trains in a few seconds.
var quick = []string{"-epochs", "1", "-train-limit", "2000", "-quiet"}

// TestOutputsCheckedFirst (issue 11, case 2): an output that cannot be written is refused
// before any training, with one line naming it and exit status 1. Before, a directory in the
// place of a model file, or a -checkpoint in a missing directory, failed after training.
func TestOutputsCheckedFirst(t *testing.T) {
	bin := proctest.Build(t, ".", "mnist")
	dir := t.TempDir()
	blocked := filepath.Join(dir, "m3")
	if err := os.MkdirAll(filepath.Join(blocked, "ptq-w4a4-static.safetensors"), 0o755); err != nil {
		t.Fatal(err)
	}
	jsonDir := filepath.Join(dir, "j.json")
	if err := os.Mkdir(jsonDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-save", blocked}, "ptq-w4a4-static.safetensors is a directory"},
		{[]string{"-json", jsonDir}, "is a directory"},
		{[]string{"-json", filepath.Join(dir, "nodir", "r.json")}, "cannot create a file in"},
		{[]string{"-checkpoint", filepath.Join(dir, "nodir", "ck.st")}, "-checkpoint"},
		{[]string{"-json", "/dev/null"}, "not a regular file"},
	}
	for _, c := range cases {
		code, stdout, stderr := proctest.Run(t, bin, append(quick, c.args...)...)
		msg := strings.TrimSpace(stderr)
		if code != 1 || strings.Contains(msg, "\n") || !strings.Contains(msg, c.want) || !strings.HasPrefix(msg, "mnist: ") || strings.Contains(msg, "mnist: mnist:") {
			t.Errorf("%v: exit %d, stderr %q: want status 1 and one line with %q", c.args, code, msg, c.want)
		}
		if strings.Contains(stdout, "epoch 1/") {
			t.Errorf("%v: trained before refusing:\n%s", c.args, stdout)
		}
	}
}

// TestClosedStdout (case 8): `mnist ... | head -1` used to die of SIGPIPE (status 141) and
// save nothing. With stdout a pipe closed by its reader, the run writes its models and JSON
// and exits 0.
func TestClosedStdout(t *testing.T) {
	bin := proctest.Build(t, ".", "mnist")
	dir := t.TempDir()
	models, js := filepath.Join(dir, "sp"), filepath.Join(dir, "sp.json")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // the reader is gone before the first line
	cmd := exec.Command(bin, append(quick, "-save", models, "-json", js)...)
	cmd.Stdout = w
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	w.Close()
	if err != nil {
		t.Fatalf("exit %v, stderr %q", err, stderr.String())
	}
	if _, err := os.Stat(js); err != nil {
		t.Errorf("no JSON: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(models, "*.safetensors"))
	if len(files) != 8 { // fp32, fp16 and six PTQ models
		t.Errorf("%d models saved, want 8: %v", len(files), files)
	}
}

// TestHugeSizes (case 3): a batch beyond the training set is capped with a note; a model too
// large for memory is refused with one line naming the flag and status 2, before training
// (before, these panicked in makeslice or died out of memory, with status 2).
func TestHugeSizes(t *testing.T) {
	bin := proctest.Build(t, ".", "mnist")
	code, _, stderr := proctest.Run(t, bin, append(quick, "-hidden", "65536,65536")...)
	if code != 2 || !strings.Contains(stderr, `-hidden "65536,65536"`) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("-hidden 65536,65536: exit %d, stderr %q", code, stderr)
	}
	code, stdout, stderr := proctest.Run(t, bin, append(quick, "-batch", "9223372036854775807", "-json", filepath.Join(t.TempDir(), "r.json"))...)
	if code != 0 || !strings.Contains(stdout, "using -batch 2000") {
		t.Errorf("-batch MaxInt64: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestLoadSpecialFile (case 3 and 4): -load of /dev/zero or a FIFO is refused at once with
// one line and status 1 (before, /dev/zero ran out of memory and a FIFO blocked forever).
func TestLoadSpecialFile(t *testing.T) {
	bin := proctest.Build(t, ".", "mnist")
	for _, p := range []string{"/dev/zero", t.TempDir()} {
		code, _, stderr := proctest.Run(t, bin, "-train-limit", "2000", "-quiet", "-load", p)
		if code != 1 || !strings.Contains(stderr, "-load: ") || !strings.Contains(stderr, p) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("-load %s: exit %d, stderr %q", p, code, stderr)
		}
	}
}

// TestDivergenceWarns (case 10): -lr 10 diverges; the run says so on stderr and in the JSON.
func TestDivergenceWarns(t *testing.T) {
	js := filepath.Join(t.TempDir(), "r.json")
	var stderr bytes.Buffer
	err := run(append(quick, "-lr", "10", "-json", js), &bytes.Buffer{}, &stderr)
	if err != nil && !strings.Contains(err.Error(), "not finite") {
		t.Fatal(err)
	}
	if err != nil {
		// Divergence into NaN or Inf is an error naming the phase and epoch instead.
		if !strings.Contains(err.Error(), "fp32 epoch 1") {
			t.Fatalf("error %q does not name the phase and epoch", err)
		}
		return
	}
	if !strings.Contains(stderr.String(), "warning: fp32") {
		t.Errorf("no warning on stderr: %q", stderr.String())
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"warnings"`) {
		t.Errorf("no warnings in the JSON:\n%s", b)
	}
}

// TestResumeRedoesStaleQAT (case 1): a QAT checkpoint fine-tuned from the epoch-1 FP32 model
// is not resumed on top of the epoch-2 one: the phase is redone, with a note, and the result
// equals a fresh 2-epoch run's (before, it silently reported a worse model).
func TestResumeRedoesStaleQAT(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three times")
	}
	dir := t.TempDir()
	ck := filepath.Join(dir, "c.safetensors")
	args := []string{"-train-limit", "2000", "-quiet", "-qat", "-bits", "4", "-checkpoint", ck}
	if err := run(append(args, "-epochs", "1"), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	resumed, fresh := filepath.Join(dir, "resumed.json"), filepath.Join(dir, "fresh.json")
	var out bytes.Buffer
	if err := run(append(args, "-epochs", "2", "-resume", "-json", resumed), &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "redoing the phase") {
		t.Errorf("no note that the QAT phase is redone:\n%s", out.String())
	}
	freshArgs := []string{"-train-limit", "2000", "-quiet", "-qat", "-bits", "4", "-epochs", "2", "-checkpoint", filepath.Join(dir, "f.safetensors"), "-json", fresh}
	if err := run(freshArgs, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	got, want := proctest.Accuracies(t, resumed), proctest.Accuracies(t, fresh)
	for _, n := range []string{"fp32", "qat-w4a4", "qat-w4a4-int"} {
		if got[n] != want[n] || want[n] == 0 {
			t.Errorf("%s: %.2f%% resumed, %.2f%% fresh", n, got[n], want[n])
		}
	}
}

// TestLoadRefusesIgnoredFlags (case 6): training flags that -load would ignore (and record)
// are refused.
func TestLoadRefusesIgnoredFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-load", "m.safetensors", "-hidden", "64"}, "-hidden with -load"},
		{[]string{"-load", "m.safetensors", "-lr", "0.5"}, "-lr with -load"},
		{[]string{"-load", "m.safetensors", "-epochs", "7"}, "-epochs with -load"},
		{[]string{"-load", "m.safetensors", "-qat", "-hidden", "64"}, "-hidden with -load"},
	} {
		err := run(c.args, &bytes.Buffer{}, &bytes.Buffer{})
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want a usage error with %q", c.args, err, c.want)
		}
	}
}
