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
		s.Results.Config = cfg
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
	s.Results = old
	s.Results.Config = cfg // the settings are the same; the run info is this run's
	s.prior = old.Seconds
	s.Resumed = true
	return s, nil
}

// settingsDiff names the first settings that differ, as JSON.
func settingsDiff(a, b Settings) string {
	var ma, mb map[string]any
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	_ = json.Unmarshal(ja, &ma)
	_ = json.Unmarshal(jb, &mb)
	for k, va := range ma {
		if x, y := fmt.Sprint(va), fmt.Sprint(mb[k]); x != y {
			return fmt.Sprintf("%s was %s, now %s", k, x, y)
		}
	}
	return "a setting changed"
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
	ref := Reference{Accuracy: accuracy}
	for i, l := range m.Layers {
		ref.Layers = append(ref.Layers, LayerShape{Name: nn.LayerName(i), In: l.In, Out: l.Out})
		ref.WeightBytes += 4 * (l.In*l.Out + l.Out)
	}
	if hist != nil {
		ref.Curve = curve(hist, 0)
	} else if s.Resumed {
		ref.Curve = s.Results.FP32.Curve // the curve of the run that trained it
	}
	s.Results.FP32 = ref
	if !s.HasModel() {
		if err := m.Save(s.ModelPath(), training); err != nil {
			return fmt.Errorf("study: %w", err)
		}
	}
	return s.save()
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
