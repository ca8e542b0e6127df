package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tinyq/infer"
	"tinyq/internal/proctest"
	"tinyq/mnist"
	"tinyq/qat"
)

// TestSaveThenLoad: a run that saves its models, then a run that loads fp32.safetensors and
// trains nothing, give the same fp32 and PTQ accuracies.
func TestSaveThenLoad(t *testing.T) {
	dir := t.TempDir()
	models := filepath.Join(dir, "models")
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	common := []string{"-epochs", "1", "-train-limit", "2000", "-quiet"}
	if err := run(append(common, "-qat", "-bits", "4", "-save", models, "-json", a), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"fp32", "fp16", "ptq-w8a8-static", "ptq-w8-dynamic", "ptq-w4a8-static", "ptq-w4a4-static", "qat-w4a4", "qat-w4a4-int"} {
		if _, err := os.Stat(filepath.Join(models, n+".safetensors")); err != nil {
			t.Errorf("not saved: %v", err)
		}
	}
	// Every saved file loads in the runtime and gives the accuracy its row reported.
	dataDir, err := mnist.Locate("")
	if err != nil {
		t.Fatal(err)
	}
	_, test, err := mnist.Load(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	ra := proctest.Accuracies(t, a)
	files, err := filepath.Glob(filepath.Join(models, "*.safetensors"))
	if err != nil || len(files) < 8 {
		t.Fatalf("%d saved files (%v), want fp32, fp16, 4 PTQ and 2 QAT", len(files), err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".safetensors")
		m, err := infer.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		acc, err := infer.Evaluate(m, test.Images, test.Labels)
		if err != nil {
			t.Fatal(err)
		}
		if want, ok := ra[name]; !ok || acc != want {
			t.Errorf("%s: %.2f%% in the runtime, %.2f%% in the run's table", name, acc, want)
		}
	}
	var out bytes.Buffer
	// -epochs shapes no model with -load (and is refused): only the data slice is kept.
	if err := run([]string{"-train-limit", "2000", "-quiet", "-load", filepath.Join(models, "fp32.safetensors"), "-json", b}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "epoch 1/") {
		t.Errorf("-load trained:\n%s", out.String())
	}
	rb := proctest.Accuracies(t, b)
	for _, n := range []string{"fp32", "fp16", "ptq-w8a8-static", "ptq-w8-dynamic", "ptq-w4a8-static", "ptq-w4a4-static"} {
		if ra[n] != rb[n] || ra[n] == 0 {
			t.Errorf("%s: %.2f%% when trained, %.2f%% when loaded", n, ra[n], rb[n])
		}
	}
}

// TestResumeAfterKill kills a real training process with SIGKILL, resumes it, and checks the
// result equals an uninterrupted run's: once during FP32 training, once during QAT.
func TestResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models in real processes")
	}
	bin := proctest.Build(t, ".", "mnist")
	dir := t.TempDir()
	args := []string{"-epochs", "3", "-train-limit", "12000", "-quiet", "-qat", "-bits", "4"}
	straight := filepath.Join(dir, "straight.json")
	if out, err := exec.Command(bin, append(args, "-json", straight)...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted: %v\n%s", err, out)
	}
	want := proctest.Accuracies(t, straight)
	for _, phase := range []string{"", ".qat-w4a4"} {
		ck := filepath.Join(dir, "ck"+phase+"-run.safetensors")
		base := filepath.Join(dir, "ck"+phase+"-run.safetensors")
		wait := base // the file whose appearance means the phase has checkpointed an epoch
		if phase != "" {
			wait = qat.PhaseCheckpoint(base, "qat-w4a4")
		}
		victim := exec.Command(bin, append(args, "-checkpoint", ck)...)
		if err := victim.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(3 * time.Minute)
		for {
			if _, err := os.Stat(wait); err == nil {
				break
			}
			if time.Now().After(deadline) {
				victim.Process.Kill()
				t.Fatalf("no %s after 3 minutes", wait)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := victim.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		victim.Wait()

		resumed := filepath.Join(dir, "resumed"+phase+".json")
		out, err := exec.Command(bin, append(args, "-checkpoint", ck, "-resume", "-json", resumed)...).CombinedOutput()
		if err != nil {
			t.Fatalf("resume: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "resumed from "+wait) {
			t.Fatalf("did not resume from %s:\n%s", wait, out)
		}
		got := proctest.Accuracies(t, resumed)
		for _, n := range []string{"fp32", "qat-w4a4", "qat-w4a4-int", "ptq-w4a4-static"} {
			if got[n] != want[n] || want[n] == 0 {
				t.Errorf("killed in phase %q: %s %.2f%% resumed, %.2f%% uninterrupted", phase, n, got[n], want[n])
			}
		}
	}
}

// TestLoadCorruptExitStatus: -load of a corrupt file exits with status 1 and one line naming
// the file and the problem.
func TestLoadCorruptExitStatus(t *testing.T) {
	bin := proctest.Build(t, ".", "mnist")
	p := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := os.WriteFile(p, []byte("\x10\x00\x00\x00\x00\x00\x00\x00{not json at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-load", p, "-quiet")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1", err)
	}
	msg := strings.TrimSpace(stderr.String())
	if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, p) {
		t.Fatalf("stderr %q: want one line naming %s", msg, p)
	}
}
