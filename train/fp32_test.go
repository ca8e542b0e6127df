package train

import (
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tinyq/arch"
	"tinyq/mnist"
)

// TestCheckMemory: the default model at batch 128 passes; batch 100,000 is refused with the
// batch as the larger part, a huge layer with the parameters as the larger part.
func TestCheckMemory(t *testing.T) {
	if err := CheckMemory(arch.MLP([]int{784, 256, 128, 10}, arch.Shape{}), 128); err != nil {
		t.Fatalf("default run: %v", err)
	}
	var me *MemoryError
	err := CheckMemory(arch.MLP([]int{784, 256, 128, 10}, arch.Shape{}), 100000)
	if !errors.As(err, &me) || !(me.Activations > me.Params) || me.Batch != 100000 || !strings.HasPrefix(err.Error(), "train: training needs about ") {
		t.Errorf("batch 100,000: %v", err)
	}
	err = CheckMemory(arch.MLP([]int{784, 1 << 15, 1 << 13, 10}, arch.Shape{}), 1)
	if !errors.As(err, &me) || !(me.Params > me.Activations) || me.GiB() < 2 {
		t.Errorf("a 32768-wide model: %v", err)
	}
}

// TestTrainFP32: the model is initialised from the seed (two runs agree), trained, and
// checkpointed; a resumed run from the finished checkpoint returns the same model.
func TestTrainFP32(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	d := Data{Images: make([]float32, 64*12), Labels: make([]uint8, 64)}
	for i := range d.Images {
		d.Images[i] = rng.Float32()
	}
	for i := range d.Labels {
		d.Labels[i] = uint8(rng.Intn(10))
	}
	cfg := Config{Epochs: 2, Batch: 16, LR: 0.01, Seed: 3}
	ck := filepath.Join(t.TempDir(), "ck.safetensors")
	a, hist, err := TrainFP32(arch.MLP([]int{12, 8, 10}, arch.Shape{}), cfg, d, d, ck, `{"seed":3}`, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist.Epochs) != 2 {
		t.Errorf("%d epochs, want 2", len(hist.Epochs))
	}
	if _, err := os.Stat(ck); err != nil {
		t.Fatalf("no checkpoint: %v", err)
	}
	b, _, err := TrainFP32(arch.MLP([]int{12, 8, 10}, arch.Shape{}), cfg, d, d, "", "", false)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := TrainFP32(arch.MLP([]int{12, 8, 10}, arch.Shape{}), cfg, d, d, ck, `{"seed":3}`, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range a.Layers {
		for j, w := range l.Weights() {
			if b.Layers[i].Weights()[j] != w || c.Layers[i].Weights()[j] != w {
				t.Fatalf("layer %d weight %d: %v, again %v, resumed %v", i, j, w, b.Layers[i].Weights()[j], c.Layers[i].Weights()[j])
			}
		}
	}
	if _, _, err := TrainFP32(arch.MLP([]int{12, 8, 10}, arch.Shape{}), cfg, d, d, ck, `{"seed":4}`, true); err == nil {
		t.Error("resumed with another training record: no error")
	}
	if _, _, err := TrainFP32(arch.MLP([]int{12, 0, 10}, arch.Shape{}), cfg, d, d, "", "", false); err == nil {
		t.Error("a layer of size 0: no error")
	}
}

// TestEpochSecondsNil: a nil history (a loaded model) has no epoch seconds; a trained one
// has one per epoch.
func TestEpochSecondsNil(t *testing.T) {
	var h *History
	if s := h.EpochSeconds(); s != nil {
		t.Errorf("nil history: %v", s)
	}
	h = &History{Epochs: []Epoch{{Seconds: 1.5}, {Seconds: 2}}}
	if s := h.EpochSeconds(); len(s) != 2 || s[0] != 1.5 || s[1] != 2 {
		t.Errorf("EpochSeconds = %v", s)
	}
}

// TestMNIST: the training set cut to the limit (none at 0 or beyond it), the whole test set,
// 784 inputs; a directory without MNIST is an error.
func TestMNIST(t *testing.T) {
	dir, err := mnist.Locate("")
	if err != nil {
		t.Skip(err)
	}
	for _, c := range []struct{ limit, want int }{{500, 500}, {0, 60000}, {70000, 60000}} {
		tr, te, inputs, err := MNIST(dir, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Len() != c.want || len(tr.Images) != c.want*784 || te.Len() != 10000 || inputs != 784 {
			t.Errorf("limit %d: %d training, %d test images, %d inputs", c.limit, tr.Len(), te.Len(), inputs)
		}
	}
	if _, _, _, err := MNIST(t.TempDir(), 0); err == nil {
		t.Error("an empty directory: no error")
	}
}
