// Package golden holds what the golden-logits test of the runtime (infer) and its writer
// (crosstest, which may link the training stack) share: the fixed inputs, the file that
// records the logits, and how logits are written down (float32 bits in hex, so that a
// comparison is bit for bit). It imports only the runtime.
package golden

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"tinyq/infer"
)

// Dir is the directory of the golden model files and their logits, relative to infer's
// package directory.
const Dir = "testdata/golden"

// LogitsFile is the name, in Dir, of the file holding the recorded logits (File as JSON).
const LogitsFile = "logits.json"

// ConvDir is the directory, relative to infer's package directory, of the golden
// convolutional model files (format version 4) and their logits (LogitsFile in it): the
// network ConvArch with int8 and int4 weights, built directly (not trained).
const ConvDir = "testdata/golden-conv"

// ConvArch is the architecture of the golden convolutional models, in arch.Parse's grammar
// on a 28×28×1 input.
const ConvArch = "conv(4,3,pad=1),relu,maxpool(2),flatten,dense(10)"

// Rows is how many inputs the logits are recorded for: 14 MNIST-like rows, one black and one
// white image.
const Rows = 16

// File is Dir/LogitsFile: per model file, the logits' float32 bits in hex, one string of
// classes values per input row.
type File struct {
	Note   string              `json:"note"`
	Logits map[string][]string `json:"logits"`
}

// Inputs returns n rows of 784 values k/255 from a PCG stream (math/rand/v2's PCG is the
// same on every platform, and k/255 is correctly rounded everywhere): about 80% zeros as in
// MNIST, the rest uniform in 1..255; with extremes, the last two rows are all 0 and all 1.
func Inputs(seed uint64, n int, extremes bool) []float32 {
	r := rand.New(rand.NewPCG(seed, 18))
	x := make([]float32, n*784)
	for i := range x {
		if r.IntN(5) == 0 {
			x[i] = float32(1+r.IntN(255)) / 255
		}
	}
	if extremes {
		clear(x[(n-2)*784 : (n-1)*784])
		for i := (n - 1) * 784; i < n*784; i++ {
			x[i] = 1
		}
	}
	return x
}

// Checked returns the inputs the logits are recorded for: Inputs(2, Rows, true).
func Checked() []float32 { return Inputs(2, Rows, true) }

// LogitRows runs m on x (rows of 784 values) and returns each row's logits as float32 bits
// in hex, separated by spaces.
func LogitRows(m infer.Model, x []float32) ([]string, error) {
	_, classes := m.Shape()
	rows := len(x) / 784
	logits := make([]float32, rows*classes)
	if err := m.Forward(x, rows, logits); err != nil {
		return nil, fmt.Errorf("golden: %w", err)
	}
	out := make([]string, rows)
	for r := range rows {
		s := make([]string, classes)
		for j, v := range logits[r*classes : (r+1)*classes] {
			s[j] = fmt.Sprintf("%08x", math.Float32bits(v))
		}
		out[r] = strings.Join(s, " ")
	}
	return out, nil
}
