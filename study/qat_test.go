package study

import (
	"math/rand"
	"runtime"
	"testing"

	"tinyq/arch"
	"tinyq/nn"
	"tinyq/qat"
	"tinyq/quant"
	"tinyq/study/schema"
	"tinyq/train"
)

// cnnData is n random 28x28 images (the CNN's input) with labels 0 to 9.
func cnnData(n int, seed int64) train.Data {
	rng := rand.New(rand.NewSource(seed))
	d := train.Data{Images: make([]float32, n*28*28), Labels: make([]uint8, n)}
	for i := range d.Images {
		d.Images[i] = rng.Float32()
	}
	for i := range d.Labels {
		d.Labels[i] = uint8(rng.Intn(10))
	}
	return d
}

// TestEvalBatchSameResults: the CNN (with and without BatchNorm) evaluated at EvalBatch rows
// gives the accuracy and loss it gives at train's default of 1000 rows, bit for bit, on a set
// that neither batch divides: what lets the study evaluate at EvalBatch without changing a
// result (EvalBatch).
func TestEvalBatchSameResults(t *testing.T) {
	d := cnnData(1010, 3)
	for _, bn := range []bool{false, true} {
		m, err := nn.New(arch.CNN(bn, 10), rand.New(rand.NewSource(1)))
		if err != nil {
			t.Fatal(err)
		}
		var got []nn.Result
		for _, b := range []int{1000, EvalBatch} {
			e, err := m.NewEvaluator(b)
			if err != nil {
				t.Fatal(err)
			}
			r, err := e.Evaluate(d.Images, d.Labels)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, r)
		}
		if got[0] != got[1] {
			t.Errorf("batchnorm %v: %+v at 1000 rows, %+v at %d", bn, got[0], got[1], EvalBatch)
		}
	}
}

// TestTrainQATEvaluatesAtEvalBatch: a QAT run of the study evaluates the test set at EvalBatch
// rows, not train's default of 1000, at which the CNN's evaluation graph alone takes about
// 150 MB (one per QAT run of the study, the heap's largest share after the data). Measured
// for the whole run on 32 images: 64 MB allocated at EvalBatch, 186 MB at 1000 rows.
func TestTrainQATEvaluatesAtEvalBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("fine-tunes the CNN with QAT")
	}
	m, err := nn.New(arch.CNN(false, 10), rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		in:  Inputs{Model: m, Train: cnnData(32, 1), Test: cnnData(32, 2), TrainQAT: train.Config{Batch: 16, Seed: 1}},
		set: schema.Settings{LR: 1e-3},
	}
	const limit = 125 << 20 // bytes: midway between the 64 MB and 186 MB measured
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := e.trainQAT(qat.Target{quant.Widths{Weight: 8, Activation: 8}}, nil, 1)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > limit {
		t.Errorf("a QAT run on 32 images allocated %d MB, want at most %d MB (an evaluation graph of 1000 rows?)", n>>20, limit>>20)
	}
	if len(res.History.Epochs) != 1 {
		t.Errorf("%d epochs trained, want 1", len(res.History.Epochs))
	}
}
