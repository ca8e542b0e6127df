package study

import (
	"errors"
	"fmt"

	"tinyq/arch"
	"tinyq/infer"
	"tinyq/nn"
	"tinyq/ptq"
	"tinyq/train"
)

// Resume loads a resumed study's FP32 model (Model, with the training record the caller
// expects when study.json recorded none) and, when want is not nil, also refuses a model
// whose architecture is not the one the run's settings give: the points belong to that
// architecture.
func (s *Study) Resume(training string, want *arch.Arch) (*nn.MLP, error) {
	m, err := s.Model(training)
	if err != nil {
		return nil, err
	}
	if got := m.Architecture(); want != nil && !got.Equal(*want) {
		return nil, fmt.Errorf("study: %s has architecture %v, the study's settings %v: not this study's model; remove the directory to start again", s.ModelPath(), got, want)
	}
	return m, nil
}

// CheckReference refuses an FP32 model whose logits are not finite on any of the training or
// test images the study would use (ptq.Logits): such a model leaves nothing to measure (every
// error NaN), and is refused before the study writes anything. The error names the set.
func CheckReference(fm *infer.FloatModel, trainImages, testImages []float32) error {
	for _, d := range []struct {
		set    string
		images []float32
	}{{"training", trainImages}, {"test", testImages}} {
		if _, err := ptq.Logits(fm, d.images); err != nil {
			var nf *ptq.NonFiniteError
			if errors.As(err, &nf) {
				nf.Model, nf.Set = "the FP32 model", d.set
			}
			return fmt.Errorf("study: %w", err)
		}
	}
	return nil
}

// Reference checks and records the study's FP32 model m: a model whose training history hist
// (nil when loaded or resumed) diverged (train.Divergence) or whose logits are not finite on
// the study's images (CheckReference) is refused; else its test accuracy is measured and it
// becomes the reference (SetReference, training being the record of this run's settings).
func (s *Study) Reference(m *nn.MLP, hist *train.History, trainSet, testSet train.Data, training string) error {
	// A model that diverged would only give the study unusable points (or fail it on absurd
	// scales): stop here, with the warning cmd/mnist's table run prints.
	if w := train.Divergence("fp32", hist); w != "" {
		return fmt.Errorf("study: %s", w)
	}
	fm, err := m.FloatModel()
	if err != nil {
		return err
	}
	if err := CheckReference(fm, trainSet.Images, testSet.Images); err != nil {
		return err
	}
	acc, err := infer.Evaluate(fm, testSet.Images, testSet.Labels)
	if err != nil {
		return err
	}
	return s.SetReference(m, hist, acc, training)
}
