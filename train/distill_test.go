package train

import (
	"math"
	"math/rand"
	"slices"
	"testing"

	"tinyq/nn"
)

// recordingTeacher returns logits that depend on each row (class k: the row's pixel k) and
// records the rows of each call.
type recordingTeacher struct {
	rows []int
}

func (rt *recordingTeacher) Forward(x []float32, rows int, logits []float32) error {
	rt.rows = append(rt.rows, rows)
	in := len(x) / rows
	for r := range rows {
		for k := range 10 {
			logits[r*10+k] = x[r*in+300+k] // pixels near the centre, not all zero
		}
	}
	return nil
}

// TestDistillTeacherLogits: the teacher runs once over the training set, in batches of
// EvalBatch rows, and every step of every epoch gets exactly the teacher's logits of the
// samples it trains on, in the shuffled order, with zeros in the padding rows.
func TestDistillTeacherLogits(t *testing.T) {
	trainSet, _ := loadMNIST(t, 250, 1)
	m, err := nn.NewMLP([]int{784, 8, 10}, rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	rt := &recordingTeacher{}
	var tr *Trainer
	steps := 0
	check := func(rows int) {
		steps++
		for r := range tr.cfg.Batch {
			for k := range 10 {
				want := float32(0)
				if r < rows {
					want = tr.x[r*784+300+k]
				}
				if got := tr.tv[r*10+k]; got != want {
					t.Fatalf("step %d row %d class %d: teacher logit %v, want %v", steps, r, k, got, want)
				}
			}
		}
	}
	tr, err = NewTrainer(m, Config{Batch: 100, EvalBatch: 120, Distill: &Distillation{Teacher: rt, Temperature: 2, Alpha: 0.5}, BeforeStep: check})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := tr.Epoch(trainSet, Data{}); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(rt.rows, []int{120, 120, 10}) {
		t.Fatalf("teacher calls of %v rows, want [120 120 10] (once over the set)", rt.rows)
	}
	if steps != 6 {
		t.Fatalf("%d steps, want 6", steps)
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
