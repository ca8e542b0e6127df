package study

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"tinyq/arch"
	"tinyq/internal/atomicfile"
	"tinyq/internal/dirlock"
	"tinyq/nn"
	"tinyq/qat"
	"tinyq/study/schema"
	"tinyq/train"
)

// File names inside a study directory (schema.ResultsFile and the others, repeated here for
// the runner's callers).
const (
	ResultsFile = schema.ResultsFile
	ReportFile  = schema.ReportFile
	ModelFile   = schema.ModelFile
)

// Study is a study directory: its results so far, written back after every point.
type Study struct {
	Dir     string
	Results schema.Results
	// Resumed is true when Open found results of the same settings to continue.
	Resumed bool

	started time.Time
	prior   float64 // seconds spent by earlier runs
	bar     *progressbar.ProgressBar
	barOut  io.Writer
	log     io.Writer

	lock *dirlock.Lock
	// fileTraining is the training record of the model Model loaded from the directory.
	fileTraining string
	modelLoaded  bool
}

// Open prepares dir for a study with cfg: it creates the directory, or resumes the results
// already in dir/study.json when they were made with the same settings. Results of other
// settings are never overwritten: Open refuses the directory. The study holds the directory
// until Close (or the end of the process): a second Open of it, from this process or
// another, is refused at once, naming the holder's process id.
func Open(dir string, cfg schema.Config) (*Study, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("study: %w", err)
	}
	// Someone else's directory is refused before the lock file is put in it (and again
	// under the lock, in open).
	if err := foreign(dir); err != nil {
		return nil, err
	}
	lock, err := dirlock.Acquire(dir)
	var held *dirlock.HeldError
	if errors.As(err, &held) {
		who := "another run"
		if held.PID > 0 {
			who = fmt.Sprintf("another run (process %d)", held.PID)
		}
		return nil, fmt.Errorf("study: %s is in use by %s; wait for it to finish or use another directory", dir, who)
	}
	if err != nil {
		return nil, fmt.Errorf("study: %w", err)
	}
	s, err := open(dir, cfg)
	if err != nil {
		_ = lock.Release()
		return nil, err
	}
	s.lock = lock
	return s, nil
}

// Close releases the study's directory for another run. The results stay on disk.
func (s *Study) Close() error {
	err := s.lock.Release()
	s.lock = nil
	if err != nil {
		return fmt.Errorf("study: %w", err)
	}
	return nil
}

// foreign refuses a directory without study.json that holds files the study would replace:
// they are someone else's (a study writes study.json before anything else).
func foreign(dir string) error {
	if _, err := os.Lstat(filepath.Join(dir, ResultsFile)); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	for _, n := range OutputFiles() {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			return fmt.Errorf("study: %s holds %s but no %s: not a study directory; use another directory", dir, n, ResultsFile)
		}
	}
	return nil
}

// open is Open once the directory is held.
func open(dir string, cfg schema.Config) (*Study, error) {
	s := &Study{Dir: dir, started: time.Now()}
	path := filepath.Join(dir, ResultsFile)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := foreign(dir); err != nil {
			return nil, err
		}
		s.Results = emptyResults(cfg)
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("study: %w", err)
	}
	var old schema.Results
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&old); err != nil {
		return nil, fmt.Errorf("study: %s: not a study file (%v); use another directory or remove it", path, err)
	}
	if !old.Config.Settings.Same(cfg.Settings) {
		return nil, fmt.Errorf("study: %s holds a study with other settings (%s); use another directory or remove it", path, settingsDiff(old.Config.Settings, cfg.Settings))
	}
	if err := check(&old); err != nil {
		return nil, fmt.Errorf("study: %s: %v (edited by hand?); use another directory or remove it", path, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ModelFile)); err != nil {
		if points(&old) > 0 {
			return nil, fmt.Errorf("study: %s has %d points but their FP32 model %s is gone: resuming would mix two models; remove the directory to start again", path, points(&old), ModelFile)
		}
		s.Results = emptyResults(cfg) // stopped before its model was saved: start again
		return s, nil
	}
	s.Results = old
	s.Results.Config = cfg // the settings are the same; the run info is this run's
	s.prior = old.Seconds
	s.Resumed = true
	return s, nil
}

// settingsDiff names the first setting that differs, in the order of Settings' fields.
func settingsDiff(a, b schema.Settings) string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			name, _, _ := strings.Cut(va.Type().Field(i).Tag.Get("json"), ",")
			return fmt.Sprintf("%s was %v, now %v", name, va.Field(i).Interface(), vb.Field(i).Interface())
		}
	}
	return "a setting changed"
}

// check reports the first point that the settings could not have produced, so that a
// hand-edited study.json is refused rather than carried into the report.
func check(r *schema.Results) error {
	set := r.Config.Settings
	want := map[string]bool{}
	for _, p := range ptqPoints(set) {
		want[ptqKey(p)] = true
	}
	for i, p := range r.PTQ {
		if !want[ptqKey(p)] {
			return fmt.Errorf("ptq point %d (%s) is not in the settings' grid", i, ptqKey(p))
		}
	}
	for i, q := range r.QAT {
		if !slices.Contains(set.QATBits, schema.Pair{W: q.WBits, A: q.ABits}) || !slices.Contains(set.QATLSQ, q.LSQ) {
			return fmt.Errorf("qat point %d (%v, lsq %v) is not in the settings", i, schema.Pair{W: q.WBits, A: q.ABits}, q.LSQ)
		}
	}
	for i, p := range r.Sensitivity {
		ok := slices.Contains(set.SensitivityBits, p.WBits) && p.ABits == p.WBits && slices.ContainsFunc(r.FP32.Layers, func(l schema.LayerShape) bool { return l.Name == p.Layer })
		if !ok {
			return fmt.Errorf("sensitivity point %d (%s at %v) is not in the settings", i, p.Layer, schema.Pair{W: p.WBits, A: p.ABits})
		}
	}
	for i, p := range r.Mixed {
		if len(p.Bits) != len(r.FP32.Layers) {
			return fmt.Errorf("mixed point %d has widths for %d layers, the model has %d", i, len(p.Bits), len(r.FP32.Layers))
		}
		for _, b := range p.Bits {
			if !slices.Contains(set.MixedWeightBits, b.Weight) || !slices.Contains(set.MixedActivationBits, b.Activation) {
				return fmt.Errorf("mixed point %d has widths %v outside the settings", i, b)
			}
		}
		if p.File != "" && (filepath.Base(p.File) != p.File || !strings.HasSuffix(p.File, ".safetensors")) {
			return fmt.Errorf("mixed point %d names file %q, want a .safetensors name in the study directory", i, p.File)
		}
	}
	return nil
}

// points counts the measured points.
func points(r *schema.Results) int {
	return len(r.PTQ) + len(r.QAT) + len(r.Sensitivity) + len(r.Mixed)
}

// emptyResults are the results of a study not yet begun: every list empty, not null.
func emptyResults(cfg schema.Config) schema.Results {
	return schema.Results{Config: cfg, PTQ: []schema.PTQPoint{}, QAT: []schema.QATPoint{}, Sensitivity: []schema.SensitivityPoint{}, Mixed: []schema.MixedPoint{}, Budgets: []schema.Budget{}}
}

// OutputFiles are the files a study writes besides study.json and its mixed-precision
// models: a directory without study.json holding any of them is refused.
func OutputFiles() []string {
	return []string{ModelFile, ReportFile, schema.FigurePTQBits, schema.FigureHeatmap, schema.FigurePareto, schema.FigureSensitivity, schema.FigureHist, schema.FigureCurves}
}

// Files are the files a study in dir may write or replace, besides its mixed-precision models:
// each of OutputFiles, then study.json (ResultsFile).
func Files(dir string) []string {
	var ps []string
	for _, n := range append(OutputFiles(), ResultsFile) {
		ps = append(ps, filepath.Join(dir, n))
	}
	return ps
}

// ModelPath is where the study keeps its FP32 model, so that a resumed study quantizes the
// same model.
func (s *Study) ModelPath() string { return filepath.Join(s.Dir, ModelFile) }

// Fingerprint is the SHA-256, in hex, of m's parameters: each layer's weights then biases,
// in layer order, as little-endian float32 bits. Two models with the same fingerprint compute
// the same function.
func Fingerprint(m *nn.MLP) string { return qat.Fingerprint(m) }

// FileFingerprint is the Fingerprint of the float model in the file at path (nn.Load): a
// resumed study compares it with its model's to refuse a file that was replaced since.
func FileFingerprint(path string) (string, error) {
	m, _, err := nn.Load(path)
	if err != nil {
		return "", err
	}
	return Fingerprint(m), nil
}

// Model loads the FP32 model of a resumed study (HasModel) and checks that it is the one the
// study measured: the layers, the training record and the parameters' fingerprint recorded in
// study.json. For a study.json that recorded no training record (begun by an older version),
// training, if not "", is the record the caller expects the file to hold (that of the run's
// settings). Another model in its place is refused with one line
// saying what differs: the study's points belong to the recorded model, and retraining could
// not promise the same parameters, so the file is neither used nor replaced.
func (s *Study) Model(training string) (*nn.MLP, error) {
	path := s.ModelPath()
	m, info, err := nn.Load(path)
	if err != nil {
		return nil, fmt.Errorf("study: %w", err)
	}
	ref := s.Results.FP32
	refuse := func(what string) error {
		return fmt.Errorf("study: %s is not the model this study measured (%s); put that model back or remove the directory to start again", path, what)
	}
	if len(ref.Layers) > 0 {
		var got []schema.LayerShape
		for i, l := range m.Layers {
			got = append(got, layerShape(i, l))
		}
		if !slices.Equal(got, ref.Layers) {
			return nil, refuse(fmt.Sprintf("layer sizes %v, the study's %v", m.Sizes(), layerSizes(ref.Layers)))
		}
	}
	if ref.Training != "" && info.Training != ref.Training {
		return nil, refuse("its training record has " + recordDiff(info.Training, ref.Training, "the study's"))
	}
	if ref.Training == "" && training != "" && info.Training != training {
		return nil, refuse("its training record has " + recordDiff(info.Training, training, "this run's"))
	}
	if sum := Fingerprint(m); ref.ParamsSHA256 != "" && sum != ref.ParamsSHA256 {
		return nil, refuse(fmt.Sprintf("its parameters' SHA-256 is %.12s…, the study's %.12s…", sum, ref.ParamsSHA256))
	}
	s.fileTraining, s.modelLoaded = info.Training, true
	return m, nil
}

// layerShape is layer i's record in the results.
func layerShape(i int, l *nn.Layer) schema.LayerShape {
	s := schema.LayerShape{Name: nn.LayerName(i), In: l.In, Out: l.Out}
	if l.IsConv() {
		s.Kind = arch.Conv2D.String()
	}
	return s
}

// layerSizes are the sizes of a chain of layers: inputs, then each layer's outputs.
func layerSizes(ls []schema.LayerShape) []int {
	sizes := []int{ls[0].In}
	for _, l := range ls {
		sizes = append(sizes, l.Out)
	}
	return sizes
}

// recordDiff says how training record got differs from want, whose's: the first differing
// field of two JSON objects ("seed 2, the study's 1"), or both records.
func recordDiff(got, want, whose string) string {
	var g, w map[string]any
	if json.Unmarshal([]byte(got), &g) == nil && json.Unmarshal([]byte(want), &w) == nil {
		keys := make([]string, 0, len(g)+len(w))
		for k := range g {
			keys = append(keys, k)
		}
		for k := range w {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range slices.Compact(keys) {
			gv, gok := g[k]
			wv, wok := w[k]
			switch {
			case !gok:
				return fmt.Sprintf("no %s, %s %s", k, whose, compactJSON(wv))
			case !wok:
				return fmt.Sprintf("%s %s, %s none", k, compactJSON(gv), whose)
			case !reflect.DeepEqual(gv, wv):
				return fmt.Sprintf("%s %s, %s %s", k, compactJSON(gv), whose, compactJSON(wv))
			}
		}
	}
	return fmt.Sprintf("%q, %s %q", got, whose, want)
}

// compactJSON is v as JSON on one line.
func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// HasModel reports whether a resumed study has its FP32 model.
func (s *Study) HasModel() bool {
	if !s.Resumed {
		return false
	}
	_, err := os.Stat(s.ModelPath())
	return err == nil
}

// SetReference records the FP32 model the study quantizes: its test accuracy, size, layers
// and training curve (hist may be nil), its training record (training, JSON or "") and
// fingerprint, which a resumed study checks (Model); and saves it to ModelPath unless loaded
// from there. On a resumed study that has its model, m must be that model.
func (s *Study) SetReference(m *nn.MLP, hist *train.History, accuracy float64, training string) error {
	ref := schema.Reference{Accuracy: accuracy, WeightBytes: 4 * m.NumParams(), Training: training, ParamsSHA256: Fingerprint(m)}
	for i, l := range m.Layers {
		ref.Layers = append(ref.Layers, layerShape(i, l))
	}
	if a := m.Architecture(); !a.IsMLP() {
		ref.Arch = a.String()
	}
	if hist != nil {
		ref.Curve = curve(hist, 0)
	} else if s.Resumed {
		ref.Curve = s.Results.FP32.Curve // the curve of the run that trained it
	}
	if s.HasModel() {
		old := s.Results.FP32
		if old.ParamsSHA256 != "" && old.ParamsSHA256 != ref.ParamsSHA256 {
			return fmt.Errorf("study: the model given has parameters' SHA-256 %.12s…, the study's model %s has %.12s…", ref.ParamsSHA256, s.ModelPath(), old.ParamsSHA256)
		}
		// The record of the file the points were measured on, not of this run's flags.
		switch {
		case s.modelLoaded:
			ref.Training = s.fileTraining
		case old.Training != "":
			ref.Training = old.Training
		}
	}
	s.Results.FP32 = ref
	if err := s.save(); err != nil { // study.json first: it claims the directory
		return err
	}
	if !s.HasModel() {
		if err := m.Save(s.ModelPath(), training); err != nil {
			return fmt.Errorf("study: %w", err)
		}
	}
	return nil
}

// curve converts a training history, numbering epochs from first+1.
func curve(h *train.History, first int) []schema.EpochPoint {
	var c []schema.EpochPoint
	for i, e := range h.Epochs {
		c = append(c, schema.EpochPoint{Epoch: first + i + 1, TrainLoss: e.TrainLoss, TestAccuracy: e.TestAccuracy, TestLoss: e.TestLoss, Seconds: e.Seconds})
	}
	return c
}

// save writes study.json (atomically: a failed write leaves the previous file).
func (s *Study) save() error {
	s.Results.Seconds = s.prior + time.Since(s.started).Seconds()
	err := atomicfile.Write(filepath.Join(s.Dir, ResultsFile), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		return enc.Encode(&s.Results)
	})
	if err != nil {
		return fmt.Errorf("study: %w", err)
	}
	return nil
}
