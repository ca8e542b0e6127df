package qat

import (
	"testing"

	"tinyq/nn"
	"tinyq/train"
)

// benchSteps is the number of batches of 128 per benchmark iteration: Trainer's step method is
// unexported, so the benchmarks run Trainer.Epoch on benchSteps*128 images without a test set.
const benchSteps = 10

// benchStep reports the time of one training step (forward, backward, Adam) at batch 128 of
// the 784-256-128-10 MLP, built by prepare from a seeded model.
func benchStep(b *testing.B, prepare func(*nn.MLP) (*train.Trainer, error)) {
	benchImages(b, benchSteps*128, prepare)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchSteps), "ns/step")
}

// BenchmarkEpochs measures one whole epoch (60,000 images, batch 128, after a warm-up epoch)
// of FP32 training and of W4A4 QAT, driven the same way, for the ratio of the two.
func BenchmarkEpochs(b *testing.B) {
	b.Run("fp32", func(b *testing.B) {
		benchImages(b, 60000, func(m *nn.MLP) (*train.Trainer, error) { return train.NewTrainer(m, train.Config{Batch: 128}) })
	})
	b.Run("qat-w4a4", func(b *testing.B) {
		benchImages(b, 60000, func(m *nn.MLP) (*train.Trainer, error) {
			qm, err := Prepare(m, Spec(4, 4))
			if err != nil {
				b.Fatal(err)
			}
			return qm.NewTrainer(train.Config{Batch: 128})
		})
	})
}

// benchImages times epochs over the first n MNIST training images of a trainer built by
// prepare from a seeded model, after a warm-up epoch.
func benchImages(b *testing.B, n int, prepare func(*nn.MLP) (*train.Trainer, error)) {
	trainSet, _ := loadMNIST(b, n, 0)
	tr, err := prepare(newModel(b, 1))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tr.Epoch(trainSet, train.Data{}); err != nil { // warm-up: buffers, observers
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr.Epoch(trainSet, train.Data{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFP32Step is train's BenchmarkTrainStep driven the same way as BenchmarkQATStep, so
// the two can be compared within one run.
func BenchmarkFP32Step(b *testing.B) {
	benchStep(b, func(m *nn.MLP) (*train.Trainer, error) { return train.NewTrainer(m, train.Config{Batch: 128}) })
}

// BenchmarkQATStep measures a W4A4 QAT training step: fake-quant of the input, each weight
// (per channel, observed every step) and each hidden activation (moving-average observer).
func BenchmarkQATStep(b *testing.B) {
	benchStep(b, func(m *nn.MLP) (*train.Trainer, error) {
		qm, err := Prepare(m, Spec(4, 4))
		if err != nil {
			b.Fatal(err)
		}
		return qm.NewTrainer(train.Config{Batch: 128})
	})
}

// BenchmarkQATStepLSQ is BenchmarkQATStep with learned scales (LSQ): the scale gradients and
// their own Adam step come on top.
func BenchmarkQATStepLSQ(b *testing.B) {
	benchStep(b, func(m *nn.MLP) (*train.Trainer, error) {
		cfg := Spec(4, 4)
		cfg.LearnScales = true
		qm, err := Prepare(m, cfg)
		if err != nil {
			b.Fatal(err)
		}
		return qm.NewTrainer(train.Config{Batch: 128})
	})
}

// BenchmarkQATStepW2A2 measures a step of cmd/mnist's low-bit recipe: W2A2, LSQ from the
// paper's initial scales, cosine learning-rate decay.
func BenchmarkQATStepW2A2(b *testing.B) { benchLowBit(b, false, false) }

// BenchmarkQATStepW2A2FixInput is BenchmarkQATStepW2A2 with the network input's scale fixed
// (FixInputScale): no backward product through the first layer to its input.
func BenchmarkQATStepW2A2FixInput(b *testing.B) { benchLowBit(b, false, true) }

// BenchmarkQATStepW2A2Distill is BenchmarkQATStepW2A2 with distillation from the float model
// (the teacher runs in the float runtime on every batch).
func BenchmarkQATStepW2A2Distill(b *testing.B) { benchLowBit(b, true, false) }

func benchLowBit(b *testing.B, distill, fixInput bool) {
	benchStep(b, func(m *nn.MLP) (*train.Trainer, error) {
		cfg := Spec(2, 2)
		cfg.LearnScales, cfg.LSQInit, cfg.FixInputScale = true, InitMeanAbs, fixInput
		qm, err := Prepare(m, cfg)
		if err != nil {
			b.Fatal(err)
		}
		tc := train.Config{Batch: 128, Epochs: 1 << 20, Schedule: train.CosineLR}
		if distill {
			teacher, err := m.FloatModel()
			if err != nil {
				b.Fatal(err)
			}
			tc.Distill = &train.Distillation{Teacher: teacher, Temperature: 4, Alpha: 0.5}
		}
		return qm.NewTrainer(tc)
	})
}
