package qat

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"tinyq/autograd"
	"tinyq/nn"
	"tinyq/quant"
	"tinyq/train"
)

// NewTrainer returns a trainer of the QAT model that owns the quantizers' lifecycle, so none
// of it can be forgotten: observers on during training steps and off while evaluating (and
// off again after training), observing only the real rows of a padded batch, frozen after
// Config.FreezeObserversAfter epochs, and with LearnScales the scales given to their own Adam
// solver (Config.ScaleLR), clamped positive. cfg's own BeforeEpoch, SetTraining, BeforeStep
// and Extra hooks are replaced.
func (m *Model) NewTrainer(cfg train.Config) (*train.Trainer, error) {
	cfg.BeforeEpoch = func(epoch int) error {
		if n := m.Config.FreezeObserversAfter; n > 0 && epoch >= n {
			m.frozen = true
		}
		if n := m.Config.FreezeBNAfter; n > 0 {
			m.setBNTraining(epoch < n) // also right after a resume
		}
		return nil
	}
	cfg.SetTraining = func(on bool) {
		m.SetObserving(on)
		if !on {
			for _, q := range m.Inputs {
				q.ObserveRows = 0 // whole tensors again outside training steps
			}
		}
	}
	cfg.BeforeStep = func(rows int) {
		for _, q := range m.Inputs {
			q.ObserveRows = rows
		}
	}
	cfg.Extra = nil
	if m.Config.LearnScales {
		cfg.Extra = func(net *nn.Net) (G.Nodes, *train.Solver, error) {
			var nodes G.Nodes
			for _, q := range m.LearnedScales() {
				n := autograd.ScaleNode(net.Graph, q)
				if n == nil {
					return nil, nil, fmt.Errorf("qat: no scale node for %s", q.Name)
				}
				nodes = append(nodes, n)
			}
			s, err := train.NewSolver(train.Adam, m.Config.ScaleLR, 0)
			if err != nil {
				return nil, nil, err
			}
			s.Min = quant.MinScale
			return nodes, s, nil
		}
	}
	t, err := train.NewTrainer(m.MLP, cfg)
	if err != nil {
		return nil, fmt.Errorf("qat: %w", err)
	}
	return t, nil
}

// Fit trains the model on trainSet for cfg.Epochs epochs (see NewTrainer), evaluating on
// testSet after each, leaves the observers off and folds the BatchNorms (FoldBatchNorm).
func (m *Model) Fit(trainSet, testSet train.Data, cfg train.Config) (*train.History, error) {
	t, err := m.NewTrainer(cfg)
	if err != nil {
		return nil, err
	}
	defer m.SetObserving(false)
	h, err := t.Run(trainSet, testSet, train.Checkpoints{})
	if err != nil {
		return nil, err
	}
	return h, m.FoldBatchNorm()
}
