package study

import (
	"fmt"
	"path/filepath"

	"tinyq/infer"
	"tinyq/qat"
	"tinyq/report"
	"tinyq/study/analysis"
	"tinyq/study/schema"
)

// trainQAT fine-tunes the FP32 model with QAT at target t (its recipe, qat.Target.Recipe,
// with learned scales on or off as lsq says, nil keeping the recipe's, and its learning rate
// scaled from the FP32 rate unless the settings fix one) for epochs, evaluating the test set
// at EvalBatch rows, and returns the trained, converted phase: the phase cmd/mnist trains
// for -bits t with its other QAT flags at the recipe's values (qat.Options.Phase, qat.Run).
func (e *env) trainQAT(t qat.Target, lsq *bool, epochs int) (*qat.Result, error) {
	tc := e.in.TrainQAT
	tc.Epochs, tc.LR = epochs, e.set.LR
	tc.Progress, tc.Log = nil, nil // the study has one bar
	tc.EvalBatch = EvalBatch       // bounded memory; the same accuracies
	o := qat.Options{Choices: qat.Choices{LearnScales: lsq, LR: e.set.QATLR}, LSQInit: qat.InitMeanAbs}
	ph, err := o.Phase(t, qat.Base{Model: e.in.Model, Train: tc})
	if err != nil {
		return nil, err
	}
	res, err := qat.Run(ph, e.in.Train, e.in.Test)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ph.Train.Name, err)
	}
	return res, nil
}

// qatKey names a uniform QAT point: its widths and whether it learns its scales.
type qatKey struct {
	p   schema.Pair
	lsq bool
}

// doneQAT is the set of the finished uniform QAT points.
func doneQAT(r *schema.Results) map[qatKey]bool {
	done := map[qatKey]bool{}
	for _, q := range r.QAT {
		done[qatKey{schema.Pair{W: q.WBits, A: q.ABits}, q.LSQ}] = true
	}
	return done
}

// pendingQAT returns the uniform QAT points of set (widths, learned scales or not) not yet in
// the results.
func (s *Study) pendingQAT(set schema.Settings) []qatKey {
	done := doneQAT(&s.Results)
	var left []qatKey
	for _, p := range set.QATBits {
		for _, lsq := range set.QATLSQ {
			if !done[qatKey{p, lsq}] {
				left = append(left, qatKey{p, lsq})
			}
		}
	}
	return left
}

// runQAT trains each uniform QAT point not yet done, with observed and with learned scales,
// then fine-tunes the mixed-precision knee points.
func (s *Study) runQAT(e *env) error {
	fp32Epochs := len(s.Results.FP32.Curve)
	for _, k := range s.pendingQAT(e.set) {
		p, lsq := k.p, k.lsq
		res, err := e.trainQAT(qat.Target{p.Widths()}, &lsq, e.set.QATEpochs)
		if err != nil {
			return err
		}
		hist := res.History
		pt := schema.QATPoint{WBits: p.W, ABits: p.A, LSQ: lsq, Curve: curve(hist, fp32Epochs), EpochSeconds: report.Median(hist.EpochSeconds())}
		if pt.Accuracy, err = e.testAccuracy(res.Simulation); err != nil {
			return err
		}
		if pt.IntAccuracy, err = e.testAccuracy(res.Int); err != nil {
			return err
		}
		pt.WeightBytes = res.Int.WeightBytes()
		s.Results.QAT = append(s.Results.QAT, pt)
		if err := s.save(); err != nil {
			return err
		}
		s.add(qatUnits(e.set.QATEpochs, lsq))
	}
	for _, k := range kneeBudgetsLeft(s.Results.Mixed, s.Dir) {
		p := &s.Results.Mixed[k]
		t := qat.Target(p.Bits)
		res, err := e.trainQAT(t, nil, e.set.KneeQATEpochs)
		if err != nil {
			return err
		}
		im := res.Int
		if p.QATAccuracy, err = e.testAccuracy(im); err != nil {
			return err
		}
		p.File = "mixed-" + t.Name() + ".safetensors"
		if err := infer.SaveInt(filepath.Join(s.Dir, p.File), im, ""); err != nil {
			return err
		}
		s.Results.Budgets = analysis.Budgets(s.Results.Mixed, e.set.Budgets)
		if err := s.save(); err != nil {
			return err
		}
		s.add(qatUnits(e.set.KneeQATEpochs, true))
	}
	return nil
}
