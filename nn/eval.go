package nn

import (
	"fmt"
	"math"

	"tinyq/infer"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Compile compiles the part of net's graph that outputs depend on into a tape machine.
// Compiling only that subgraph keeps unread gradients (for example with respect to the input
// images) out of the program. opts are passed to gorgonia.NewTapeMachine.
func Compile(g *G.ExprGraph, outputs G.Nodes, opts ...G.VMOpt) (vm G.VM, err error) {
	sub := g.ExactSubgraphRoots(outputs...)
	prog, locMap, err := G.Compile(sub)
	if err != nil {
		return nil, fmt.Errorf("nn: compile: %w", err)
	}
	// NewTapeMachine panics rather than returning an error when it cannot set up the program.
	defer func() {
		if r := recover(); r != nil {
			vm, err = nil, fmt.Errorf("nn: tape machine: %v", r)
		}
	}()
	opts = append([]G.VMOpt{G.WithPrecompiled(prog, locMap)}, opts...)
	return G.NewTapeMachine(sub, opts...), nil
}

// Evaluator runs a model forward only, at a fixed batch size; a shorter last batch is padded
// with zero rows whose outputs are ignored, so every sample is evaluated.
type Evaluator struct {
	net *Net
	vm  G.VM
	x   *tensor.Dense // [batch, in]
}

// NewEvaluator builds and compiles a forward-only graph of m (with its hooks) for batch rows.
func (m *MLP) NewEvaluator(batch int) (*Evaluator, error) {
	net, err := m.build(batch, false)
	if err != nil {
		return nil, err
	}
	outputs := append(G.Nodes{net.Logits}, net.Inputs...)
	vm, err := Compile(net.Graph, outputs)
	if err != nil {
		return nil, err
	}
	x := tensor.New(tensor.WithShape(batch, m.InputSize()), tensor.WithBacking(make([]float32, batch*m.InputSize())))
	if err := G.Let(net.X, x); err != nil {
		return nil, fmt.Errorf("nn: bind input: %w", err)
	}
	return &Evaluator{net: net, vm: vm, x: x}, nil
}

// Batch returns the evaluator's batch size.
func (e *Evaluator) Batch() int { return e.net.Batch }

// Forward runs rows samples (row-major [rows, in], rows <= Batch) and returns their logits
// [rows, out]. The returned slice is owned by the evaluator and valid until the next call.
func (e *Evaluator) Forward(x []float32, rows int) ([]float32, error) {
	in := e.net.Model.InputSize()
	if rows <= 0 || rows > e.net.Batch || len(x) != rows*in {
		return nil, fmt.Errorf("nn: forward: %d values for %d rows of %d (batch %d)", len(x), rows, in, e.net.Batch)
	}
	xd := e.x.Data().([]float32)
	copy(xd, x)
	clear(xd[len(x):])
	defer e.vm.Reset()
	if err := e.vm.RunAll(); err != nil {
		return nil, fmt.Errorf("nn: forward: %w", err)
	}
	out := e.net.Logits.Value().Data().([]float32)
	return out[:rows*e.net.Model.Classes()], nil
}

// LayerInput returns the input of layer i (after hooks) from the last Forward, [Batch, In]
// (rows past the last Forward's row count are padding). Owned by the evaluator.
func (e *Evaluator) LayerInput(i int) []float32 {
	return e.net.Inputs[i].Value().Data().([]float32)
}

// Result is the outcome of evaluating a model on a labelled set.
type Result struct {
	N       int     // samples evaluated
	Correct int     // correctly classified
	Loss    float64 // mean cross-entropy
}

// Accuracy returns the percentage of correct predictions.
func (r Result) Accuracy() float64 {
	if r.N == 0 {
		return 0
	}
	return 100 * float64(r.Correct) / float64(r.N)
}

// Evaluate classifies every sample of images ([n, in] row-major) and compares with labels.
func (e *Evaluator) Evaluate(images []float32, labels []uint8) (Result, error) {
	in := e.net.Model.InputSize()
	n := len(labels)
	if len(images) != n*in {
		return Result{}, fmt.Errorf("nn: evaluate: %d pixels for %d labels of %d", len(images), n, in)
	}
	classes := e.net.Model.Classes()
	var r Result
	for lo := 0; lo < n; lo += e.net.Batch {
		hi := min(lo+e.net.Batch, n)
		logits, err := e.Forward(images[lo*in:hi*in], hi-lo)
		if err != nil {
			return Result{}, err
		}
		for k := lo; k < hi; k++ {
			row := logits[(k-lo)*classes : (k-lo+1)*classes]
			if infer.Argmax(row) == int(labels[k]) {
				r.Correct++
			}
			r.Loss += CrossEntropy(row, int(labels[k]))
		}
		r.N += hi - lo
	}
	if r.N > 0 {
		r.Loss /= float64(r.N)
	}
	return r, nil
}

// CrossEntropy returns -log softmax(logits)[label], computed stably in float64.
func CrossEntropy(logits []float32, label int) float64 {
	m := float64(logits[0])
	for _, v := range logits {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s) - float64(logits[label])
}
