package report

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"tinyq/gemm"
	"tinyq/infer"
	"tinyq/qkernel"
)

// ThroughputBatch is the batch size at which Measure times inference (Row.SamplesPerSecond):
// large enough that per-call overhead is negligible, and a divisor of MNIST's 10,000 test
// images.
const ThroughputBatch = 1000

// BS1Images is how many test images Measure's batch-1 timing (Row.SamplesPerSecondBS1) runs
// over, one per call: enough for a stable figure in well under a second at MLP sizes.
const BS1Images = 2000

// Measure evaluates m on a test set (images and their labels) and times its inference: the
// row of the table for the model called name, with its accuracy, weight bytes and samples per
// second at batch ThroughputBatch and at batch 1 (over the first BS1Images images).
// Errors name the model.
func Measure(name string, m infer.Model, images []float32, labels []uint8) (Row, error) {
	acc, err := infer.Evaluate(m, images, labels)
	if err != nil {
		return Row{}, fmt.Errorf("%s: %w", name, err)
	}
	sps, err := infer.Throughput(m, images, ThroughputBatch)
	if err != nil {
		return Row{}, fmt.Errorf("%s: %w", name, err)
	}
	in, _ := m.Shape()
	bs1, err := infer.Throughput(m, images[:min(BS1Images, len(labels))*in], 1)
	if err != nil {
		return Row{}, fmt.Errorf("%s: %w", name, err)
	}
	return Row{Name: name, Accuracy: acc, WeightBytes: m.WeightBytes(), SamplesPerSecond: sps, SamplesPerSecondBS1: bs1}, nil
}

// Machine describes the CPU for a report: its model name (from /proc/cpuinfo on Linux, else
// GOARCH) and core count.
func Machine() string {
	name := runtime.GOARCH
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				name = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores (GOMAXPROCS %d)", name, runtime.NumCPU(), runtime.GOMAXPROCS(0))
}

// ActiveKernels names the kernel paths this process runs: qkernel's for integer models,
// gemm's for float ones.
func ActiveKernels() Kernels {
	return Kernels{Int: qkernel.ActivePath().String(), Float: gemm.ActivePath().String()}
}

// String is "integer X, float Y", as the table run and the study's report print it.
func (k Kernels) String() string { return fmt.Sprintf("integer %s, float %s", k.Int, k.Float) }
