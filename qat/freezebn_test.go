package qat

import (
	"math/rand"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tinyq/arch"
	"tinyq/infer"
	"tinyq/nn"
	"tinyq/train"
)

// bnBase returns a small convolutional network with BatchNorm trained for three epochs on
// trainSet: the FP32 base of the FreezeBNAfter tests.
func bnBase(t *testing.T, trainSet train.Data) *nn.MLP {
	t.Helper()
	a, err := arch.Parse("conv(4,3,pad=1),bn,relu,maxpool(2),conv(8,3,pad=1),bn,relu,maxpool(2),flatten,dense(10)", arch.Shape{H: 28, W: 28, C: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := nn.New(a, rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := train.Fit(m, trainSet, train.Data{}, train.Config{Epochs: 3, Batch: 32, Seed: 1, LR: 3e-3}); err != nil {
		t.Fatal(err)
	}
	return m
}

// bnStats returns copies of every BatchNorm's running mean and variance, and gamma.
func bnStats(m *nn.MLP) (stats, gammas [][]float32) {
	for _, l := range m.Layers {
		if l.BN != nil {
			stats = append(stats, slices.Clone(l.BN.State.Mean), slices.Clone(l.BN.State.Var))
			gammas = append(gammas, slices.Clone(l.BN.Gamma.Data().([]float32)))
		}
	}
	return stats, gammas
}

func equalAll(a, b [][]float32) bool {
	return slices.EqualFunc(a, b, func(x, y []float32) bool { return slices.Equal(x, y) })
}

// TestFreezeBNAfter: with Config.FreezeBNAfter 1, Prepare keeps each BatchNorm in the ConvBn
// form (the source model untouched); the first epoch moves the running statistics, the
// second leaves them frozen while gamma still learns; a model not yet folded refuses to
// simulate, convert and save; FoldBatchNorm gives a model without BatchNorm whose
// simulation and integer conversion agree on every test prediction and whose accuracy is
// that of the ConvBn form before folding, at 8 and 4 bits.
func TestFreezeBNAfter(t *testing.T) {
	trainSet, testSet := loadMNIST(t, 512, 300)
	base := bnBase(t, trainSet)
	baseStats, _ := bnStats(base)
	fm, err := base.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	accBase, _ := infer.Evaluate(fm, testSet.Images, testSet.Labels)
	t.Logf("base %.2f%%", accBase)
	for _, bits := range []int{8, 4} {
		cfg := Spec(bits, bits)
		cfg.FreezeBNAfter = 1
		qm, err := Prepare(base, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !qm.HasBatchNorm() || !qm.Layers[0].FoldBN || !slices.Equal(qm.Layers[0].Weights(), base.Layers[0].Weights()) {
			t.Fatal("Prepare with FreezeBNAfter did not keep the BatchNorm in the ConvBn form with the base's weights")
		}
		tr, err := qm.NewTrainer(train.Config{Epochs: 2, Batch: 64, Seed: 1, LR: 1e-4})
		if err != nil {
			t.Fatal(err)
		}
		ep, err := tr.Epoch(trainSet, testSet)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("epoch 1 %.2f%%", ep.TestAccuracy)
		first, g1 := bnStats(qm.MLP)
		if equalAll(first, baseStats) {
			t.Fatal("the running statistics did not move in the first epoch")
		}
		if ep, err = tr.Epoch(trainSet, testSet); err != nil {
			t.Fatal(err)
		}
		t.Logf("epoch 2 %.2f%%", ep.TestAccuracy)
		second, g2 := bnStats(qm.MLP)
		if !equalAll(second, first) || equalAll(g2, g1) {
			t.Fatalf("second epoch: running statistics moved %v, gamma moved %v; want frozen statistics and a learning gamma", !equalAll(second, first), !equalAll(g2, g1))
		}
		if now, _ := bnStats(base); !equalAll(now, baseStats) {
			t.Fatal("QAT moved the base model's running statistics")
		}
		if _, err := qm.Simulation(); err == nil || !strings.Contains(err.Error(), "not folded") {
			t.Errorf("Simulation before FoldBatchNorm: %v, want a refusal", err)
		}
		if _, err := qm.Convert(infer.Static); err == nil || !strings.Contains(err.Error(), "not folded") {
			t.Errorf("Convert before FoldBatchNorm: %v, want a refusal", err)
		}
		path := filepath.Join(t.TempDir(), "qat.safetensors")
		if err := qm.Save(path, ""); err == nil || !strings.Contains(err.Error(), "not folded") {
			t.Errorf("Save before FoldBatchNorm: %v, want a refusal", err)
		}
		qm.SetObserving(false)
		if err := qm.FoldBatchNorm(); err != nil {
			t.Fatal(err)
		}
		if qm.HasBatchNorm() {
			t.Fatal("FoldBatchNorm left a BatchNorm")
		}
		sim, _, ag := convertCompare(t, qm, testSet.Images)
		acc, _ := infer.Evaluate(sim, testSet.Images, testSet.Labels)
		t.Logf("w%da%d: simulation %.2f%%, agreement %+v", bits, bits, acc, ag)
		// The simulation of the folded model is the ConvBn form's evaluation but for the
		// rounding of the folded bias to the integer grid: the same accuracy within a point.
		if ag.Percent != 100 || acc < accBase-5 || acc > ep.TestAccuracy+1 || acc < ep.TestAccuracy-1 {
			t.Errorf("w%da%d: simulation %.2f%% (before folding %.2f%%, base %.2f%%), agreement with the integer model %.2f%%; want within a point, at least the base's - 5, and 100%%", bits, bits, acc, ep.TestAccuracy, accBase, ag.Percent)
		}
		if err := qm.Save(path, ""); err != nil {
			t.Errorf("Save after FoldBatchNorm: %v", err)
		}
	}
}

// TestFreezeBNAfterResume: a QAT phase of a network with convolutions and BatchNorm,
// interrupted after its first epoch and after its second, and resumed from its
// checkpoint, gives the uninterrupted phase's model bit for bit: with FreezeBNAfter 2 of 3
// epochs (interrupted while the BatchNorm statistics still update: the checkpoint holds
// them; and just before they freeze), and with FreezeBNAfter 0 (folded at Prepare; before,
// resuming any convolutional QAT checkpoint failed on the architecture check).
func TestFreezeBNAfterResume(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small CNN ten times")
	}
	trainSet, testSet := loadMNIST(t, 256, 100)
	base := bnBase(t, trainSet)
	for _, freeze := range []int{2, 0} {
		cfg := Spec(8, 8)
		cfg.FreezeBNAfter = freeze
		phase := func(epochs int, ck string, resume bool) Phase {
			return Phase{Start: base, Config: cfg, Train: train.Config{Name: "qat-w8a8", Epochs: epochs, Batch: 64, Seed: 1, LR: 1e-4},
				Checkpoint: ck, Resume: resume}
		}
		full, err := Run(phase(3, "", false), trainSet, testSet)
		if err != nil {
			t.Fatal(err)
		}
		for _, stop := range []int{1, 2} {
			ck := filepath.Join(t.TempDir(), "ck.safetensors")
			if _, err := Run(phase(stop, ck, false), trainSet, testSet); err != nil {
				t.Fatal(err)
			}
			r, err := Run(phase(3, ck, true), trainSet, testSet)
			if err != nil {
				t.Fatalf("freeze %d, resumed after epoch %d: %v", freeze, stop, err)
			}
			if r.Model.HasBatchNorm() || !sameParams(full.Model, r.Model) || len(r.History.Epochs) != 3 {
				t.Errorf("freeze %d, resumed after epoch %d: BatchNorm left %v, parameters equal to the uninterrupted run's %v, %d epochs", freeze, stop, r.Model.HasBatchNorm(), sameParams(full.Model, r.Model), len(r.History.Epochs))
			}
		}
	}
}
