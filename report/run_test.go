package report_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/modelfile"
	"tinyq/ptq"
	"tinyq/report"
)

// TestPTQ: one row per variant of the standard table, in ptq.TableNames' order, each with its
// note and in the set to save with the training record given; nothing skipped for a sound model.
func TestPTQ(t *testing.T) {
	m, x, labels := tinySet(t)
	fm := m.(*infer.FloatModel)
	var saved modelfile.Set
	rows, err := report.PTQ(fm, x, x, labels, &saved, `{"batch":1}`, func(name, why string) { t.Errorf("%s skipped: %s", name, why) })
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rows {
		names = append(names, r.Name)
		if r.Note == "" || r.Accuracy <= 0 {
			t.Errorf("row %+v: want a note and an accuracy", r)
		}
	}
	if !slices.Equal(names, ptq.TableNames()) {
		t.Errorf("rows %v, want %v", names, ptq.TableNames())
	}
	dir := t.TempDir()
	if failed := saved.Write(dir, nil, func(string) {}); len(failed) > 0 {
		t.Fatal(failed)
	}
	for _, n := range names {
		p := filepath.Join(dir, n+".safetensors")
		im, err := infer.Load(p)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if got, err := infer.Evaluate(im, x, labels); err != nil || got != rows[slices.Index(names, n)].Accuracy {
			t.Errorf("%s saved: accuracy %v (%v), the row's %v", n, got, err, rows[slices.Index(names, n)].Accuracy)
		}
	}
	if _, err := report.PTQ(fm, x[:len(x)-1], x, labels, &saved, "", nil); err == nil {
		t.Error("calibration images not whole: no error")
	}
}

// TestConverted: the integer row is named name-int and notes its agreement with the
// simulation; identical models agree on every prediction.
func TestConverted(t *testing.T) {
	m, x, labels := tinySet(t)
	fm := m.(*infer.FloatModel)
	vs, err := ptq.Table(fm, x)
	if err != nil {
		t.Fatal(err)
	}
	im := vs[1].Int // ptq-w8a8-static
	row, err := report.Converted("sim", fm, im, x, labels)
	if err != nil {
		t.Fatal(err)
	}
	if row.Name != "sim-int" || row.WeightBytes != im.WeightBytes() || !strings.HasPrefix(row.Note, "integer runtime; agrees with sim on ") || !strings.Contains(row.Note, "output LSBs") {
		t.Errorf("row %+v", row)
	}
	if _, err := report.Converted("sim", fm, im, x[:len(x)-1], labels); err == nil {
		t.Error("images not whole: no error")
	}
}

// failWriter fails every write and counts them.
type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) { f.n++; return 0, errors.New("closed") }

// TestLenient: writes pass through; after a failure none is attempted, and none reports one.
func TestLenient(t *testing.T) {
	var b bytes.Buffer
	if n, err := report.Lenient(&b).Write([]byte("row")); n != 3 || err != nil || b.String() != "row" {
		t.Errorf("write: %d, %v, %q", n, err, b.String())
	}
	f := &failWriter{}
	w := report.Lenient(f)
	for range 3 {
		if n, err := w.Write([]byte("row")); n != 3 || err != nil {
			t.Errorf("write after failure: %d, %v", n, err)
		}
	}
	if f.n != 1 {
		t.Errorf("%d writes reached a failed writer, want 1", f.n)
	}
}

// TestProgress: no bars when quiet, and none to a buffer or a regular file.
func TestProgress(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, w := range []any{report.Progress(false, &bytes.Buffer{}), report.Progress(false, f), report.Progress(true, os.Stderr)} {
		if w != nil {
			t.Errorf("Progress = %v, want nil", w)
		}
	}
}

// TestPublish: the table, then the JSON (to a file or to Stdout) and the models, each noted;
// a failed output is named and the others are still written.
func TestPublish(t *testing.T) {
	dir := t.TempDir()
	doc := report.Document{Results: []report.Row{{Name: "fp32", Accuracy: 98}}}
	var saved modelfile.Set
	saved.Add("m", func(p string) error { return os.WriteFile(p, []byte("model"), 0o644) })
	var w bytes.Buffer
	js := filepath.Join(dir, "r.json")
	failed := report.Publish(&w, doc, report.Output{JSON: js, Dir: filepath.Join(dir, "out"), Run: "run"}, &saved)
	if len(failed) > 0 {
		t.Fatal(failed)
	}
	text := w.String()
	if !strings.HasPrefix(text, "variant") || !strings.Contains(text, "wrote "+js+"\n") || !strings.Contains(text, "saved "+filepath.Join(dir, "out", "m.safetensors")+"\n") {
		t.Errorf("output:\n%s", text)
	}
	if b, err := os.ReadFile(js); err != nil || !strings.Contains(string(b), `"accuracy": 98`) {
		t.Errorf("JSON file: %s, %v", b, err)
	}
	var stdout bytes.Buffer
	w.Reset()
	failed = report.Publish(&w, doc, report.Output{JSON: "-", Stdout: &stdout, Dir: filepath.Join(dir, "missing", "\x00")}, &saved)
	if !strings.Contains(stdout.String(), `"name": "fp32"`) || strings.Contains(w.String(), "wrote") || len(failed) == 0 {
		t.Errorf("JSON to stdout: %q, output %q, failed %v (want the bad directory named)", stdout.String(), w.String(), failed)
	}
	failed = report.Publish(&w, doc, report.Output{JSON: filepath.Join(dir, "no", "such", "r.json")}, &saved)
	if len(failed) != 1 || !strings.Contains(failed[0], "r.json") {
		t.Errorf("JSON into a missing directory: failed %v", failed)
	}
}

// TestQAT: the fake-quant row carries no weight bytes but the epoch seconds and note; the
// integer row is Converted's.
func TestQAT(t *testing.T) {
	m, x, labels := tinySet(t)
	fm := m.(*infer.FloatModel)
	vs, err := ptq.Table(fm, x)
	if err != nil {
		t.Fatal(err)
	}
	fake, integer, err := report.QAT("qat-w8a8", fm, vs[1].Int, []float64{1, 2}, "fake-quant", x, labels)
	if err != nil {
		t.Fatal(err)
	}
	if fake.Name != "qat-w8a8" || fake.WeightBytes != 0 || len(fake.EpochSeconds) != 2 || fake.Note != "fake-quant" || fake.Accuracy <= 0 {
		t.Errorf("fake-quant row %+v", fake)
	}
	want, err := report.Converted("qat-w8a8", fm, vs[1].Int, x, labels)
	if err != nil {
		t.Fatal(err)
	}
	if integer.Name != want.Name || integer.Note != want.Note || integer.WeightBytes != want.WeightBytes {
		t.Errorf("integer row %+v, want %+v", integer, want)
	}
	if _, _, err := report.QAT("q", fm, vs[1].Int, nil, "", x[:len(x)-1], labels); err == nil {
		t.Error("images not whole: no error")
	}
}
