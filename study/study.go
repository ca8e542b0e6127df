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

	"tinyq/internal/atomicfile"
	"tinyq/nn"
	"tinyq/train"
)

// File names inside a study directory.
const (
	ResultsFile = "study.json"
	ReportFile  = "report.md"
	ModelFile   = "fp32.safetensors"
)

// Study is a study directory: its results so far, written back after every point.
type Study struct {
	Dir     string
	Results Results
	// Resumed is true when Open found results of the same settings to continue.
	Resumed bool

	started time.Time
	prior   float64 // seconds spent by earlier runs
	bar     *progressbar.ProgressBar
	barOut  io.Writer
	log     io.Writer
}

// Open prepares dir for a study with cfg: it creates the directory, or resumes the results
// already in dir/study.json when they were made with the same settings. Results of other
// settings are never overwritten: Open refuses the directory.
func Open(dir string, cfg Config) (*Study, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("study: %w", err)
	}
	s := &Study{Dir: dir, started: time.Now()}
	path := filepath.Join(dir, ResultsFile)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A directory without study.json must not hold files the study would replace: they
		// are someone else's (a study writes study.json before anything else).
		for _, n := range OutputFiles() {
			if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
				return nil, fmt.Errorf("study: %s holds %s but no %s: not a study directory; use another directory", dir, n, ResultsFile)
			}
		}
		s.Results = emptyResults(cfg)
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("study: %w", err)
	}
	var old Results
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&old); err != nil {
		return nil, fmt.Errorf("study: %s: not a study file (%v); use another directory or remove it", path, err)
	}
	if !old.Config.Settings.Same(cfg.Settings) {
		return nil, fmt.Errorf("study: %s holds a study with other settings (%s); use another directory or remove it", path, settingsDiff(old.Config.Settings, cfg.Settings))
	}
	if err := old.check(); err != nil {
		return nil, fmt.Errorf("study: %s: %v (edited by hand?); use another directory or remove it", path, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ModelFile)); err != nil {
		if old.points() > 0 {
			return nil, fmt.Errorf("study: %s has %d points but their FP32 model %s is gone: resuming would mix two models; remove the directory to start again", path, old.points(), ModelFile)
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
func settingsDiff(a, b Settings) string {
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
func (r *Results) check() error {
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
		if !slices.Contains(set.QATBits, Pair{q.WBits, q.ABits}) || !slices.Contains(set.QATLSQ, q.LSQ) {
			return fmt.Errorf("qat point %d (w%da%d, lsq %v) is not in the settings", i, q.WBits, q.ABits, q.LSQ)
		}
	}
	for i, p := range r.Sensitivity {
		ok := slices.Contains(set.SensitivityBits, p.WBits) && p.ABits == p.WBits && slices.ContainsFunc(r.FP32.Layers, func(l LayerShape) bool { return l.Name == p.Layer })
		if !ok {
			return fmt.Errorf("sensitivity point %d (%s at w%da%d) is not in the settings", i, p.Layer, p.WBits, p.ABits)
		}
	}
	for i, p := range r.Mixed {
		if len(p.Bits) != len(r.FP32.Layers) {
			return fmt.Errorf("mixed point %d has widths for %d layers, the model has %d", i, len(p.Bits), len(r.FP32.Layers))
		}
		for _, b := range p.Bits {
			if !slices.Contains(set.MixedWeightBits, b[0]) || !slices.Contains(set.MixedActivationBits, b[1]) {
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
func (r *Results) points() int {
	return len(r.PTQ) + len(r.QAT) + len(r.Sensitivity) + len(r.Mixed)
}

// emptyResults are the results of a study not yet begun: every list empty, not null.
func emptyResults(cfg Config) Results {
	return Results{Config: cfg, PTQ: []PTQPoint{}, QAT: []QATPoint{}, Sensitivity: []SensitivityPoint{}, Mixed: []MixedPoint{}, Budgets: []Budget{}}
}

// OutputFiles are the files a study writes besides study.json and its mixed-precision
// models: a directory without study.json holding any of them is refused.
func OutputFiles() []string {
	return []string{ModelFile, ReportFile, figFilePTQBits, figFileHeatmap, figFilePareto, figFileSensitivity, figFileHist, figFileCurves}
}

// ModelPath is where the study keeps its FP32 model, so that a resumed study quantizes the
// same model.
func (s *Study) ModelPath() string { return filepath.Join(s.Dir, ModelFile) }

// HasModel reports whether a resumed study has its FP32 model.
func (s *Study) HasModel() bool {
	if !s.Resumed {
		return false
	}
	_, err := os.Stat(s.ModelPath())
	return err == nil
}

// SetReference records the FP32 model the study quantizes: its test accuracy, size, layers
// and training curve (hist may be nil), and saves it to ModelPath unless loaded from there.
func (s *Study) SetReference(m *nn.MLP, hist *train.History, accuracy float64, training string) error {
	ref := Reference{Accuracy: accuracy, WeightBytes: 4 * m.NumParams()}
	for i, l := range m.Layers {
		ref.Layers = append(ref.Layers, LayerShape{Name: nn.LayerName(i), In: l.In, Out: l.Out})
	}
	if hist != nil {
		ref.Curve = curve(hist, 0)
	} else if s.Resumed {
		ref.Curve = s.Results.FP32.Curve // the curve of the run that trained it
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
func curve(h *train.History, first int) []EpochPoint {
	var c []EpochPoint
	for i, e := range h.Epochs {
		c = append(c, EpochPoint{Epoch: first + i + 1, TrainLoss: e.TrainLoss, TestAccuracy: e.TestAccuracy, TestLoss: e.TestLoss, Seconds: e.Seconds})
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
