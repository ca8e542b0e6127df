package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"tinyq/arch"
	"tinyq/nn"
	"tinyq/report"
	"tinyq/study"
	"tinyq/study/figures"
	"tinyq/study/markdown"
	"tinyq/study/schema"
	"tinyq/train"
)

// runStudy runs -study DIR: the FP32 model (trained, loaded with -load, or the one a
// resumed study saved), then every study point not yet in DIR/study.json (study.Run), then
// the figures and report.md from all the points (study/figures, study/markdown).
func runStudy(o options, trainData, testData train.Data, base train.Config, stdout io.Writer, stderr io.Writer) error {
	set := study.For(o.StudyQuick, schema.Settings{Seed: o.Seed, Hidden: o.Hidden, Arch: o.Arch, Shift: o.Shift, Epochs: o.Epochs, Batch: o.Batch, LR: o.LR, TrainLimit: o.TrainLimit, Load: o.Load, QATLR: o.QATLR})
	// Calibration takes the first training images, choices are scored on the last ones (HoldOut).
	if n := trainData.Len(); !study.HoldOut(&set, n) {
		return usagef("-train-limit %d: the study calibrates on %d training images and scores its choices on at least %d others; want at least %d", n, set.CalibrationImages, study.MinHeldOut, set.CalibrationImages+study.MinHeldOut)
	}
	cfg := schema.Config{Settings: set, Run: study.NewRunInfo("go run ./cmd/mnist " + strings.Join(os.Args[1:], " "))}
	// The directory is this run's until it returns: a second -study into it is refused at once.
	s, err := study.Open(o.Study, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	var m *nn.MLP
	var hist *train.History
	if s.HasModel() {
		// The model the points were measured on (study.Resume), or a refusal. With -load,
		// the file decides the record and sizes.
		want, netWant := "", (*arch.Arch)(nil)
		if o.Load == "" {
			want, netWant = o.trainingJSON(), &o.net
		}
		if m, err = s.Resume(want, netWant); err != nil {
			return err
		}
		if o.Load != "" { // the file must still hold the model the study began with
			got, err := study.FileFingerprint(o.Load)
			if err != nil {
				return fmt.Errorf("-load: %w", err)
			}
			if want := study.Fingerprint(m); got != want {
				return fmt.Errorf("study: -load %s is not the model this study began with (parameters' SHA-256 %.12s…, the study's %.12s…); use another directory or remove it", o.Load, got, want)
			}
		}
		fmt.Fprintf(stdout, "study: resuming %s (%d PTQ, %d QAT, %d sensitivity points done)\n", o.Study, len(s.Results.PTQ), len(s.Results.QAT), len(s.Results.Sensitivity))
	} else {
		// The FP32 run evaluates at the study's batch (bounded memory, the same accuracies),
		// as its QAT runs do.
		fp32 := base
		fp32.EvalBatch = study.EvalBatch
		if m, hist, err = obtainFP32(&o, trainData, testData, fp32); err != nil {
			return err
		}
	}
	if err := s.Reference(m, hist, trainData, testData, o.trainingJSON()); err != nil {
		return err
	}
	// study.Run's QAT phases train without base's log and bars: the study has one bar.
	in := study.Inputs{Model: m, Train: trainData, Test: testData, TrainQAT: base, Progress: report.Progress(o.Quiet, stderr), Log: stdout}
	if err := s.Run(in); err != nil {
		return err
	}
	// The points are saved; the figures (fc1's weights for its histogram) and the report are
	// drawn from them.
	figs, err := figures.Write(s.Dir, &s.Results, m.Layers[0].Weights())
	if err != nil {
		return err
	}
	if err := markdown.Write(s.Dir, &s.Results, figs); err != nil {
		return err
	}
	r := s.Results
	fmt.Fprintf(stdout, "study: %d PTQ, %d QAT, %d sensitivity and %d mixed-precision points in %.0f s; wrote %s and %s\n",
		len(r.PTQ), len(r.QAT), len(r.Sensitivity), len(r.Mixed), r.Seconds,
		filepath.Join(o.Study, study.ReportFile), filepath.Join(o.Study, study.ResultsFile))
	return nil
}
