package train

import (
	"encoding/json"
	"math"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"tinyq/modelfile"
	"tinyq/nn"
	"tinyq/safetensors"
)

// TestCheckpointStateRanges (issue 11, case 7): a checkpoint whose state no training can
// produce is refused on load: a negative Adam second moment, a NaN moment, 1e9 epochs, an
// empty history, zero steps. Before, all of these were accepted by -resume.
func TestCheckpointStateRanges(t *testing.T) {
	trainSet, _ := loadMNIST(t, 200, 1)
	m, err := nn.NewMLP([]int{784, 8, 10}, rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	tr, err := NewTrainer(m, Config{Epochs: 2, Batch: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(trainSet, Data{}, FloatCheckpoints(m, good, "cfg", false)); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := LoadCheckpoint(good); err != nil {
		t.Fatalf("good checkpoint refused: %v", err)
	}
	cases := []struct {
		name string
		edit func(f *safetensors.File)
		want string
	}{
		{"negative second moment", func(f *safetensors.File) { setF32(t, f, "opt.v.0", 3, -1) }, "opt.v.0"},
		{"NaN first moment", func(f *safetensors.File) { setF32(t, f, "opt.m.1", 0, float32(math.NaN())) }, "opt.m.1"},
		{"1e9 epochs", func(f *safetensors.File) { editState(t, f, func(s map[string]any) { s["epochs"] = 1e9 }) }, "train_state"},
		{"empty history", func(f *safetensors.File) { editState(t, f, func(s map[string]any) { s["history"] = []any{} }) }, "train_state"},
		{"zero steps", func(f *safetensors.File) { editState(t, f, func(s map[string]any) { s["steps"] = 0 }) }, "train_state"},
	}
	for _, c := range cases {
		f, err := safetensors.ReadFile(good)
		if err != nil {
			t.Fatal(err)
		}
		c.edit(f)
		delete(f.Metadata, modelfile.KeyDataSHA256) // an edited file without its checksum, as before it existed
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".safetensors")
		if err := safetensors.WriteFile(p, f); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := LoadCheckpoint(p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %s", c.name, err, c.want)
		}
	}
	// Steps that do not match the epochs and batch are refused on resume.
	f, _ := safetensors.ReadFile(good)
	editState(t, f, func(s map[string]any) { s["steps"] = 3 })
	p := filepath.Join(dir, "steps.safetensors")
	if err := safetensors.WriteFile(p, f); err != nil {
		t.Fatal(err)
	}
	m2, _ := nn.NewMLP([]int{784, 8, 10}, rand.New(rand.NewSource(1)))
	tr2, _ := NewTrainer(m2, Config{Epochs: 3, Batch: 100})
	if _, err := tr2.Run(trainSet, Data{}, FloatCheckpoints(m2, p, "cfg", true)); err == nil || !strings.Contains(err.Error(), "optimizer steps") {
		t.Errorf("inconsistent steps resumed: %v", err)
	}
	// A checkpoint of more epochs than the run trains is refused, not reported as this run's.
	m3, _ := nn.NewMLP([]int{784, 8, 10}, rand.New(rand.NewSource(1)))
	tr3, _ := NewTrainer(m3, Config{Epochs: 1, Batch: 100})
	if _, err := tr3.Run(trainSet, Data{}, FloatCheckpoints(m3, good, "cfg", true)); err == nil || !strings.Contains(err.Error(), "2 epochs done, this run trains 1") {
		t.Errorf("2-epoch checkpoint resumed by a 1-epoch run: %v", err)
	}
}

// TestNonFiniteNeverWritten (case 7): training that reaches NaN stops with an error naming
// the phase and epoch and leaves the last good checkpoint in place; writers refuse NaN.
func TestNonFiniteNeverWritten(t *testing.T) {
	trainSet, _ := loadMNIST(t, 200, 1)
	m, err := nn.NewMLP([]int{784, 8, 10}, rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(t.TempDir(), "ck.safetensors")
	tr, err := NewTrainer(m, Config{Epochs: 2, Batch: 100, Name: "fp32", BeforeEpoch: func(e int) error {
		if e == 1 {
			m.Layers[0].Weights()[5] = float32(math.NaN())
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.Run(trainSet, Data{}, FloatCheckpoints(m, ck, "cfg", false))
	if err == nil || !strings.Contains(err.Error(), "fp32 epoch 2") {
		t.Fatalf("error %v, want one naming fp32 epoch 2", err)
	}
	_, st, _, err := LoadCheckpoint(ck)
	if err != nil || st.Epochs != 1 {
		t.Fatalf("the epoch-1 checkpoint: %d epochs, %v", st.Epochs, err)
	}
	if err := SaveCheckpoint(ck, m, tr.State(&History{Epochs: make([]Epoch, 1)}), "cfg"); err == nil {
		t.Fatal("a NaN model was written")
	}
	if _, _, _, err := LoadCheckpoint(ck); err != nil {
		t.Fatalf("the good checkpoint was overwritten: %v", err)
	}
}

// setF32 sets element i of an F32 tensor.
func setF32(t *testing.T, f *safetensors.File, name string, i int, x float32) {
	t.Helper()
	for k := range f.Tensors {
		if f.Tensors[k].Name == name {
			v, err := f.Tensors[k].F32()
			if err != nil {
				t.Fatal(err)
			}
			v[i] = x
			f.Tensors[k] = safetensors.FromF32(name, f.Tensors[k].Shape, v)
			return
		}
	}
	t.Fatalf("no tensor %s", name)
}

// editState changes the train_state metadata.
func editState(t *testing.T, f *safetensors.File, edit func(map[string]any)) {
	t.Helper()
	var s map[string]any
	if err := json.Unmarshal([]byte(f.Metadata[modelfile.KeyState]), &s); err != nil {
		t.Fatal(err)
	}
	edit(s)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	f.Metadata[modelfile.KeyState] = string(b)
}
