package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"tinyq/internal/proctest"
)

// refused checks that a run of bin with args exits with status 2 (a usage error) and one
// line on stderr holding every string of want, without having trained or written anything.
func refused(t *testing.T, bin string, args []string, want ...string) {
	t.Helper()
	code, stdout, stderr := proctest.Run(t, bin, args...)
	msg := strings.TrimSpace(stderr)
	ok := code == 2 && strings.HasPrefix(msg, "mnist: ") && !strings.Contains(msg, "\n")
	for _, w := range want {
		ok = ok && strings.Contains(msg, w)
	}
	if !ok {
		t.Errorf("%v: exit %d, stderr %q: want status 2 and one line with %q", args, code, msg, want)
	}
	if stdout != "" {
		t.Errorf("%v: worked before refusing:\n%s", args, stdout)
	}
}

// TestSamePathsRefused (issue 18, item 3): an output that names the same file as an input or
// as another output is refused before any work, in one line naming both flags, and the file
// is left as it was. Before, -load m -json m replaced the only model with JSON, -save out
// -json out/manifest.json (or out/fp16.safetensors) lost the JSON, and -checkpoint ck -json
// ck or -checkpoint out/fp32.safetensors -save out destroyed the checkpoint. Paths are
// compared as the system resolves them: through "..", a symbolic link (to a file, or to a
// directory whose file does not exist yet) and a hard link.
func TestSamePathsRefused(t *testing.T) {
	bin := proctest.Build(t, ".", "mnist")
	dir := t.TempDir()
	at := func(p string) string { return filepath.Join(dir, p) }
	model := at("m.safetensors")
	const content = "the only copy of the model"
	if err := os.WriteFile(model, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"sub", "data", "study"} {
		if err := os.Mkdir(at(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(model, at("link.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(model, at("hard.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(at("out"), at("outlink")); err != nil { // out does not exist yet
		t.Fatal(err)
	}
	if err := os.WriteFile(at("data/train-images-idx3-ubyte.gz"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	load := []string{"-train-limit", "2000", "-quiet", "-load", model}
	cases := []struct {
		args []string
		want []string
	}{
		{append(load, "-json", model), []string{"-json " + model, "-load " + model}},
		{append(quick, "-save", at("out"), "-json", at("out/manifest.json")), []string{"-json", "-save " + at("out")}},
		{append(quick, "-save", at("out"), "-json", at("out/fp16.safetensors")), []string{"-json", "-save"}},
		{append(quick, "-checkpoint", at("ck"), "-json", at("ck")), []string{"-json", "-checkpoint"}},
		{append(quick, "-checkpoint", at("out/fp32.safetensors"), "-save", at("out")), []string{"-checkpoint", "-save"}},
		{append(quick, "-qat", "-bits", "4", "-checkpoint", at("ck.st"), "-json", at("ck.qat-w4a4.st")), []string{"-json", "-checkpoint " + at("ck.st") + " (" + at("ck.qat-w4a4.st") + ")"}},
		{append(quick, "-save", at("out"), "-json", at("out")), []string{"-json", "-save", "same path"}},
		{append(load, "-json", at("sub/../m.safetensors")), []string{"-json", "-load"}},
		{append(load, "-json", at("link.json")), []string{"-json " + at("link.json"), "-load"}},
		{append(load, "-json", at("hard.json")), []string{"-json " + at("hard.json"), "-load"}},
		{append(quick, "-save", at("out"), "-json", at("outlink/manifest.json")), []string{"-json", "-save"}},
		{append(quick, "-data", at("data"), "-json", at("data/train-images-idx3-ubyte.gz")), []string{"-json", "-data"}},
		{[]string{"-train-limit", "2000", "-quiet", "-study", at("study"), "-load", at("study/fp32.safetensors")}, []string{"-study", "-load"}},
	}
	for _, c := range cases {
		refused(t, bin, c.args, c.want...)
		for _, p := range []string{model, at("data/train-images-idx3-ubyte.gz")} {
			if b, err := os.ReadFile(p); err != nil || string(b) != content {
				t.Fatalf("%v: %s now holds %.40q (%v)", c.args, p, b, err)
			}
		}
	}
	// Distinct paths are accepted (the runs end at the dummy model or data, after the check).
	for _, args := range [][]string{
		append(load, "-json", at("sub/m.json"), "-save", at("sub/out")),
		append(quick, "-data", at("data"), "-json", at("data/r.json"), "-checkpoint", at("data/ck.st")),
	} {
		if code, _, stderr := proctest.Run(t, bin, args...); code != 1 || !strings.Contains(stderr, at("")) {
			t.Errorf("%v: exit %d, stderr %q: want the run to reach the model or the data", args, code, stderr)
		}
	}
}

// TestSeedRange (issue 18, item 7): math/rand reduces a seed modulo 2^31-1, so -seed 1 and
// -seed 2147483648 were the same run, and 0 and -1 repeated other seeds' runs. Seeds outside
// 1 to 2147483646 are refused with status 2 and one line naming -seed and the range; the
// edge 2147483646 is accepted.
func TestSeedRange(t *testing.T) {
	bin := proctest.Build(t, ".", "mnist")
	for _, s := range []string{"2147483648", "0", "-1", "2147483647", "-9223372036854775808"} {
		refused(t, bin, append([]string{"-seed", s}, quick...), "-seed "+s, "1 to 2147483646")
	}
	if _, err := parseFlags([]string{"-seed", "2147483646"}, &bytes.Buffer{}); err != nil {
		t.Errorf("-seed 2147483646 refused: %v", err)
	}
}

// TestQATOnlyFlagsNeedQAT (issue 18, item 14): flags that only shape the QAT models were
// ignored without -qat, yet recorded in the JSON as applied. Each is refused with status 2
// and one line naming it; with -qat each is accepted, and -qat-lr also with -study (the
// study's QAT runs use it).
func TestQATOnlyFlagsNeedQAT(t *testing.T) {
	bin := proctest.Build(t, ".", "mnist")
	flags := [][]string{
		{"-bits", "4"}, {"-observer", "minmax"}, {"-lsq"}, {"-lsq=false"}, {"-lsq-init", "range"},
		{"-lsq-learn-input"}, {"-distill"}, {"-distill-t", "2"}, {"-distill-alpha", "0.3"},
		{"-lr-schedule", "cosine"}, {"-qat-lr", "0.01"}, {"-qat-init", "scratch"},
		{"-freeze-observers", "1"},
	}
	for _, f := range flags {
		name := strings.SplitN(f[0], "=", 2)[0]
		refused(t, bin, append(append([]string(nil), quick...), f...), name+" without -qat")
		if _, err := parseFlags(append([]string{"-qat"}, f...), &bytes.Buffer{}); err != nil {
			t.Errorf("-qat %v: %v", f, err)
		}
	}
	if _, err := parseFlags([]string{"-study", t.TempDir(), "-qat-lr", "0.01"}, &bytes.Buffer{}); err != nil {
		t.Errorf("-study with -qat-lr: %v", err)
	}
}
