package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"

	"tinyq/modelfile"
	"tinyq/nn"
	"tinyq/train"
)

// artifacts are the models of a run, saved with -save DIR as NAME.safetensors.
type artifacts struct {
	names []string
	saves []func(path string) error
}

func (a *artifacts) add(name string, save func(path string) error) {
	a.names = append(a.names, name)
	a.saves = append(a.saves, save)
}

func (a *artifacts) save(dir string, stdout io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("-save %s: %w", dir, err)
	}
	for i, name := range a.names {
		p := filepath.Join(dir, name+".safetensors")
		if err := a.saves[i](p); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "saved %s\n", p)
	}
	return nil
}

// trainingConfig is the part of the options that determines FP32 training; a checkpoint
// records it and -resume refuses a different one.
type trainingConfig struct {
	Batch      int     `json:"batch"`
	LR         float64 `json:"lr"`
	Hidden     []int   `json:"hidden"`
	Seed       int64   `json:"seed"`
	TrainLimit int     `json:"train_limit"`
	Optimizer  string  `json:"optimizer"`
}

func (o options) trainingJSON() string {
	b, _ := json.Marshal(trainingConfig{Batch: o.Batch, LR: o.LR, Hidden: o.Hidden, Seed: o.Seed, TrainLimit: o.TrainLimit, Optimizer: train.Adam.String()})
	return string(b)
}

// qatTrainingJSON adds the QAT-only settings to trainingJSON, for QAT phase checkpoints.
func (o options) qatTrainingJSON() string {
	b, _ := json.Marshal(struct {
		Base    json.RawMessage `json:"fp32"`
		LR      float64         `json:"qat_lr"`
		Init    string          `json:"qat_init"`
		Observe string          `json:"observer"`
	}{json.RawMessage(o.trainingJSON()), o.QATLR, o.QATInit, o.Observer})
	return string(b)
}

// obtainFP32 loads the float model (-load), or trains it, saving a checkpoint after every
// epoch (-checkpoint) and continuing from one (-resume). It returns the model and the
// training seconds of each epoch.
func obtainFP32(o options, sizes []int, trainData, testData train.Data, base train.Config) (*nn.MLP, []float64, error) {
	if o.Load != "" {
		m, _, err := modelfile.LoadFloat(o.Load)
		if err != nil {
			return nil, nil, err
		}
		got := m.Sizes()
		if got[0] != sizes[0] || got[len(got)-1] != sizes[len(sizes)-1] {
			return nil, nil, fmt.Errorf("%s: model maps %d inputs to %d classes, MNIST needs %d to %d", o.Load, got[0], got[len(got)-1], sizes[0], sizes[len(sizes)-1])
		}
		return m, nil, nil
	}
	m, err := nn.NewMLP(sizes, rand.New(rand.NewSource(o.Seed)))
	if err != nil {
		return nil, nil, err
	}
	cfg := base
	cfg.Name = "fp32"
	tr, err := train.NewTrainer(m, cfg)
	if err != nil {
		return nil, nil, err
	}
	load := func(path string) (train.State, error) {
		cm, st, info, err := modelfile.LoadCheckpoint(path)
		if err != nil {
			return st, err
		}
		if info.Training != o.trainingJSON() {
			return st, fmt.Errorf("-resume: %s was written with training settings %s, this run has %s", path, info.Training, o.trainingJSON())
		}
		if fmt.Sprint(cm.Sizes()) != fmt.Sprint(m.Sizes()) {
			return st, fmt.Errorf("-resume: %s holds a %v model, this run trains %v", path, cm.Sizes(), m.Sizes())
		}
		for i, l := range cm.Layers {
			if l.Act != m.Layers[i].Act {
				return st, fmt.Errorf("-resume: %s layer %d is %v, this run's is %v", path, i+1, l.Act, m.Layers[i].Act)
			}
		}
		for i, l := range m.Layers { // the tensors the trainer's graphs are bound to
			copy(l.Weights(), cm.Layers[i].Weights())
			copy(l.Bias(), cm.Layers[i].Bias())
		}
		return st, nil
	}
	save := func(path string, st train.State) error {
		return modelfile.SaveCheckpoint(path, m, st, o.trainingJSON())
	}
	hist, err := fitCheckpointed(tr, o, o.Checkpoint, true, trainData, testData, load, save, base.Log)
	if err != nil {
		return nil, nil, fmt.Errorf("train fp32: %w", err)
	}
	return m, hist.EpochSeconds(), nil
}

// phaseCheckpoint is the checkpoint file of a QAT phase: ck.safetensors -> ck.qat-w4a4.safetensors.
func phaseCheckpoint(path, phase string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "." + phase + ext
}

// fitCheckpointed trains tr up to o.Epochs epochs. With -resume it first restores the state
// in path (required says whether a missing file is an error; otherwise training starts from
// the beginning); with -checkpoint it saves the state to path after every epoch.
func fitCheckpointed(tr *train.Trainer, o options, path string, required bool, trainData, testData train.Data,
	load func(string) (train.State, error), save func(string, train.State) error, log io.Writer) (*train.History, error) {
	hist := &train.History{}
	if o.Resume {
		_, statErr := os.Stat(path)
		if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
			return nil, fmt.Errorf("-resume: %w", statErr)
		}
		if required || statErr == nil {
			st, err := load(path)
			if err != nil {
				return nil, err
			}
			if err := tr.Restore(st); err != nil {
				return nil, fmt.Errorf("-resume %s: %w", path, err)
			}
			hist.Epochs = st.History
			fmt.Fprintf(log, "resumed from %s after epoch %d\n", path, st.Epochs)
		}
	}
	for tr.EpochsDone() < o.Epochs {
		ep, err := tr.Epoch(trainData, testData)
		if err != nil {
			return nil, err
		}
		hist.Epochs = append(hist.Epochs, ep)
		if path != "" {
			if err := save(path, tr.State(hist)); err != nil {
				return nil, err
			}
		}
	}
	return hist, nil
}
