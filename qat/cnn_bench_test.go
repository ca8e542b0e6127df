package qat

import (
	"math/rand"
	"testing"

	"tinyq/arch"
	"tinyq/nn"
	"tinyq/train"
)

// cnnWarmupBatches is the number of batches of 128 a CNN benchmark trains before its timer
// starts (buffers, observers); a whole warm-up epoch would double the benchmark's time, and
// PyTorch's side (scripts/torch_bench.py --model cnn) warms up the same way.
const cnnWarmupBatches = 10

// BenchmarkCNNEpochs measures one whole epoch (60,000 MNIST images, batch 128, Adam at
// 1e-3, no translations: the settings of scripts/torch_bench.py --model cnn) of issue 20's
// CNN (arch.CNN, seeded He initialisation): FP32 training, and QAT at W8A8 and W4A4 (Spec:
// observed ranges, cmd/mnist's recipe at these widths) fine-tuning that model, driven the
// same way for the QAT/FP32 ratio; and FP32 training of the network with BatchNorm after
// each convolution (cmd/mnist -bn), fp32-bn. Besides ns/op it reports the process's CPU
// seconds per epoch (cpu-s/epoch; 0 where getrusage is missing). Run with -benchtime 1x.
func BenchmarkCNNEpochs(b *testing.B) {
	fp32 := func(m *nn.MLP) (*train.Trainer, error) { return train.NewTrainer(m, train.Config{Batch: 128}) }
	b.Run("fp32", func(b *testing.B) { benchCNN(b, false, fp32) })
	for _, bits := range []int{8, 4} {
		b.Run("qat-"+Spec(bits, bits).Name(), func(b *testing.B) {
			benchCNN(b, false, func(m *nn.MLP) (*train.Trainer, error) {
				qm, err := Prepare(m, Spec(bits, bits))
				if err != nil {
					return nil, err
				}
				return qm.NewTrainer(train.Config{Batch: 128})
			})
		})
	}
	b.Run("fp32-bn", func(b *testing.B) { benchCNN(b, true, fp32) })
}

// benchCNN times epochs over the 60,000 MNIST training images of a trainer built by prepare
// from a seeded CNN (with BatchNorm if bn is set), after cnnWarmupBatches batches.
func benchCNN(b *testing.B, bn bool, prepare func(*nn.MLP) (*train.Trainer, error)) {
	trainSet, _ := loadMNIST(b, 60000, 0)
	m, err := nn.New(arch.CNN(bn, 10), rand.New(rand.NewSource(1)))
	if err != nil {
		b.Fatal(err)
	}
	tr, err := prepare(m)
	if err != nil {
		b.Fatal(err)
	}
	n := cnnWarmupBatches * 128
	warm := train.Data{Images: trainSet.Images[:n*len(trainSet.Images)/len(trainSet.Labels)], Labels: trainSet.Labels[:n]}
	if _, err := tr.Epoch(warm, train.Data{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr.Epoch(trainSet, train.Data{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/epoch")
}
