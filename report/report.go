// Package report formats tinyq's results: a plain-text table for people and a JSON document
// with a stable schema for scripts. It favours a fixed, documented layout over flexibility.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"tinyq/internal/atomicfile"
)

// Row is one model variant's measured results. The JSON names are the documented schema.
type Row struct {
	Name             string    `json:"name"`                    // e.g. "fp32", "ptq-w8a8-static"
	Accuracy         float64   `json:"accuracy"`                // percent on the full test set
	WeightBytes      int       `json:"weight_bytes"`            // weights, biases, scales and zero points; 0: not stored as such (fake-quant rows)
	EpochSeconds     []float64 `json:"epoch_seconds,omitempty"` // training seconds per epoch (trained rows only)
	SamplesPerSecond float64   `json:"samples_per_second"`      // inference throughput at batch 1000
	// SamplesPerSecondBS1 is the inference throughput at batch 1 (one sample per call).
	SamplesPerSecondBS1 float64 `json:"samples_per_second_bs1,omitempty"`
	Note                string  `json:"note,omitempty"` // how the row was produced
}

// Document is the whole JSON output: the run's configuration, the kernel paths that ran, and
// one row per variant.
type Document struct {
	Config  any     `json:"config"`
	Kernels Kernels `json:"kernels"`
	Results []Row   `json:"results"`
	// Warnings are things the run noticed that make its results doubtful, one sentence each
	// (for example a training phase that diverged).
	Warnings []string `json:"warnings,omitempty"`
}

// Kernels names the kernel paths a run used, e.g. "avx512vnni" for the integer kernels.
type Kernels struct {
	Int   string `json:"int"`
	Float string `json:"float,omitempty"`
}

// WriteJSON writes v (a Document, or any other JSON value such as cmd/mnist's manifest) to
// path atomically (a temp file, then rename).
func WriteJSON(path string, v any) error {
	return atomicfile.Write(path, func(w io.Writer) error { return EncodeJSON(w, v) })
}

// EncodeJSON writes v to w as indented JSON (what WriteJSON puts in its file).
func EncodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Table writes rows as an aligned text table. The first row named "fp32", if any, is the
// baseline for the change column.
func Table(w io.Writer, rows []Row) error {
	base := -1.0
	var baseBytes int
	for _, r := range rows {
		if r.Name == "fp32" {
			base, baseBytes = r.Accuracy, r.WeightBytes
			break
		}
	}
	width := len("variant")
	for _, r := range rows {
		width = max(width, len(r.Name))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s %9s %8s %12s %7s %11s %11s %8s\n", width, "variant", "accuracy", "vs fp32", "weight bytes", "size", "samples/s", "bs1/s", "s/epoch")
	for _, r := range rows {
		delta, size := "", ""
		if base >= 0 {
			delta = fmt.Sprintf("%+.2f", r.Accuracy-base)
		}
		bytes := "-"
		if r.WeightBytes > 0 {
			bytes = fmt.Sprint(r.WeightBytes)
			if baseBytes > 0 {
				size = fmt.Sprintf("%.1f%%", 100*float64(r.WeightBytes)/float64(baseBytes))
			}
		}
		ep := ""
		if len(r.EpochSeconds) > 0 {
			ep = fmt.Sprintf("%.2f", Median(r.EpochSeconds))
		}
		bs1 := ""
		if r.SamplesPerSecondBS1 > 0 {
			bs1 = fmt.Sprintf("%.0f", r.SamplesPerSecondBS1)
		}
		fmt.Fprintf(&b, "%-*s %8.2f%% %8s %12s %7s %11.0f %11s %8s\n", width, r.Name, r.Accuracy, delta, bytes, size, r.SamplesPerSecond, bs1, ep)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Median returns the median of xs (0 for none); xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
