package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"tinyq/internal/proctest"
)

// TestLoadScratchKeepsArchitecture: -qat-init scratch with -load trains a new model of the
// loaded model's architecture. Before, it took the default -hidden 256,128 (refused with
// -load, so never the file's): a loaded 784-32-10 model gave a 784-256-128-10 QAT model, its
// integer file 235% of the FP32 one.
func TestLoadScratchKeepsArchitecture(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models in real processes")
	}
	bin := proctest.Build(t, ".", "mnist")
	dir := t.TempDir()
	if code, _, stderr := proctest.Run(t, bin, append([]string{"-hidden", "32", "-save", dir}, quick...)...); code != 0 {
		t.Fatalf("training the small model: exit %d, %s", code, stderr)
	}
	js := filepath.Join(dir, "r.json")
	args := append([]string{"-load", filepath.Join(dir, "fp32.safetensors"), "-qat", "-qat-init", "scratch", "-bits", "8", "-json", js}, quick...)
	if code, _, stderr := proctest.Run(t, bin, args...); code != 0 {
		t.Fatalf("%v: exit %d, %s", args, code, stderr)
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []struct {
			Name        string `json:"name"`
			WeightBytes int    `json:"weight_bytes"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	bytes := map[string]int{}
	for _, r := range doc.Results {
		bytes[r.Name] = r.WeightBytes
	}
	if bytes["qat-w8a8-int"] == 0 || bytes["qat-w8a8-int"] != bytes["ptq-w8a8-static"] {
		t.Errorf("scratch QAT model %d weight bytes, the loaded model's W8A8 PTQ %d: want the same architecture", bytes["qat-w8a8-int"], bytes["ptq-w8a8-static"])
	}
}
