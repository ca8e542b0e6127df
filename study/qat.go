package study

import (
	"fmt"
	"path/filepath"

	"tinyq/infer"
	"tinyq/qat"
	"tinyq/report"
	"tinyq/train"
)

// trainQAT fine-tunes the FP32 model with QAT under cfg for epochs and returns the model
// and its history.
func (e *env) trainQAT(cfg qat.Config, epochs int) (*qat.Model, *train.History, error) {
	qm, err := qat.Prepare(e.in.Model, cfg)
	if err != nil {
		return nil, nil, err
	}
	tc := e.in.TrainQAT
	tc.Epochs = epochs
	tc.LR = e.set.QATLR
	tc.Name = "qat-" + cfg.Name()
	tc.Progress, tc.Log = nil, nil // the study has one bar
	hist, err := qm.Fit(e.in.Train, e.in.Test, tc)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", tc.Name, err)
	}
	return qm, hist, nil
}

// runQAT trains each uniform QAT point not yet done, with observed and with learned scales,
// then fine-tunes the mixed-precision knee points.
func (s *Study) runQAT(e *env) error {
	type key struct {
		p   Pair
		lsq bool
	}
	done := map[key]bool{}
	for _, q := range s.Results.QAT {
		done[key{Pair{q.WBits, q.ABits}, q.LSQ}] = true
	}
	fp32Epochs := len(s.Results.FP32.Curve)
	for _, p := range e.set.QATBits {
		for _, lsq := range e.set.QATLSQ {
			if done[key{p, lsq}] {
				continue
			}
			cfg := qat.Spec(p.W, p.A)
			cfg.LearnScales = lsq
			qm, hist, err := e.trainQAT(cfg, e.set.QATEpochs)
			if err != nil {
				return err
			}
			pt := QATPoint{WBits: p.W, ABits: p.A, LSQ: lsq, Curve: curve(hist, fp32Epochs), EpochSeconds: report.Median(hist.EpochSeconds())}
			sim, err := qm.Simulation()
			if err != nil {
				return err
			}
			if pt.Accuracy, err = infer.Evaluate(sim, e.in.Test.Images, e.in.Test.Labels); err != nil {
				return err
			}
			im, err := qm.Convert(infer.Static)
			if err != nil {
				return err
			}
			if pt.IntAccuracy, err = infer.Evaluate(im, e.in.Test.Images, e.in.Test.Labels); err != nil {
				return err
			}
			pt.WeightBytes = im.WeightBytes()
			s.Results.QAT = append(s.Results.QAT, pt)
			if err := s.save(); err != nil {
				return err
			}
			s.add(qatUnits(e.set.QATEpochs, lsq))
		}
	}
	for _, k := range kneeBudgetsLeft(s.Results.Mixed) {
		p := &s.Results.Mixed[k]
		cfg := qat.Spec(8, 8)
		cfg.LayerBits = p.Bits
		qm, _, err := e.trainQAT(cfg, e.set.KneeQATEpochs)
		if err != nil {
			return err
		}
		im, err := qm.Convert(infer.Static)
		if err != nil {
			return err
		}
		if p.QATAccuracy, err = infer.Evaluate(im, e.in.Test.Images, e.in.Test.Labels); err != nil {
			return err
		}
		p.File = "mixed-" + cfg.Name() + ".safetensors"
		if err := infer.SaveInt(filepath.Join(s.Dir, p.File), im, ""); err != nil {
			return err
		}
		s.Results.Budgets = budgets(s.Results.Mixed, e.set.Budgets)
		if err := s.save(); err != nil {
			return err
		}
		s.add(qatUnits(e.set.KneeQATEpochs, false))
	}
	return nil
}
