package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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

// phaseCheckpoint is the checkpoint file of a QAT phase: ck.safetensors -> ck.qat-w4a4.safetensors.
func phaseCheckpoint(path, phase string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "." + phase + ext
}
