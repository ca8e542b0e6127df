package report_test

import (
	"os"
	"strings"
	"testing"

	"tinyq/gemm"
	"tinyq/infer"
	"tinyq/qkernel"
	"tinyq/report"
)

// tinySet loads the repository's tiny model and its test images as the model reads them.
func tinySet(t *testing.T) (infer.Model, []float32, []uint8) {
	t.Helper()
	m, err := infer.Load("../testdata/tiny/fp32.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	pixels, err := os.ReadFile("../testdata/tiny/test-images.u8")
	if err != nil {
		t.Fatal(err)
	}
	labels, err := os.ReadFile("../testdata/tiny/test-labels.u8")
	if err != nil {
		t.Fatal(err)
	}
	x, err := infer.Pixels(m, pixels)
	if err != nil {
		t.Fatal(err)
	}
	return m, x, labels
}

// TestMeasure: the row carries the name, infer.Evaluate's accuracy, the model's weight bytes
// and both throughputs; a failure names the model.
func TestMeasure(t *testing.T) {
	m, x, labels := tinySet(t)
	row, err := report.Measure("tiny", m, x, labels)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := infer.Evaluate(m, x, labels)
	if err != nil {
		t.Fatal(err)
	}
	if row.Name != "tiny" || row.Accuracy != acc || row.WeightBytes != m.WeightBytes() || row.WeightBytes == 0 {
		t.Errorf("row %+v, want name tiny, accuracy %v, %d weight bytes", row, acc, m.WeightBytes())
	}
	if !(row.SamplesPerSecond > 0) || !(row.SamplesPerSecondBS1 > 0) {
		t.Errorf("throughputs %v and %v, want both positive", row.SamplesPerSecond, row.SamplesPerSecondBS1)
	}
	if _, err := report.Measure("tiny", m, x[:len(x)-1], labels); err == nil || !strings.HasPrefix(err.Error(), "tiny: ") {
		t.Errorf("images not whole: error %v, want one starting with the model's name", err)
	}
}

// TestMachine names the cores.
func TestMachine(t *testing.T) {
	if got := report.Machine(); !strings.Contains(got, " cores (GOMAXPROCS ") {
		t.Errorf("Machine() = %q, want the core count", got)
	}
}

// TestActiveKernels: the paths qkernel and gemm run, printed as "integer X, float Y".
func TestActiveKernels(t *testing.T) {
	k := report.ActiveKernels()
	if k.Int != qkernel.ActivePath().String() || k.Float != gemm.ActivePath().String() {
		t.Errorf("ActiveKernels() = %+v", k)
	}
	if got := (report.Kernels{Int: "a", Float: "b"}).String(); got != "integer a, float b" {
		t.Errorf("String() = %q", got)
	}
}
