package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/mnist"
	"tinyq/nn"
	"tinyq/ptq"
	"tinyq/quant"
)

// ptqPointJSON is a PTQ point as study.json names its fields (the published schema, not the
// Go type).
type ptqPointJSON struct {
	WBits       int     `json:"w_bits"`
	ABits       int     `json:"a_bits"`
	Granularity string  `json:"granularity"`
	Mode        string  `json:"mode"`
	Observer    string  `json:"observer"`
	WeightRange string  `json:"weight_range"`
	Accuracy    float64 `json:"accuracy"`
	WeightBytes int     `json:"weight_bytes"`
}

// studyArgs runs a quick study on a slice small enough for the test suite.
func studyArgs(dir string) []string {
	return []string{"-study", dir, "-study-quick", "-epochs", "1", "-train-limit", "8000", "-hidden", "32", "-quiet"}
}

// TestStudyQuick runs -study-quick end to end: the schema of study.json, the figures and
// report, then a resume after points are lost, and a refusal of other settings.
func TestStudyQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	dir := filepath.Join(t.TempDir(), "study")
	var stdout bytes.Buffer
	if err := run(studyArgs(dir), &stdout, &bytes.Buffer{}); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	raw, err := os.ReadFile(filepath.Join(dir, "study.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Config map[string]any `json:"config"`
		PTQ    []ptqPointJSON `json:"ptq"`
		QAT    []struct {
			WBits        int     `json:"w_bits"`
			ABits        int     `json:"a_bits"`
			LSQ          *bool   `json:"lsq"`
			Accuracy     float64 `json:"accuracy"`
			IntAccuracy  float64 `json:"int_accuracy"`
			WeightBytes  int     `json:"weight_bytes"`
			EpochSeconds float64 `json:"epoch_seconds"`
		} `json:"qat"`
		Sensitivity []struct {
			Layer    string   `json:"layer"`
			WBits    int      `json:"w_bits"`
			ABits    int      `json:"a_bits"`
			Accuracy float64  `json:"accuracy"`
			LogitMSE *float64 `json:"logit_mse"`
		} `json:"sensitivity"`
		Mixed []struct {
			Bits        [][2]int `json:"bits"`
			Accuracy    float64  `json:"accuracy"`
			WeightBytes int      `json:"weight_bytes"`
			Pareto      bool     `json:"pareto"`
		} `json:"mixed"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Config["quick"] != true || doc.Config["seed"] != 1.0 {
		t.Errorf("config %v", doc.Config)
	}
	// Quick grid: weights 8, 4, 2 x activations 8, 4, 2 x 3 observers, static, plus dynamic
	// per weight width; under 8-bit weights the static points again with MSE-clipped weight
	// ranges; both granularities.
	if len(doc.PTQ) != 2*(3*3*3+3)+2*(2*3*3) {
		t.Errorf("%d PTQ points, want 96", len(doc.PTQ))
	}
	acc := map[string]float64{}
	for _, p := range doc.PTQ {
		if p.WeightBytes <= 0 || p.Accuracy <= 0 || (p.Mode != "static" && p.Mode != "dynamic") || (p.Granularity != "per-channel" && p.Granularity != "per-tensor") {
			t.Errorf("PTQ point %+v", p)
		}
		if p.Mode == "static" && p.Granularity == "per-channel" && p.Observer == "minmax" && p.WeightRange == "" {
			acc[quant.Widths{Weight: p.WBits, Activation: p.ABits}.String()] = p.Accuracy
		}
	}
	// A 784-32-10 model trained one epoch on 8,000 images reaches 84.3%; W8A8 stays near.
	if acc["w8a8"] < 80 {
		t.Errorf("PTQ w8a8 %.2f%%, want >= 80", acc["w8a8"])
	}
	if len(doc.QAT) != 3 {
		t.Errorf("%d QAT points, want 3 (w8a8, w4a4, w2a2, observed scales)", len(doc.QAT))
	}
	for _, q := range doc.QAT {
		if q.LSQ == nil || *q.LSQ || q.Accuracy < 50 || q.IntAccuracy < 50 || q.WeightBytes <= 0 || q.EpochSeconds <= 0 {
			t.Errorf("QAT point %+v", q)
		}
	}
	if len(doc.Sensitivity) != 2*3 {
		t.Errorf("%d sensitivity points, want 6 (2 layers x 3 widths)", len(doc.Sensitivity))
	}
	for _, p := range doc.Sensitivity {
		if (p.Layer != "fc1" && p.Layer != "fc2") || p.WBits != p.ABits || p.LogitMSE == nil || p.Accuracy <= 0 {
			t.Errorf("sensitivity point %+v", p)
		}
	}
	if len(doc.Mixed) != 9 { // (3 weight widths x 1 activation width)^2 layers
		t.Errorf("%d mixed points, want 9", len(doc.Mixed))
	}
	front := 0
	for _, p := range doc.Mixed {
		if len(p.Bits) != 2 || p.WeightBytes <= 0 {
			t.Errorf("mixed point %+v", p)
		}
		if p.Pareto {
			front++
			if p.Accuracy <= 0 {
				t.Errorf("front point without test accuracy: %+v", p)
			}
		}
	}
	if front == 0 {
		t.Error("no Pareto front")
	}
	// The budgets' fine-tuned integer models are saved; each loads and scores what the study
	// recorded.
	var budgets struct {
		Budgets []struct {
			Bytes       int     `json:"bytes"`
			QATAccuracy float64 `json:"qat_accuracy"`
			File        string  `json:"file"`
		} `json:"budgets"`
	}
	if err := json.Unmarshal(raw, &budgets); err != nil {
		t.Fatal(err)
	}
	if len(budgets.Budgets) != 3 || budgets.Budgets[0].File == "" {
		t.Fatalf("budgets %+v", budgets.Budgets)
	}
	if err := checkBudgetModel(dir, budgets.Budgets[0].File, budgets.Budgets[0].QATAccuracy); err != nil {
		t.Error(err)
	}

	spotCheck(t, dir, raw)

	report, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	pngs, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	if len(pngs) < 5 {
		t.Errorf("%d figures: %v", len(pngs), pngs)
	}
	for _, p := range pngs {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 200 {
			t.Errorf("%s: %v", p, b)
		}
		if !strings.Contains(string(report), "("+filepath.Base(p)+")") {
			t.Errorf("report.md does not link %s", filepath.Base(p))
		}
	}

	// Resume: drop the QAT points and the last PTQ points, as an interrupted run would have
	// left them; the re-run measures only those, keeps the rest, and does not retrain FP32.
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	var ptqs []json.RawMessage
	if err := json.Unmarshal(all["ptq"], &ptqs); err != nil {
		t.Fatal(err)
	}
	keep := ptqs[:len(ptqs)-7]
	all["ptq"], _ = json.Marshal(keep)
	all["qat"] = json.RawMessage("[]")
	cut, _ := json.Marshal(all)
	if err := os.WriteFile(filepath.Join(dir, "study.json"), cut, 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if err := run(studyArgs(dir), &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "study: resuming") || strings.Contains(stdout.String(), "fp32 epoch") {
		t.Errorf("the re-run did not resume:\n%s", stdout.String())
	}
	raw2, err := os.ReadFile(filepath.Join(dir, "study.json"))
	if err != nil {
		t.Fatal(err)
	}
	var again map[string]json.RawMessage
	if err := json.Unmarshal(raw2, &again); err != nil {
		t.Fatal(err)
	}
	var ptqs2, qats2 []json.RawMessage
	_ = json.Unmarshal(again["ptq"], &ptqs2)
	_ = json.Unmarshal(again["qat"], &qats2)
	if len(ptqs2) != len(ptqs) || len(qats2) != 3 {
		t.Fatalf("after resuming: %d PTQ and %d QAT points, want %d and 3", len(ptqs2), len(qats2), len(ptqs))
	}
	for i := range ptqs {
		if !bytes.Equal(compact(t, ptqs[i]), compact(t, ptqs2[i])) {
			t.Errorf("PTQ point %d changed on resume: %s then %s", i, ptqs[i], ptqs2[i])
		}
	}

	// Without its FP32 model the study's points cannot be resumed (another model would mix
	// in): refused, and nothing changes.
	model := filepath.Join(dir, "fp32.safetensors")
	if err := os.Rename(model, model+".bak"); err != nil {
		t.Fatal(err)
	}
	err = run(studyArgs(dir), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "is gone") {
		t.Errorf("resume without fp32.safetensors: %v", err)
	}
	if err := os.Rename(model+".bak", model); err != nil {
		t.Fatal(err)
	}

	// Other settings are refused with one line, and the results stay as they were.
	err = run([]string{"-study", dir, "-study-quick", "-epochs", "2", "-train-limit", "8000", "-hidden", "32", "-quiet"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "other settings") || !strings.Contains(err.Error(), "epochs") || strings.Contains(err.Error(), "\n") {
		t.Errorf("other settings: %v", err)
	}
	if raw3, _ := os.ReadFile(filepath.Join(dir, "study.json")); !bytes.Equal(raw3, raw2) {
		t.Error("a refused run changed study.json")
	}
}

func compact(t *testing.T, m json.RawMessage) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestBadStudyFlags(t *testing.T) {
	for args, want := range map[string]string{
		"-study-quick":          "-study-quick needs -study DIR",
		"-study d -qat":         "-qat with -study",
		"-study d -save x":      "-save with -study",
		"-study d -bits 4":      "-bits with -study",
		"-study d -json out.js": "-json with -study",
	} {
		err := run(strings.Fields(args), &bytes.Buffer{}, &bytes.Buffer{})
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a usage error with %q", args, err, want)
		}
	}
}

// spotCheck converts two study PTQ points (W4A4 per-tensor, MSE observer, min/max and
// MSE-clipped weight ranges) again through the public API from the study's saved
// FP32 model (calibrating on the same first 1,024 training images), saves each, loads it in
// the runtime and evaluates it: the accuracies must equal the study's exactly.
func spotCheck(t *testing.T, dir string, raw []byte) {
	t.Helper()
	var doc struct {
		PTQ []ptqPointJSON `json:"ptq"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	m, _, err := nn.Load(filepath.Join(dir, "fp32.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := mnist.Locate("")
	if err != nil {
		t.Fatal(err)
	}
	trainSet, testSet, err := mnist.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range doc.PTQ {
		if p.Mode != "static" || p.WBits != 4 || p.ABits != 4 || p.Granularity != "per-tensor" || p.Observer != "mse" {
			continue
		}
		cfg := ptq.Spec(ptq.Static, 4, 4).PerTensor()
		cfg.Observer = quant.ObserverConfig{Kind: quant.MSEObserver}
		if p.WeightRange == "mse" {
			cfg.WeightRange = quant.MSEObserver
		}
		fm, err := m.FloatModel()
		if err != nil {
			t.Fatal(err)
		}
		ranges, err := ptq.Calibrate(fm, cfg, trainSet.Images[:1024*784])
		if err != nil {
			t.Fatal(err)
		}
		im, err := ptq.Convert(fm, cfg, ptq.Plan{Inputs: ranges})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "w4a4.safetensors")
		if err := infer.SaveInt(path, im, ""); err != nil {
			t.Fatal(err)
		}
		loaded, err := infer.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		acc, err := infer.Evaluate(loaded, testSet.Images, testSet.Labels)
		if err != nil {
			t.Fatal(err)
		}
		if acc != p.Accuracy || loaded.WeightBytes() != p.WeightBytes {
			t.Errorf("w4a4 per-tensor mse (weight range %q): saved and reloaded %.2f%% and %d bytes, the study recorded %.2f%% and %d", p.WeightRange, acc, loaded.WeightBytes(), p.Accuracy, p.WeightBytes)
		}
		checked++
	}
	if checked != 2 {
		t.Errorf("%d w4a4 per-tensor mse points in study.json, want 2 (min/max and MSE-clipped weight ranges)", checked)
	}
}

// checkBudgetModel loads a model the study saved and compares its test accuracy with the
// study's record.
func checkBudgetModel(dir, file string, want float64) error {
	m, err := infer.Load(filepath.Join(dir, file))
	if err != nil {
		return err
	}
	data, err := mnist.Locate("")
	if err != nil {
		return err
	}
	_, testSet, err := mnist.Load(data)
	if err != nil {
		return err
	}
	acc, err := infer.Evaluate(m, testSet.Images, testSet.Labels)
	if err != nil {
		return err
	}
	if acc != want {
		return fmt.Errorf("%s: %.2f%% when loaded, the study recorded %.2f%%", file, acc, want)
	}
	return nil
}

// A study directory that cannot hold the study is refused before any training, with one
// line naming it; so is a study.json that is not one.
func TestStudyBadDir(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	taken := filepath.Join(tmp, "taken")
	if err := os.MkdirAll(filepath.Join(taken, "study.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(tmp, "junk")
	if err := os.MkdirAll(junk, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(junk, "study.json"), []byte(`{"config": 5`), 0o644); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(tmp, "foreign")
	if err := os.MkdirAll(foreign, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(foreign, "report.md"), []byte("my notes"), 0o644); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{
		file:    "not a directory",
		taken:   "is a directory, not a file",
		junk:    "not a study file",
		foreign: "holds report.md but no study.json",
	} {
		var stdout bytes.Buffer
		err := run([]string{"-study", dir, "-study-quick", "-epochs", "1", "-train-limit", "3000", "-quiet"}, &stdout, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), dir) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line with %q", dir, err, want)
		}
		if strings.Contains(stdout.String(), "epoch") {
			t.Errorf("%s: trained before refusing:\n%s", dir, stdout.String())
		}
	}
	if b, _ := os.ReadFile(filepath.Join(foreign, "report.md")); string(b) != "my notes" {
		t.Error("a foreign report.md was overwritten")
	}
	// Too few training images to calibrate and score apart: a usage error before training.
	err := run([]string{"-study", filepath.Join(tmp, "small"), "-train-limit", "1500", "-quiet"}, &bytes.Buffer{}, &bytes.Buffer{})
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "-train-limit 1500") || !strings.Contains(err.Error(), "at least 2024") {
		t.Errorf("-train-limit 1500: %v", err)
	}
}
