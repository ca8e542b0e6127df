//go:build unix

// The tests stop a run with SIGSTOP while it holds its directory (Unix only).

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tinyq/internal/dirlock"
	"tinyq/internal/proctest"
	"tinyq/nn"
)

// proc is a -study run in a real process.
type proc struct {
	cmd    *exec.Cmd
	out    bytes.Buffer  // stdout and stderr, to read once exited is closed
	exited chan struct{} // closed when the process has ended
}

// running reports whether the process has not ended.
func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill ends the process and waits for it.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// startStudy starts a run of bin with args in a real process; it is killed at the end of the
// test if still running.
func startStudy(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.kill)
	return p
}

// waitFor polls until ok returns true; it fails the test if the process ends first or after
// a minute.
func waitFor(t *testing.T, p *proc, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(time.Minute)
	for !ok() {
		select {
		case <-p.exited:
			if ok() {
				return
			}
			t.Fatalf("the run ended before %s:\n%s", what, p.out.String())
		case <-deadline:
			t.Fatalf("no %s after a minute", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// killAfterModel starts a study into dir (bin with args) and kills it once it has saved its
// FP32 model (study.json is written before it): what an interrupted study leaves.
func killAfterModel(t *testing.T, bin, dir string, args ...string) {
	t.Helper()
	p := startStudy(t, bin, args...)
	waitFor(t, p, "fp32.safetensors", func() bool {
		_, err := os.Stat(filepath.Join(dir, "fp32.safetensors"))
		return err == nil
	})
	p.kill()
}

// TestStudyConcurrentRunRefused (issue 18, item 4): a second -study run (another seed) into a
// directory a first run is working in is refused at once, with one line naming the directory
// and the first run's process id, and exit status 1; it trains nothing and writes nothing.
// The lock dies with the first process. Before, both ran and the directory could end with
// study.json of one seed beside fp32.safetensors of the other.
func TestStudyConcurrentRunRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model in a real process")
	}
	if !dirlock.Supported {
		t.Skip("no directory locks on this system")
	}
	bin := proctest.Build(t, ".", "mnist")
	dir := filepath.Join(t.TempDir(), "study")
	first := startStudy(t, bin, studyArgs(dir)...)
	pid := strconv.Itoa(first.cmd.Process.Pid)
	waitFor(t, first, "lock", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, dirlock.FileName))
		return strings.TrimSpace(string(b)) == pid
	})
	// A quick study takes a few seconds: the first run is stopped where it is, still holding
	// the directory, so that the second surely meets it however loaded the machine.
	if err := first.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("stop the first run: %v", err)
	}
	t0 := time.Now()
	code, stdout, stderr := proctest.Run(t, bin, append(studyArgs(dir), "-seed", "2")...)
	took := time.Since(t0)
	msg := strings.TrimSpace(stderr)
	if code != 1 || strings.Contains(msg, "\n") || !strings.Contains(msg, dir) || !strings.Contains(msg, "in use") || !strings.Contains(msg, "process "+pid) {
		t.Errorf("second run: exit %d, stderr %q; want status 1 and one line naming %s and process %s", code, msg, dir, pid)
	}
	if strings.Contains(stdout, "epoch") || strings.Contains(stdout, "resuming") {
		t.Errorf("second run worked before refusing:\n%s", stdout)
	}
	// Refused after loading MNIST (well under a second), before any training: 20 s is
	// generous for a loaded machine.
	if took > 20*time.Second {
		t.Errorf("refusal took %v", took)
	}
	if !first.running() {
		t.Fatal("the first run ended before the second was refused: the test proved nothing")
	}
	first.kill()
	l, err := dirlock.Acquire(dir)
	if err != nil {
		t.Fatalf("the lock outlived its process: %v", err)
	}
	l.Release()
	// What the first run left is its own: seed 1 in study.json (if it got that far).
	if b, err := os.ReadFile(filepath.Join(dir, "study.json")); err == nil {
		var doc struct {
			Config struct {
				Seed int64 `json:"seed"`
			} `json:"config"`
		}
		if err := json.Unmarshal(b, &doc); err != nil || doc.Config.Seed != 1 {
			t.Errorf("study.json: seed %d (%v), want the first run's 1", doc.Config.Seed, err)
		}
	}
}

// TestStudyResumeRefusesOtherModel (issue 18, item 4): a study resumed with another model in
// the place of its fp32.safetensors (another seed's, or the same record with other
// parameters; also for a study.json from before the fingerprint was recorded) is refused
// with one line saying what differs, and nothing in the directory changes. Before, only the
// layer sizes were compared, and the study went on measuring the other seed's model.
func TestStudyResumeRefusesOtherModel(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models in real processes")
	}
	bin := proctest.Build(t, ".", "mnist")
	tmp := t.TempDir()
	dir, other := filepath.Join(tmp, "seed1"), filepath.Join(tmp, "seed2")
	killAfterModel(t, bin, dir, studyArgs(dir)...)
	killAfterModel(t, bin, other, append(studyArgs(other), "-seed", "2")...)
	model := filepath.Join(dir, "fp32.safetensors")
	own, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	results, err := os.ReadFile(filepath.Join(dir, "study.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The same training record with one parameter changed: only the fingerprint tells.
	m, info, err := nn.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	m.Layers[0].Weights()[0] += 0.5
	edited := filepath.Join(tmp, "edited.safetensors")
	if err := m.Save(edited, info.Training); err != nil {
		t.Fatal(err)
	}
	// study.json as a study begun before the record and fingerprint were kept.
	var old map[string]any
	if err := json.Unmarshal(results, &old); err != nil {
		t.Fatal(err)
	}
	fp32 := old["fp32"].(map[string]any)
	if fp32["params_sha256"] == nil || fp32["training"] == nil {
		t.Fatalf("study.json records no fingerprint or training record: %v", fp32)
	}
	fp32Sum := fp32["params_sha256"]
	delete(fp32, "params_sha256")
	delete(fp32, "training")
	unrecorded, _ := json.Marshal(old)

	for _, c := range []struct {
		name    string
		model   string
		results []byte
		want    string
	}{
		{"another seed's model", filepath.Join(other, "fp32.safetensors"), results, "seed 2, the study's 1"},
		{"other parameters", edited, results, "SHA-256"},
		{"another seed's model, old study.json", filepath.Join(other, "fp32.safetensors"), unrecorded, "seed 2, this run's 1"},
	} {
		b, err := os.ReadFile(c.model)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(model, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "study.json"), c.results, 0o644); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := proctest.Run(t, bin, studyArgs(dir)...)
		msg := strings.TrimSpace(stderr)
		if code != 1 || strings.Contains(msg, "\n") || !strings.Contains(msg, model) || !strings.Contains(msg, "not the model this study measured") || !strings.Contains(msg, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want status 1 and one line naming %s with %q", c.name, code, msg, model, c.want)
		}
		if strings.Contains(stdout, "resuming") || strings.Contains(stdout, "epoch") {
			t.Errorf("%s: the run went on:\n%s", c.name, stdout)
		}
		if got, _ := os.ReadFile(model); !bytes.Equal(got, b) {
			t.Errorf("%s: fp32.safetensors was replaced", c.name)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "study.json")); !bytes.Equal(got, c.results) {
			t.Errorf("%s: study.json changed", c.name)
		}
	}
	// A study of a -load file resumed after the file was replaced (by another seed's model)
	// is refused too: its points belong to the model it began with.
	loaded := filepath.Join(tmp, "m.safetensors")
	if err := os.WriteFile(loaded, own, 0o644); err != nil {
		t.Fatal(err)
	}
	loadDir := filepath.Join(tmp, "loaded")
	loadArgs := []string{"-study", loadDir, "-study-quick", "-load", loaded, "-train-limit", "8000", "-quiet"}
	killAfterModel(t, bin, loadDir, loadArgs...)
	b, err := os.ReadFile(filepath.Join(other, "fp32.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(loaded, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := proctest.Run(t, bin, loadArgs...)
	if msg := strings.TrimSpace(stderr); code != 1 || strings.Contains(msg, "\n") || !strings.Contains(msg, "-load "+loaded+" is not the model this study began with") {
		t.Errorf("-load file replaced: exit %d, stderr %q", code, msg)
	}

	// Its own model back: the study resumes (the refused runs left no lock), rewriting
	// study.json with the same model's record.
	if err := os.WriteFile(model, own, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "study.json"), results, 0o644); err != nil {
		t.Fatal(err)
	}
	p := startStudy(t, bin, studyArgs(dir)...)
	waitFor(t, p, "study.json rewritten", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "study.json"))
		return len(b) > 0 && !bytes.Equal(b, results)
	})
	b, _ = os.ReadFile(filepath.Join(dir, "study.json"))
	var again map[string]any
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatal(err)
	}
	if got := again["fp32"].(map[string]any)["params_sha256"]; got != fp32Sum {
		t.Errorf("resumed with fingerprint %v, want %v", got, fp32Sum)
	}
}
