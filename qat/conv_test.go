package qat

import (
	"math/rand"
	"path/filepath"
	"slices"
	"testing"

	"tinyq/arch"
	"tinyq/infer"
	"tinyq/nn"
	"tinyq/ptq"
	"tinyq/train"
)

// QAT of a small convolutional network with BatchNorm on real MNIST: the BatchNorm is
// folded at Prepare (the QAT model has none, its weights are the folded ones), the
// simulation and the integer conversion predict the same classes on every test image at 8
// and 4 bits, and the QAT file round trip keeps the simulation's logits bit for bit.
func TestConvQATWithBatchNorm(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a CNN on 2000 MNIST images")
	}
	tr, te := loadMNIST(t, 2000, 500)
	a, err := arch.Parse("conv(16,5,pad=2),bn,relu,maxpool(2),conv(32,5,pad=2),bn,relu,maxpool(2),flatten,dense(10)", arch.Shape{H: 28, W: 28, C: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := nn.New(a, rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := train.Fit(m, tr, te, train.Config{Epochs: 1, Batch: 25}); err != nil {
		t.Fatal(err)
	}
	want, err := m.FloatModel() // BatchNorm folded by the runtime
	if err != nil {
		t.Fatal(err)
	}
	accFP32, _ := infer.Evaluate(want, te.Images, te.Labels)
	t.Logf("fp32 %.2f%%", accFP32)
	if accFP32 < 80 {
		t.Fatalf("fp32 accuracy %.2f%% after one epoch on 2000 images, want >= 80%%", accFP32)
	}
	for _, bits := range []int{8, 4} {
		qm, err := Prepare(m, Spec(bits, bits))
		if err != nil {
			t.Fatal(err)
		}
		if qm.Layers[0].BN == nil && m.Layers[0].BN == nil || qm.Layers[0].BN != nil {
			t.Fatal("BatchNorm not folded at Prepare (or the source model lost it)")
		}
		if !slices.Equal(qm.Layers[0].Weights(), want.Layers[0].W) || !slices.Equal(qm.Layers[0].Bias(), want.Layers[0].B) {
			t.Fatal("the QAT model's first layer is not the runtime's folded layer")
		}
		if _, err := qm.Fit(tr, te, train.Config{Epochs: 1, Batch: 25, LR: 1e-4}); err != nil {
			t.Fatal(err)
		}
		sim, im, ag := convertCompare(t, qm, te.Images)
		accSim, _ := infer.Evaluate(sim, te.Images, te.Labels)
		accInt, _ := infer.Evaluate(im, te.Images, te.Labels)
		t.Logf("w%da%d: simulation %.2f%%, integer %.2f%%, agreement %+v", bits, bits, accSim, accInt, ag)
		if ag.Percent != 100 || accSim < accFP32-3 {
			t.Errorf("w%da%d: simulation and integer model agree on %.2f%% of predictions (simulation accuracy %.2f%%), want 100%% and at least fp32's %.2f%% - 3", bits, bits, ag.Percent, accSim, accFP32)
		}
		path := filepath.Join(t.TempDir(), "qat.safetensors")
		if err := qm.Save(path, ""); err != nil {
			t.Fatal(err)
		}
		loaded, err := infer.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		x := te.Images[:20*784]
		l1, l2 := make([]float32, 200), make([]float32, 200)
		if err := sim.Forward(x, 20, l1); err != nil {
			t.Fatal(err)
		}
		if err := loaded.Forward(x, 20, l2); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(l1, l2) {
			t.Errorf("w%da%d: the saved QAT file's logits differ from the simulation's", bits, bits)
		}
		if _, _, err := Load(path); err != nil {
			t.Errorf("qat.Load of a convolutional QAT file: %v", err)
		}
	}
}

// convertCompare returns qm's simulation, its static integer conversion and how far they
// agree on images.
func convertCompare(t *testing.T, qm *Model, images []float32) (*infer.FloatModel, *infer.IntModel, ptq.Agreement) {
	t.Helper()
	sim, err := qm.Simulation()
	if err != nil {
		t.Fatal(err)
	}
	im, err := qm.Convert(infer.Static)
	if err != nil {
		t.Fatal(err)
	}
	ag, err := ptq.Compare(sim, im, images)
	if err != nil {
		t.Fatal(err)
	}
	return sim, im, ag
}
