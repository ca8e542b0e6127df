package study

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/schollz/progressbar/v3"

	"tinyq/infer"
	"tinyq/nn"
	"tinyq/ptq"
	"tinyq/quant"
	"tinyq/study/schema"
	"tinyq/train"
)

// Inputs is what Run quantizes and measures with.
type Inputs struct {
	Model    *nn.MLP
	Train    train.Data // calibration images are its first, held-out images its last
	Test     train.Data
	TrainQAT train.Config // batch, seed and learning rate of QAT runs (epochs from the settings)
	Progress io.Writer    // one progress bar over the whole study (nil: none)
	Log      io.Writer    // one line per finished part (nil: none)
}

// Work units of the progress bar, roughly proportional to the time each takes.
const (
	unitPTQ         = 1
	unitSensitivity = 1
	unitMixed       = 20 // the whole candidate search, per 100 candidates
	unitQATEpoch    = 25 // an observed-range QAT epoch (LSQ counts 3 times)
)

// env holds what the parts share: the data splits, the float reference, and calibrations.
type env struct {
	in      Inputs
	set     schema.Settings
	calib   []float32 // [n, in]
	val     []float32
	valLab  []uint8
	ref     *infer.FloatModel // the FP32 model in the runtime: what ptq calibrates and converts
	valRef  []float32         // FP32 logits on val
	testRef []float32         // FP32 logits on the test images, computed on first use (testScore)
	ranges  map[calKey][]quant.Params
}

type calKey struct {
	bits     int
	observer string
}

// inputs returns the per-layer input parameters at bits from observer, calibrating once.
func (e *env) inputs(bits int, observer string) ([]quant.Params, error) {
	k := calKey{bits, observer}
	if r, ok := e.ranges[k]; ok {
		return r, nil
	}
	kind, err := quant.ParseObserverKind(observer)
	if err != nil {
		return nil, err
	}
	cfg := ptq.Spec(ptq.Static, 8, bits)
	cfg.Observer = quant.ObserverConfig{Kind: kind}
	r, err := ptq.Calibrate(e.ref, cfg, e.calib)
	if err != nil {
		return nil, fmt.Errorf("calibrate %d-bit activations with %s: %w", bits, observer, err)
	}
	e.ranges[k] = r
	return r, nil
}

// Run measures every point of the settings not yet in the study, saving study.json after
// each. It draws nothing: the figures (package figures) and report.md (package markdown)
// are made from s.Results afterwards.
func (s *Study) Run(in Inputs) error {
	set := s.Results.Config.Settings
	d := in.Model.InputSize()
	n := in.Train.Len()
	ncal, nval := ptq.HeldOut(n, set.CalibrationImages, set.ValidationImages)
	if ncal < 1 || nval < 1 {
		return fmt.Errorf("study: %d training images: want more than %d (calibration) to keep some apart for choosing", n, ncal)
	}
	ref, err := in.Model.FloatModel()
	if err != nil {
		return fmt.Errorf("study: %w", err)
	}
	e := &env{
		in: in, set: set, ref: ref, ranges: map[calKey][]quant.Params{},
		calib: in.Train.Images[:ncal*d],
		val:   in.Train.Images[(n-nval)*d:], valLab: in.Train.Labels[n-nval:],
	}
	if e.valRef, err = ptq.Logits(ref, e.val); err != nil {
		return fmt.Errorf("study: %w", err)
	}
	s.log = in.Log
	s.startBar(in.Progress, s.remaining(set))
	defer s.finishBar()
	parts := []struct {
		name string
		run  func(*env) error
	}{
		{"PTQ sweep", s.runPTQ},
		{"per-layer sensitivity", s.runSensitivity},
		{"mixed precision", s.runMixed},
		{"QAT", s.runQAT},
	}
	for _, p := range parts {
		t0 := time.Now()
		if err := p.run(e); err != nil {
			return fmt.Errorf("study: %s: %w", p.name, err)
		}
		s.logf("study: %s done in %.1f s", p.name, time.Since(t0).Seconds())
	}
	return s.save()
}

// note adds msg to the results' notes unless it is there already (a resumed study).
func (s *Study) note(msg string) {
	if !slices.Contains(s.Results.Notes, msg) {
		s.Results.Notes = append(s.Results.Notes, msg)
	}
}

func (s *Study) logf(format string, args ...any) {
	if s.log != nil && s.bar == nil {
		fmt.Fprintf(s.log, format+"\n", args...)
	}
}

// remaining estimates the work units left (for the progress bar).
func (s *Study) remaining(set schema.Settings) int {
	u := unitPTQ * len(s.pendingPTQ(set))
	u += unitSensitivity * (len(set.SensitivityBits)*len(s.Results.FP32.Layers) - len(s.Results.Sensitivity))
	nl := len(s.Results.FP32.Layers)
	if len(s.Results.Mixed) == 0 {
		u += mixedUnits(set, nl)
		if mixedCount(set, nl) > 0 { // the knee and the budgets' choices, at most
			u += (len(set.Budgets) + 1) * qatUnits(set.KneeQATEpochs, true)
		}
	}
	for _, k := range s.pendingQAT(set) {
		u += qatUnits(set.QATEpochs, k.lsq)
	}
	u += len(kneeBudgetsLeft(s.Results.Mixed, s.Dir)) * qatUnits(set.KneeQATEpochs, true)
	return u
}

// mixedUnits is the mixed-precision search's share of the progress bar (0 if skipped).
func mixedUnits(set schema.Settings, nl int) int {
	c := mixedCount(set, nl)
	if c == 0 {
		return 0
	}
	return unitMixed * max(1, c/100)
}

func qatUnits(epochs int, lsq bool) int {
	if lsq {
		return 3 * unitQATEpoch * epochs
	}
	return unitQATEpoch * epochs
}

func (s *Study) startBar(w io.Writer, total int) {
	if w == nil {
		return
	}
	s.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("study"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(200*time.Millisecond))
	s.barOut = w
}

func (s *Study) add(units int) {
	if s.bar != nil {
		_ = s.bar.Add(units)
	}
}

func (s *Study) finishBar() {
	if s.bar != nil {
		_ = s.bar.Finish()
		fmt.Fprintln(s.barOut)
		s.bar = nil
	}
}

// score returns m's logit MSE against FP32 and its accuracy (percent) on the held-out
// training images, from one pass.
func (e *env) score(m infer.Model) (mse, accuracy float64, err error) {
	return ptq.LogitMSEFrom(e.valRef, m, e.val, e.valLab)
}

// testAccuracy returns m's accuracy (percent) on the test images.
func (e *env) testAccuracy(m infer.Model) (float64, error) {
	return infer.Evaluate(m, e.in.Test.Images, e.in.Test.Labels)
}

// testScore returns m's logit MSE against FP32 and its accuracy (percent) on the test
// images, from one pass (FP32's logits are computed once).
func (e *env) testScore(m infer.Model) (mse, accuracy float64, err error) {
	if e.testRef == nil {
		if e.testRef, err = ptq.Logits(e.ref, e.in.Test.Images); err != nil {
			return 0, 0, err
		}
	}
	return ptq.LogitMSEFrom(e.testRef, m, e.in.Test.Images, e.in.Test.Labels)
}
