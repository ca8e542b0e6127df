package infer

import (
	"fmt"
	"math"
	"sort"
	"time"

	"tinyq/modelfile"
)

// Model is any model the runtime runs: *FloatModel (fp32, fp16, a QAT simulation) or
// *IntModel (static or dynamic, 2 to 8 bits). Forward is safe for concurrent use.
type Model interface {
	// Forward computes the logits ([rows, classes]) of rows samples x ([rows, in] float32,
	// already preprocessed: see Input).
	Forward(x []float32, rows int, logits []float32) error
	// Shape returns the number of inputs and of output classes.
	Shape() (in, classes int)
	// Input says how raw pixels become the model's input.
	Input() Input
	// WeightBytes is the stored size of the model's parameters.
	WeightBytes() int
	// Name describes the model, e.g. "fp32" or "int w4a4-static".
	Name() string
}

// Input says how raw pixels become a model's float input: x = float32(pixel)/PixelDivisor,
// row-major Height x Width. It is stored in every model file.
type Input = modelfile.Input

// DefaultInput is the input of a model with n inputs whose file does not say: 28 x 28
// pixels over 255 for 784 inputs (MNIST), else one row of n.
func DefaultInput(n int) Input { return modelfile.DefaultInput(n) }

func checkInput(in Input, n int) error {
	if err := in.Check(n); err != nil {
		return fmt.Errorf("infer: input %w", err)
	}
	return nil
}

// Pixels converts raw pixels (rows images of Height x Width bytes, 0..255) to the model's
// float input, exactly as the training data was made: float32(p) / PixelDivisor.
func Pixels(m Model, pixels []uint8) ([]float32, error) {
	in, _ := m.Shape()
	if len(pixels) == 0 || len(pixels)%in != 0 {
		return nil, fmt.Errorf("infer: %d pixels are not whole images of %d", len(pixels), in)
	}
	var table [256]float32
	d := m.Input().PixelDivisor
	for p := range table {
		table[p] = float32(p) / d
	}
	x := make([]float32, len(pixels))
	for i, p := range pixels {
		x[i] = table[p]
	}
	return x, nil
}

// Prediction is a model's answer for one sample.
type Prediction struct {
	Class         int       // the most probable class (the first on ties)
	Probabilities []float32 // softmax of the logits, one per class
}

// Confidence is the probability of the predicted class.
func (p Prediction) Confidence() float32 { return p.Probabilities[p.Class] }

// Predict runs rows samples x ([rows, in], preprocessed) and returns each one's class and
// class probabilities.
func Predict(m Model, x []float32, rows int) ([]Prediction, error) {
	logits, classes, err := forward(m, x, rows)
	if err != nil {
		return nil, err
	}
	out := make([]Prediction, rows)
	for r := range out {
		z := logits[r*classes : (r+1)*classes]
		out[r] = Prediction{Class: Argmax(z), Probabilities: Softmax(make([]float32, classes), z)}
	}
	return out, nil
}

// PredictPixels is Predict on raw pixels (see Pixels).
func PredictPixels(m Model, pixels []uint8) ([]Prediction, error) {
	x, err := Pixels(m, pixels)
	if err != nil {
		return nil, err
	}
	in, _ := m.Shape()
	return Predict(m, x, len(x)/in)
}

// Classes returns the argmax class of each of rows samples.
func Classes(m Model, x []float32, rows int) ([]int, error) {
	logits, classes, err := forward(m, x, rows)
	if err != nil {
		return nil, err
	}
	p := make([]int, rows)
	for r := range p {
		p[r] = Argmax(logits[r*classes : (r+1)*classes])
	}
	return p, nil
}

// forward checks that x is rows > 0 whole samples of m's input and returns their logits
// ([rows, classes]) in a new slice.
func forward(m Model, x []float32, rows int) (logits []float32, classes int, err error) {
	in, classes := m.Shape()
	if rows <= 0 || len(x) != rows*in {
		return nil, 0, fmt.Errorf("infer: %d values for %d rows of %d", len(x), rows, in)
	}
	logits = make([]float32, rows*classes)
	if err := m.Forward(x, rows, logits); err != nil {
		return nil, 0, err
	}
	return logits, classes, nil
}

// EvalBatch is the batch size Evaluate runs at.
const EvalBatch = 1000

// Evaluate returns the accuracy in percent of m on images ([n, in], preprocessed) with
// labels, in batches of EvalBatch.
func Evaluate(m Model, images []float32, labels []uint8) (float64, error) {
	in, _ := m.Shape()
	n := len(labels)
	if n == 0 || len(images) != n*in {
		return 0, fmt.Errorf("infer: evaluate: %d pixels for %d labels of %d", len(images), n, in)
	}
	correct := 0
	for lo := 0; lo < n; lo += EvalBatch {
		hi := min(lo+EvalBatch, n)
		p, err := Classes(m, images[lo*in:hi*in], hi-lo)
		if err != nil {
			return 0, err
		}
		for k, c := range p {
			if c == int(labels[lo+k]) {
				correct++
			}
		}
	}
	return 100 * float64(correct) / float64(n), nil
}

// Argmax returns the index of the largest value (the first one on ties).
func Argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// Softmax writes the softmax of logits to dst (at least as long) and returns dst[:len(logits)],
// computed stably in float64 (the maximum is subtracted first). Empty logits give an empty
// result.
func Softmax(dst, logits []float32) []float32 {
	if len(logits) == 0 {
		return dst[:0]
	}
	dst = dst[:len(logits)]
	m := float64(logits[0])
	for _, v := range logits {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - m)
	}
	for i, v := range logits {
		dst[i] = float32(math.Exp(float64(v)-m) / s)
	}
	return dst
}

// Throughput runs m over images ([n, in]) in batches of batch rows, three times after a
// warm-up batch, and returns the median samples per second.
func Throughput(m Model, images []float32, batch int) (float64, error) {
	in, classes := m.Shape()
	n := len(images) / in
	if n == 0 || len(images) != n*in || batch <= 0 {
		return 0, fmt.Errorf("infer: throughput: %d values are not whole images of %d (batch %d)", len(images), in, batch)
	}
	logits := make([]float32, min(batch, n)*classes)
	pass := func() (float64, error) {
		start := time.Now()
		for lo := 0; lo < n; lo += batch {
			hi := min(lo+batch, n)
			if err := m.Forward(images[lo*in:hi*in], hi-lo, logits[:(hi-lo)*classes]); err != nil {
				return 0, err
			}
		}
		return float64(n) / time.Since(start).Seconds(), nil
	}
	if _, err := pass(); err != nil { // warm-up
		return 0, err
	}
	var runs [3]float64
	for i := range runs {
		s, err := pass()
		if err != nil {
			return 0, err
		}
		runs[i] = s
	}
	sort.Float64s(runs[:])
	return runs[1], nil
}
