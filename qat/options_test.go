package qat

import (
	"encoding/json"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"tinyq/arch"
	"tinyq/modelfile"
	"tinyq/nn"
	"tinyq/quant"
	"tinyq/train"
)

// TestParseTargets: a comma list of widths, uniform or per layer, in order; duplicates and
// bad widths are refused. (Moved from cmd/mnist's TestParseBits and TestParseBitsPerLayer.)
func TestParseTargets(t *testing.T) {
	got, err := ParseTargets("8, 4/8,2")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"w8a8", "w4a8", "w2a2"}
	if len(got) != len(want) {
		t.Fatalf("ParseTargets = %v", got)
	}
	for i, w := range want {
		if got[i].Name() != w || got[i].PerLayer() {
			t.Errorf("target %d: %s (per layer %t), want %s", i, got[i].Name(), got[i].PerLayer(), w)
		}
	}
	got, err = ParseTargets("2/8+2/8+4/8, 4")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name() != "w2a8-w2a8-w4a8" || !got[0].PerLayer() || got[0].Narrowest() != (quant.Widths{Weight: 2, Activation: 8}) || got[1].Name() != "w4a4" || got[1].PerLayer() {
		t.Fatalf("ParseTargets = %+v", got)
	}
	for s, msg := range map[string]string{
		"8,8/8":       "w8a8 listed twice",
		"2+4+8,2+4+8": "listed twice",
		"9":           "bits 9 outside",
		"8,,4":        `"" is not N`,
		"2+2+x":       "is not N, W/A or per-layer",
	} {
		if _, err := ParseTargets(s); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseTargets(%q): %v, want an error with %q", s, err, msg)
		}
	}
}

// TestTargetJSON: the narrowest widths as w and a, per layer also the layers.
func TestTargetJSON(t *testing.T) {
	ts, err := ParseTargets("4/8,2/8+2/8+4/8")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(ts)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"w":4,"a":8},{"w":2,"a":8,"layers":[[2,8],[2,8],[4,8]]}]`; string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
}

func TestPhaseCheckpoint(t *testing.T) {
	if got := PhaseCheckpoint("dir/ck.safetensors", "qat-w4a4"); got != "dir/ck.qat-w4a4.safetensors" {
		t.Errorf("PhaseCheckpoint = %q", got)
	}
	if got := PhaseCheckpoint("ck", "qat-w4a4"); got != "ck.qat-w4a4" {
		t.Errorf("PhaseCheckpoint without extension = %q", got)
	}
}

// TestOptionsPhase: the phase carries the recipe with the choices made, its name, checkpoint
// and training record; from scratch it starts from a new model with the base's input record;
// a per-layer target must fit the model.
func TestOptionsPhase(t *testing.T) {
	m, err := nn.NewMLP([]int{16, 8, 4}, rand.New(rand.NewSource(3)))
	if err != nil {
		t.Fatal(err)
	}
	m.Input = modelfile.Input{Width: 4, Height: 4, PixelDivisor: 128}
	fm, err := m.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	b := Base{Model: m, Float: fm, History: &train.History{Epochs: make([]train.Epoch, 2)}, Training: `{"batch":8}`, Train: train.Config{LR: 0.01, Seed: 5, Epochs: 1}}
	off := false
	o := Options{Choices: Choices{LearnScales: &off}, Observer: quant.MinMaxObserver, LSQInit: InitRange, FreezeObserversAfter: 1,
		Distill: true, DistillT: 3, DistillAlpha: 0.25, Checkpoint: "ck.safetensors", Resume: true}
	w22 := Target{{Weight: 2, Activation: 2}}
	ph, err := o.Phase(w22, b)
	if err != nil {
		t.Fatal(err)
	}
	c := ph.Config
	if ph.Start != m || ph.Train.Name != "qat-w2a2" || ph.Checkpoint != "ck.qat-w2a2.safetensors" || !ph.Resume {
		t.Errorf("phase start %p (want %p), name %q, checkpoint %q, resume %t", ph.Start, m, ph.Train.Name, ph.Checkpoint, ph.Resume)
	}
	if c.LearnScales || c.Observer.Kind != quant.MinMaxObserver || c.LSQInit != InitRange || !c.FixInputScale || c.FreezeObserversAfter != 1 {
		t.Errorf("config %+v: want the choices made", c)
	}
	// W2A2's recipe: the float rate, cosine.
	if ph.Train.LR != 0.01 || ph.Train.Schedule != train.CosineLR || ph.Train.Seed != 5 {
		t.Errorf("train LR %v schedule %v seed %d", ph.Train.LR, ph.Train.Schedule, ph.Train.Seed)
	}
	if d := ph.Train.Distill; d == nil || d.Teacher != fm || d.Temperature != 3 || d.Alpha != 0.25 {
		t.Errorf("distillation %+v", d)
	}
	rec, err := modelfile.ParseQATTraining(ph.Training)
	if err != nil {
		t.Fatal(err)
	}
	wantID := modelfile.BaseIdentity(2, Fingerprint(m))
	if string(rec.FP32) != b.Training || rec.Init != "fp32" || rec.Observer != "minmax" || rec.LSQ || rec.LSQInit != "range" ||
		rec.Schedule != "cosine" || rec.LR != 0.01 || rec.FP32Model != wantID || !rec.Distill || rec.DistillT != 3 {
		t.Errorf("training record %s", ph.Training)
	}

	o = Options{Choices: Choices{FromScratch: true}, LearnInput: true}
	ph, err = o.Phase(Target{{Weight: 8, Activation: 8}}, b)
	if err != nil {
		t.Fatal(err)
	}
	if ph.Start == m || ph.Start.Input != m.Input || ph.Start.Layers[0].Weights()[0] == m.Layers[0].Weights()[0] || !slices.Equal(ph.Start.Sizes(), m.Sizes()) {
		t.Errorf("from scratch: the phase starts from the base model, or without its input record or sizes (%v, want %v)", ph.Start.Sizes(), m.Sizes())
	}
	rec, _ = modelfile.ParseQATTraining(ph.Training)
	// From scratch: the float rate (not a tenth), no base identity, no checkpoint.
	if rec.Init != "scratch" || rec.FP32Model != "" || ph.Train.LR != 0.01 || ph.Checkpoint != "" || ph.Config.FixInputScale || ph.Train.Distill != nil {
		t.Errorf("from scratch: record %s, LR %v, checkpoint %q", ph.Training, ph.Train.LR, ph.Checkpoint)
	}

	if _, err := o.Phase(Target{{Weight: 2, Activation: 8}, {Weight: 4, Activation: 8}, {Weight: 8, Activation: 8}}, b); err == nil || !strings.Contains(err.Error(), "gives 3 layers their widths, the model has 2") {
		t.Errorf("per-layer target of 3 on 2 layers: %v", err)
	}
	ph, err = o.Phase(Target{{Weight: 2, Activation: 8}, {Weight: 4, Activation: 8}}, b)
	if err != nil {
		t.Fatal(err)
	}
	if ph.Train.Name != "qat-w2a8-w4a8" || !ph.Config.LearnScales || ph.Config.Spec.Layer(1).Widths() != (quant.Widths{Weight: 4, Activation: 8}) {
		t.Errorf("per layer: name %q, config %+v", ph.Train.Name, ph.Config)
	}
}

// TestModelNamesAndCheckpoints: a uniform target saves its QAT file and its integer model, a
// per-layer one the integer model only; phase checkpoints exist only with Checkpoint.
func TestModelNamesAndCheckpoints(t *testing.T) {
	ts, err := ParseTargets("4,2/8+4/8")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(append(ts[0].ModelNames(), ts[1].ModelNames()...), " "); got != "qat-w4a4 qat-w4a4-int qat-w2a8-w4a8-int" {
		t.Errorf("ModelNames: %s", got)
	}
	if got := (Options{}).Checkpoints(ts); got != nil {
		t.Errorf("Checkpoints without Checkpoint: %v", got)
	}
	if got := strings.Join((Options{Checkpoint: "ck.st"}).Checkpoints(ts), " "); got != "ck.qat-w4a4.st ck.qat-w2a8-w4a8.st" {
		t.Errorf("Checkpoints: %s", got)
	}
}

// TestResultDivergence: a nil result (a phase that failed before training) and a sound one
// give no warning; a diverged history gives train.Divergence's, under the phase's name.
func TestResultDivergence(t *testing.T) {
	var r *Result
	if w := r.Divergence(); w != "" {
		t.Errorf("nil result: %q", w)
	}
	r = &Result{Name: "qat-w4a4", History: &train.History{Epochs: []train.Epoch{{TrainLoss: 0.1, TestAccuracy: 97}}}}
	if w := r.Divergence(); w != "" {
		t.Errorf("sound history: %q", w)
	}
	r.History.Epochs[0].TrainLoss = 1e6
	if w := r.Divergence(); !strings.HasPrefix(w, "qat-w4a4 diverged") {
		t.Errorf("diverged history: %q", w)
	}
}

// TestTrainingRecordFreezeBN: the phase record of a model with BatchNorm holds its
// FreezeBNAfter (a checkpoint of another is not resumed: its running statistics froze at
// another epoch); that of a model without BatchNorm does not mention it, so its record is
// what it was before the option.
func TestTrainingRecordFreezeBN(t *testing.T) {
	two := 2
	o := Options{Choices: Choices{FreezeBNAfter: &two}}
	for _, bn := range []bool{false, true} {
		m, err := nn.New(arch.CNN(bn, 10), rand.New(rand.NewSource(1)))
		if err != nil {
			t.Fatal(err)
		}
		ph, err := o.Phase(Target{{Weight: 8, Activation: 8}}, Base{Model: m, Training: `{}`, Train: train.Config{LR: 0.01}})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := modelfile.ParseQATTraining(ph.Training)
		if err != nil {
			t.Fatal(err)
		}
		has := strings.Contains(ph.Training, "freeze_bn_after")
		if has != bn || (bn && rec.FreezeBNAfter != 2) || ph.Config.FreezeBNAfter != 2 {
			t.Errorf("bn %v: record %s, config FreezeBNAfter %d", bn, ph.Training, ph.Config.FreezeBNAfter)
		}
	}
}
