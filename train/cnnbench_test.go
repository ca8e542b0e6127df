package train_test

import (
	"math/rand"
	"testing"

	"tinyq/arch"
	"tinyq/mnist"
	"tinyq/nn"
	"tinyq/qat"
	"tinyq/train"
)

// cnnSteps is the number of training steps of batch 128 one iteration of the CNN
// benchmarks runs (6,400 images): an epoch of 60,000 images is 469 steps, 9.4 of these.
const cnnSteps = 50

// BenchmarkCNNEpoch trains the CNN of issue 20 (arch.CNN, FP32, and its QAT w8a8 model)
// for cnnSteps steps of batch 128 on MNIST per iteration, as train.Trainer.Epoch runs them
// (forward, backward, Adam; no evaluation), and reports the time per step and the epoch
// of 469 steps it implies. On a shared machine compare CPU time (/usr/bin/time) rather than
// ns/op, best with GOMAXPROCS=1 (no worker spinning in the CPU time), and subtract a
// -benchtime 1x run (loading MNIST, building the graph, the warm-up epoch) from a
// -benchtime 4x run: the difference is 150 steps.
func BenchmarkCNNEpoch(b *testing.B) {
	dir, err := mnist.Locate("")
	if err != nil {
		b.Skip(err)
	}
	tr, _, err := mnist.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	tr = tr.Slice(0, cnnSteps*128)
	data := train.Data{Images: tr.Images, Labels: tr.Labels}
	for _, tc := range []struct {
		name string
		qat  bool
	}{{"fp32", false}, {"qat-w8a8", true}} {
		b.Run(tc.name, func(b *testing.B) {
			m, err := nn.New(arch.CNN(false, 10), rand.New(rand.NewSource(1)))
			if err != nil {
				b.Fatal(err)
			}
			cfg := train.Config{Batch: 128, Epochs: 1}
			var t *train.Trainer
			if tc.qat {
				qm, err := qat.Prepare(m, qat.Spec(8, 8))
				if err != nil {
					b.Fatal(err)
				}
				t, err = qm.NewTrainer(cfg)
				if err != nil {
					b.Fatal(err)
				}
			} else if t, err = train.NewTrainer(m, cfg); err != nil {
				b.Fatal(err)
			}
			if _, err := t.Epoch(data, train.Data{}); err != nil { // warm-up: buffers
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := t.Epoch(data, train.Data{}); err != nil {
					b.Fatal(err)
				}
			}
			step := b.Elapsed().Seconds() / float64(b.N*cnnSteps)
			b.ReportMetric(step*1e3, "ms/step")
			b.ReportMetric(step*469, "s/epoch")
		})
	}
}
