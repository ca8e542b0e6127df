package study

import (
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"tinyq/quant"
	"tinyq/study/schema"
	"tinyq/train"
)

// tinySettings is a study of one width per part, small enough to run in a test: 8 and
// 4-bit weights so that the mixed search has a front of more than one point.
func tinySettings() schema.Settings {
	return schema.Settings{
		Seed: 1, Hidden: []int{8}, Epochs: 1, Batch: 16, LR: 1e-3,
		CalibrationImages: 32, ValidationImages: 32,
		PTQWeightBits: []int{8}, PTQActivationBits: []int{8}, Observers: []string{"minmax"},
		QATBits: []schema.Pair{{W: 8, A: 8}}, QATLSQ: []bool{false}, QATEpochs: 1,
		SensitivityBits: []int{8}, MixedWeightBits: []int{8, 4}, MixedActivationBits: []int{8},
		Budgets: []int{1 << 20}, KneeQATEpochs: 1,
	}
}

// tinyData is n random 12-pixel images with labels 0 to 9.
func tinyData(n int, seed int64) train.Data {
	rng := rand.New(rand.NewSource(seed))
	d := train.Data{Images: make([]float32, n*12), Labels: make([]uint8, n)}
	for i := range d.Images {
		d.Images[i] = rng.Float32()
	}
	for i := range d.Labels {
		d.Labels[i] = uint8(rng.Intn(10))
	}
	return d
}

// TestRunDoesNotDraw runs a whole (tiny) study: every part's points are in study.json, the
// budget's fine-tuned model is saved, and Run has drawn nothing: no figure, no report.
func TestRunDoesNotDraw(t *testing.T) {
	if testing.Short() {
		t.Skip("fine-tunes with QAT")
	}
	dir := t.TempDir()
	s, err := Open(dir, schema.Config{Settings: tinySettings()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := testModel(t, 1)
	if err := s.SetReference(m, nil, 10, ""); err != nil {
		t.Fatal(err)
	}
	in := Inputs{Model: m, Train: tinyData(100, 1), Test: tinyData(50, 2), TrainQAT: train.Config{Batch: 16, Seed: 1}}
	if err := s.Run(in); err != nil {
		t.Fatal(err)
	}
	r := s.Results
	// PTQ: W8A8 static per-channel and per-tensor, dynamic both: 4 points.
	if len(r.PTQ) != 4 || len(r.QAT) != 1 || len(r.Sensitivity) != 2 || len(r.Mixed) != 4 || len(r.Budgets) != 1 {
		t.Errorf("points: %d PTQ, %d QAT, %d sensitivity, %d mixed, %d budgets; want 4, 1, 2, 4, 1",
			len(r.PTQ), len(r.QAT), len(r.Sensitivity), len(r.Mixed), len(r.Budgets))
	}
	b := r.Budgets[0]
	if b.Bits == nil || b.File == "" || b.QATAccuracy == 0 {
		t.Errorf("budget %+v: want a fine-tuned pick", b)
	}
	if _, err := os.Stat(filepath.Join(dir, b.File)); err != nil {
		t.Errorf("the budget's model: %v", err)
	}
	for _, n := range OutputFiles() {
		if n == ModelFile {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			t.Errorf("Run wrote %s", n)
		}
	}
	// study.json on disk is what the study holds.
	raw, err := os.ReadFile(filepath.Join(dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	var disk schema.Results
	if err := json.Unmarshal(raw, &disk); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(disk.Mixed, r.Mixed) || !reflect.DeepEqual(disk.Budgets, r.Budgets) {
		t.Error("study.json differs from the study's results")
	}
	// Nothing is left: a second Run measures nothing new.
	if left := s.remaining(s.Results.Config.Settings); left != 0 {
		t.Errorf("%d work units left after Run", left)
	}
}

// Open resumes a study of the same settings (its points, its time so far) and refuses one of
// other settings, naming the first setting that differs.
func TestOpenResumes(t *testing.T) {
	dir := t.TempDir()
	cfg := schema.Config{Settings: tinySettings()}
	s, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Resumed || s.HasModel() || len(s.Results.PTQ) != 0 || s.Results.PTQ == nil {
		t.Errorf("a new study: resumed %v, model %v, PTQ %v (want an empty list, not null)", s.Resumed, s.HasModel(), s.Results.PTQ)
	}
	if err := s.SetReference(testModel(t, 1), nil, 12.5, ""); err != nil {
		t.Fatal(err)
	}
	s.Results.PTQ = append(s.Results.PTQ, schema.PTQPoint{WBits: 8, ABits: 8, Granularity: schema.PerChannel, Mode: schema.Static, Observer: "minmax", Accuracy: 11})
	if err := s.save(); err != nil {
		t.Fatal(err)
	}
	s.Close()

	cfg.Run.Command = "another command" // run info is not compared
	s, err = Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Resumed || !s.HasModel() || len(s.Results.PTQ) != 1 || s.Results.FP32.Accuracy != 12.5 || s.Results.Config.Run.Command != "another command" {
		t.Errorf("resumed: %v, model %v, %d PTQ points, FP32 %g, command %q", s.Resumed, s.HasModel(), len(s.Results.PTQ), s.Results.FP32.Accuracy, s.Results.Config.Run.Command)
	}
	if s.prior <= 0 {
		t.Errorf("earlier time %g, want the first run's", s.prior)
	}
	if got := s.pendingPTQ(cfg.Settings); len(got) != 3 {
		t.Errorf("%d PTQ points left, want 3", len(got))
	}
	s.Close()

	other := cfg
	other.Settings = tinySettings()
	other.QATEpochs = 2
	if _, err := Open(dir, other); err == nil || !strings.Contains(err.Error(), "other settings (qat_epochs was 1, now 2)") {
		t.Errorf("other settings: %v", err)
	}
}

// A study.json with points but no model beside it is refused; one without points starts
// again; one that is not JSON is refused; a directory of someone else's files is refused.
func TestOpenRefuses(t *testing.T) {
	cfg := schema.Config{Settings: tinySettings()}
	write := func(dir, name, data string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	results := func(points int) string {
		r := emptyResults(cfg)
		for range points {
			r.QAT = append(r.QAT, schema.QATPoint{WBits: 8, ABits: 8})
		}
		b, _ := json.Marshal(r)
		return string(b)
	}
	tmp := t.TempDir()
	gone, empty, junk, foreignDir := filepath.Join(tmp, "gone"), filepath.Join(tmp, "empty"), filepath.Join(tmp, "junk"), filepath.Join(tmp, "foreign")
	write(gone, ResultsFile, results(1))
	write(empty, ResultsFile, results(0))
	write(junk, ResultsFile, "{")
	write(foreignDir, schema.FigurePareto, "not ours")
	for dir, want := range map[string]string{
		gone:       "has 1 points but their FP32 model fp32.safetensors is gone",
		junk:       "not a study file",
		foreignDir: "holds pareto.png but no study.json: not a study directory",
	} {
		s, err := Open(dir, cfg)
		if err == nil {
			s.Close()
		}
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line with %q", filepath.Base(dir), err, want)
		}
	}
	s, err := Open(empty, cfg)
	if err != nil {
		t.Fatalf("a study stopped before its model: %v", err)
	}
	if s.Resumed {
		t.Error("a study without a model resumed")
	}
	s.Close()
	if b, _ := os.ReadFile(filepath.Join(foreignDir, schema.FigurePareto)); string(b) != "not ours" {
		t.Error("a foreign file was changed")
	}
}

func TestSettingsDiff(t *testing.T) {
	a, b := tinySettings(), tinySettings()
	b.Observers = []string{"mse"}
	if got := settingsDiff(a, b); got != "observers was [minmax], now [mse]" {
		t.Errorf("settingsDiff: %q", got)
	}
	if got := settingsDiff(a, a); got != "a setting changed" {
		t.Errorf("settingsDiff of equal settings: %q", got)
	}
}

func TestRecordDiff(t *testing.T) {
	for _, c := range []struct{ got, want, out string }{
		{`{"seed":2,"batch":128}`, `{"batch":128,"seed":1}`, `seed 2, the study's 1`},
		{`{"batch":128}`, `{"batch":128,"seed":1}`, `no seed, the study's 1`},
		{`{"batch":128,"lr":0.1}`, `{"batch":128}`, `lr 0.1, the study's none`},
		{`{"a":[1,2]}`, `{"a":[1,3]}`, `a [1,2], the study's [1,3]`},
		{`not json`, `{}`, `"not json", the study's "{}"`},
	} {
		if got := recordDiff(c.got, c.want, "the study's"); got != c.out {
			t.Errorf("recordDiff(%s, %s) = %q, want %q", c.got, c.want, got, c.out)
		}
	}
}

// The fingerprint is stable, and any change of a parameter's bits changes it.
func TestFingerprint(t *testing.T) {
	m := testModel(t, 1)
	f := Fingerprint(m)
	if len(f) != 64 || Fingerprint(m.Clone()) != f {
		t.Errorf("fingerprint %q, of a clone %q", f, Fingerprint(m.Clone()))
	}
	c := m.Clone()
	c.Layers[0].Weights()[0] = -c.Layers[0].Weights()[0]
	if Fingerprint(c) == f {
		t.Error("a negated weight keeps the fingerprint")
	}
	if Fingerprint(testModel(t, 2)) == f {
		t.Error("another model has the same fingerprint")
	}
}

// The sweep's grid and what is left of it; the QAT points left; the curve's epoch numbers.
func TestPending(t *testing.T) {
	set := Quick()
	pts := ptqPoints(set)
	// 2 granularities x (8-bit weights: 3 activation widths x 3 observers + 1 dynamic; 4
	// and 2 bits: 3 x 3 x 2 weight ranges + 1 dynamic).
	if len(pts) != 96 {
		t.Errorf("%d quick PTQ points, want 96", len(pts))
	}
	seen := map[string]bool{}
	for _, p := range pts {
		if seen[ptqKey(p)] {
			t.Errorf("point %s twice", ptqKey(p))
		}
		seen[ptqKey(p)] = true
		if p.Mode == schema.Dynamic && (p.ABits != 8 || p.Observer != "" || p.WeightRange != "") {
			t.Errorf("dynamic point %+v", p)
		}
		if p.WeightRange != "" && (p.WeightRange != schema.MSEWeights || p.WBits >= 8) {
			t.Errorf("point %+v: MSE-clipped weight ranges are for static points under 8 bits", p)
		}
		if want := p.WeightRange == schema.MSEWeights; (ptqConfig(p).WeightRange == quant.MSEObserver) != want {
			t.Errorf("point %+v: converter's weight range %v", p, ptqConfig(p).WeightRange)
		}
	}
	s := &Study{Results: emptyResults(schema.Config{Settings: set})}
	s.Results.PTQ = pts[:10]
	if got := s.pendingPTQ(set); len(got) != 86 || ptqKey(got[0]) != ptqKey(pts[10]) {
		t.Errorf("%d PTQ points left, want 86 from the 11th", len(got))
	}
	s.Results.QAT = []schema.QATPoint{{WBits: 4, ABits: 4}}
	if got := s.pendingQAT(set); !reflect.DeepEqual(got, []qatKey{{schema.Pair{W: 8, A: 8}, false}, {schema.Pair{W: 2, A: 2}, false}}) {
		t.Errorf("QAT left: %v", got)
	}
	h := &train.History{Epochs: []train.Epoch{{TrainLoss: 1}, {TrainLoss: 0.5}}}
	if c := curve(h, 3); len(c) != 2 || c[0].Epoch != 4 || c[1].Epoch != 5 || c[1].TrainLoss != 0.5 {
		t.Errorf("curve: %+v", c)
	}
	if got := layerSizes([]schema.LayerShape{{In: 784, Out: 32}, {In: 32, Out: 10}}); !reflect.DeepEqual(got, []int{784, 32, 10}) {
		t.Errorf("layerSizes: %v", got)
	}
}

// OutputFiles names every file a study writes but its results and mixed models.
func TestOutputFiles(t *testing.T) {
	want := []string{"fp32.safetensors", "report.md", "ptq_bits.png", "ptq_heatmap.png", "pareto.png", "sensitivity.png", "fc1_hist.png", "curves.png"}
	if got := OutputFiles(); !reflect.DeepEqual(got, want) {
		t.Errorf("OutputFiles: %v, want %v", got, want)
	}
}

// TestFiles: every output file, then study.json, in dir.
func TestFiles(t *testing.T) {
	got := Files("d")
	if len(got) != len(OutputFiles())+1 || got[0] != filepath.Join("d", ModelFile) || got[len(got)-1] != filepath.Join("d", ResultsFile) {
		t.Errorf("Files = %v", got)
	}
}

// TestFileFingerprint: a saved model's file has the model's fingerprint; another model's file
// another, and a missing file is an error.
func TestFileFingerprint(t *testing.T) {
	dir := t.TempDir()
	m := testModel(t, 1)
	p := filepath.Join(dir, "m.safetensors")
	if err := m.Save(p, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := FileFingerprint(p); err != nil || got != Fingerprint(m) {
		t.Errorf("FileFingerprint = %q, %v; want %q", got, err, Fingerprint(m))
	}
	if err := testModel(t, 2).Save(p, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := FileFingerprint(p); got == Fingerprint(m) {
		t.Error("a replaced file keeps the fingerprint")
	}
	if _, err := FileFingerprint(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file: no error")
	}
}
