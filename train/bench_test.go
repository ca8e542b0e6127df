package train

import (
	"runtime"
	"testing"
)

// BenchmarkTrainStep measures one training step (forward, backward, Adam) at batch 128 for
// the 784-256-128-10 MLP.
func BenchmarkTrainStep(b *testing.B) {
	trainSet, _ := loadMNIST(b, 128, 1)
	tr, err := NewTrainer(newModel(b, 1), Config{Batch: 128})
	if err != nil {
		b.Fatal(err)
	}
	copy(tr.x, trainSet.Images)
	for r, l := range trainSet.Labels {
		tr.yv[r*10+int(l)] = 1
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr.step(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEpoch trains one full epoch on the 60,000 MNIST training images and reports the
// bytes allocated per epoch (MB/epoch) at steady state (after a warm-up epoch).
func BenchmarkEpoch(b *testing.B) {
	trainSet, _ := loadMNIST(b, 60000, 1)
	tr, err := NewTrainer(newModel(b, 1), Config{Batch: 128})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tr.Epoch(trainSet, Data{}); err != nil {
		b.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr.Epoch(trainSet, Data{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/1e6, "MB/epoch")
}

// BenchmarkInference measures float32 forward passes at batch 1000 (samples/s).
func BenchmarkInference(b *testing.B) {
	_, testSet := loadMNIST(b, 1, 1000)
	ev, err := newModel(b, 1).NewEvaluator(1000)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ev.Forward(testSet.Images, 1000); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "samples/s")
}
