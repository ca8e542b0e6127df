package train

import (
	"math"
	"math/rand"
	"slices"
	"testing"

	"tinyq/nn"
)

// recordingTeacher returns fixed logits (row r, class k: k·r/10) and records the rows and
// inputs of each call.
type recordingTeacher struct {
	rows   []int
	inputs [][]float32
}

func (rt *recordingTeacher) Forward(x []float32, rows int, logits []float32) error {
	rt.rows = append(rt.rows, rows)
	rt.inputs = append(rt.inputs, slices.Clone(x))
	for r := range rows {
		for k := range 10 {
			logits[r*10+k] = float32(k*r) / 10
		}
	}
	return nil
}

// TestDistillTeacherSeesRealRows: the teacher runs once per step on exactly the real rows of
// the batch (the last one partial), in the shuffled order the student trains on.
func TestDistillTeacherSeesRealRows(t *testing.T) {
	trainSet, _ := loadMNIST(t, 250, 1)
	m, err := nn.NewMLP([]int{784, 8, 10}, rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	rt := &recordingTeacher{}
	var seen [][]float32
	var tr *Trainer
	tr, err = NewTrainer(m, Config{Batch: 100, Distill: &Distillation{Teacher: rt, Temperature: 2, Alpha: 0.5},
		BeforeStep: func(rows int) { seen = append(seen, slices.Clone(tr.x[:rows*784])) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Epoch(trainSet, Data{}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rt.rows, []int{100, 100, 50}) {
		t.Fatalf("teacher rows %v, want [100 100 50]", rt.rows)
	}
	for i := range seen {
		if !slices.Equal(rt.inputs[i], seen[i]) {
			t.Fatalf("step %d: the teacher saw other inputs than the student", i+1)
		}
	}
}

// TestDistillAlphaZeroIsPlainTraining: with Alpha 0 the teacher has no say, and training gives
// bit-identical weights to training without distillation; with Alpha 0.5 it does not.
func TestDistillAlphaZeroIsPlainTraining(t *testing.T) {
	trainSet, _ := loadMNIST(t, 300, 1)
	run := func(d *Distillation) *nn.MLP {
		m, err := nn.NewMLP([]int{784, 16, 10}, rand.New(rand.NewSource(3)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Fit(m, trainSet, Data{}, Config{Epochs: 1, Batch: 64, Seed: 2, Distill: d}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	plain := run(nil)
	zero := run(&Distillation{Teacher: &recordingTeacher{}, Temperature: 3, Alpha: 0})
	half := run(&Distillation{Teacher: &recordingTeacher{}, Temperature: 3, Alpha: 0.5})
	if !slices.Equal(plain.Layers[0].Weights(), zero.Layers[0].Weights()) {
		t.Error("Alpha 0 changed the training")
	}
	if slices.Equal(plain.Layers[0].Weights(), half.Layers[0].Weights()) {
		t.Error("Alpha 0.5 did not change the training")
	}
}

// TestCosineSchedule: the learning rate of step k of K is LR·(1+cos(π·k/K))/2, for the
// weights and an Extra solver alike; the last step of a run is just above 0.
func TestCosineSchedule(t *testing.T) {
	trainSet, _ := loadMNIST(t, 250, 1)
	m, err := nn.NewMLP([]int{784, 8, 10}, rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	var tr *Trainer
	var lrs []float64
	tr, err = NewTrainer(m, Config{Epochs: 2, Batch: 100, LR: 0.01, Schedule: CosineLR,
		BeforeStep: func(int) { lrs = append(lrs, tr.solver.LR) }})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := tr.Epoch(trainSet, Data{}); err != nil {
			t.Fatal(err)
		}
	}
	const K = 6 // 2 epochs of 3 steps
	if len(lrs) != K {
		t.Fatalf("%d steps, want %d", len(lrs), K)
	}
	for k, lr := range lrs {
		if want := 0.01 * (1 + math.Cos(math.Pi*float64(k)/K)) / 2; lr != want {
			t.Errorf("step %d: learning rate %v, want %v", k, lr, want)
		}
	}
}

// TestDistillConfigErrors: distillation without a teacher, or with a bad temperature or
// weight, is refused before anything is built.
func TestDistillConfigErrors(t *testing.T) {
	rt := &recordingTeacher{}
	for _, d := range []Distillation{{}, {Teacher: rt, Temperature: -1}, {Teacher: rt, Temperature: math.Inf(1)}, {Teacher: rt, Alpha: 1.5}, {Teacher: rt, Alpha: math.NaN()}} {
		if _, err := NewTrainer(newModel(t, 1), Config{Distill: &d}); err == nil {
			t.Errorf("distillation %+v accepted", d)
		}
	}
	if _, err := NewTrainer(newModel(t, 1), Config{Schedule: 5}); err == nil {
		t.Error("schedule 5 accepted")
	}
}
