package qat

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/modelfile"
	"tinyq/train"
)

// TestRunResumesAndRedoesStale: Run checkpoints a phase; resuming the finished phase with the
// same record trains nothing more and gives the same model; a checkpoint fine-tuned from
// another FP32 model (another fp32_model in the record) is not resumed: the phase is redone
// from the start, with a note to the log, and equals a fresh run.
func TestRunResumesAndRedoesStale(t *testing.T) {
	trainSet, testSet := loadMNIST(t, 512, 200)
	ck := filepath.Join(t.TempDir(), "ck.safetensors")
	record := func(base string) string {
		return modelfile.QATTraining{FP32: json.RawMessage(`{}`), Init: "fp32", Observer: "minmax", FP32Model: base}.String()
	}
	phase := func(base string, resume bool, log *bytes.Buffer) Phase {
		p := Phase{Start: newModel(t, 3), Config: Spec(8, 8), Train: train.Config{Name: "qat-w8a8", Epochs: 1, Batch: 64, Seed: 1},
			Checkpoint: ck, Training: record(base), Resume: resume}
		if log != nil {
			p.Train.Log = log
		}
		return p
	}
	fr, err := Run(phase("model A", false, nil), trainSet, testSet)
	if err != nil {
		t.Fatal(err)
	}
	fresh, fh := fr.Model, fr.History
	if fr.Simulation == nil || fr.Int == nil || fr.Int.Config.Mode != infer.Static {
		t.Fatalf("Run gave simulation %v, integer model %v: want both, the integer one static", fr.Simulation, fr.Int)
	}
	for _, q := range fresh.Quantizers() {
		if q.Observe {
			t.Fatalf("%s: observer left on after Run", q.Name)
		}
	}
	var log bytes.Buffer
	rr, err := Run(phase("model A", true, &log), trainSet, testSet)
	if err != nil {
		t.Fatal(err)
	}
	resumed, rh := rr.Model, rr.History
	if strings.Contains(log.String(), "redoing") || len(rh.Epochs) != len(fh.Epochs) || !sameParams(fresh, resumed) {
		t.Errorf("resuming the same phase: log %q, %d epochs (want %d), same parameters %v", log.String(), len(rh.Epochs), len(fh.Epochs), sameParams(fresh, resumed))
	}
	// The checkpoint now says model A; a run on model B must redo the phase.
	log.Reset()
	rd, err := Run(phase("model B", true, &log), trainSet, testSet)
	if err != nil {
		t.Fatal(err)
	}
	redone := rd.Model
	if !strings.Contains(log.String(), "qat-w8a8: "+ck+" was fine-tuned from another FP32 model (model A, this run has model B); redoing the phase") {
		t.Errorf("no note that the phase is redone: %q", log.String())
	}
	if !sameParams(fresh, redone) {
		t.Error("the redone phase differs from a fresh run of the same settings")
	}
	// With another record than the checkpoint's (same base), resume is refused.
	p := phase("model B", true, nil)
	p.Training = modelfile.QATTraining{FP32: json.RawMessage(`{}`), Observer: "moving-average", FP32Model: "model B"}.String()
	if _, err := Run(p, trainSet, testSet); err == nil || !strings.Contains(err.Error(), "training settings") {
		t.Errorf("resume with another training record: err %v, want a refusal naming the training settings", err)
	}
}

// sameParams reports whether two QAT models have bit-identical float parameters.
func sameParams(a, b *Model) bool {
	for i := range a.MLP.Layers {
		for j, v := range [][]float32{a.MLP.Layers[i].Weights(), a.MLP.Layers[i].Bias()} {
			w := [][]float32{b.MLP.Layers[i].Weights(), b.MLP.Layers[i].Bias()}[j]
			for k := range v {
				if v[k] != w[k] {
					return false
				}
			}
		}
	}
	return true
}
