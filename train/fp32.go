package train

import (
	"fmt"
	"math/rand"

	"tinyq/arch"
	"tinyq/nn"
)

// TrainFP32 trains a new network of architecture a (nn.New: He initialisation seeded by
// cfg.Seed) under cfg, named "fp32", writing a checkpoint with the training record training
// after every epoch to checkpoint (if not "") and continuing from it when resume
// (FloatCheckpoints). It returns the trained model and its history.
func TrainFP32(a arch.Arch, cfg Config, trainSet, testSet Data, checkpoint, training string, resume bool) (*nn.MLP, *History, error) {
	m, err := nn.New(a, rand.New(rand.NewSource(cfg.Seed)))
	if err != nil {
		return nil, nil, err
	}
	cfg.Name = "fp32"
	tr, err := NewTrainer(m, cfg)
	if err != nil {
		return nil, nil, err
	}
	hist, err := tr.Run(trainSet, testSet, FloatCheckpoints(m, checkpoint, training, resume))
	if err != nil {
		return nil, nil, err
	}
	return m, hist, nil
}

// MemoryError is a model and batch whose training is estimated (TrainingBytes) to need more
// than MaxTrainingBytes.
type MemoryError struct {
	Params, Activations float64 // the estimate's two parts, in bytes
	Batch               int
}

// Error gives the estimate and the limit.
func (e *MemoryError) Error() string {
	return fmt.Sprintf("train: training needs about %.1f GiB at batch %d, more than the %d GiB allowed", e.GiB(), e.Batch, MaxTrainingBytes>>30)
}

// GiB is the whole estimate in GiB.
func (e *MemoryError) GiB() float64 { return (e.Params + e.Activations) / (1 << 30) }

// CheckMemory returns a *MemoryError if training a network of architecture a at batch is
// estimated to need more than MaxTrainingBytes: then the batch is the one to lower when the
// activations outweigh the parameters, else the model.
func CheckMemory(net arch.Arch, batch int) error {
	p, a, err := TrainingBytes(net, batch)
	if err != nil {
		return err
	}
	if p+a <= MaxTrainingBytes {
		return nil
	}
	return &MemoryError{Params: p, Activations: a, Batch: batch}
}
