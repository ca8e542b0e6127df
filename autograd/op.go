package autograd

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Types shared by the ops of this package. All ops are float32-only: tinyq trains in float32.
var (
	matF32 = G.TensorType{Dims: 2, Of: tensor.Float32} // [rows, cols]
	vecF32 = G.TensorType{Dims: 1, Of: tensor.Float32} // [n]
	sclF32 = tensor.Float32                            // a scalar node
)

// base carries what every op of this package shares: a name that is unique within its graph
// (gorgonia merges nodes whose op hashes and children are equal, and the compiler's CSE merges
// by hash, so every op instance hashes its own identity), and the gorgonia boilerplate.
type base struct {
	name string // e.g. "fc1/linear"; unique within a graph
	kind string // e.g. "Linear"
}

func (b base) ReturnsPtr() bool      { return true }
func (b base) CallsExtern() bool     { return false }
func (b base) OverwritesInput() int  { return -1 }
func (b base) String() string        { return b.kind + "{" + b.name + "}" }
func (b base) WriteHash(h hash.Hash) { fmt.Fprintf(h, "tinyq.%s{%s}", b.kind, b.name) }
func (b base) Hashcode() uint32      { return hashOf(b) }

// gradBase is base for the gradient ops: they are not differentiated again.
type gradBase struct{ base }

func (g gradBase) DiffWRT(n int) []bool { return make([]bool, n) }
func (g gradBase) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, fmt.Errorf("autograd: %v: second derivatives are not supported", g.base)
}

// hashOf returns the 32-bit FNV-1a hash of what op writes in WriteHash.
func hashOf(op interface{ WriteHash(hash.Hash) }) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// buffer is an output tensor owned by one op instance and reused on every run.
//
// Why: gorgonia's TapeMachine.Reset drops every register, so stock ops allocate fresh outputs
// on every batch (about 2 MB per batch for a 784-256-128-10 MLP, almost 1 GB per epoch). An op
// that owns its output keeps an epoch's allocations to a few MB. The buffer is rewritten in full
// on every Do, so nothing stale survives from the previous batch.
type buffer struct{ t *tensor.Dense }

// get returns a zero-copy float32 tensor of the given shape, allocated on first use or when the
// shape changes.
func (b *buffer) get(shape ...int) *tensor.Dense {
	if b.t != nil && b.t.Shape().Eq(tensor.Shape(shape)) {
		return b.t
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	b.t = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(make([]float32, n)))
	return b.t
}

// f32 returns the float32 backing of a value, or an error naming the op and argument.
func f32(op fmt.Stringer, arg string, v G.Value) ([]float32, error) {
	if v == nil {
		return nil, fmt.Errorf("autograd: %v: %s is nil", op, arg)
	}
	d, ok := v.Data().([]float32)
	if !ok {
		return nil, fmt.Errorf("autograd: %v: %s has %T data, want []float32", op, arg, v.Data())
	}
	return d, nil
}

// dims2 returns the two dimensions of a matrix value.
func dims2(op fmt.Stringer, arg string, v G.Value) (int, int, error) {
	s := v.Shape()
	if len(s) != 2 {
		return 0, 0, fmt.Errorf("autograd: %v: %s has shape %v, want a matrix", op, arg, s)
	}
	return s[0], s[1], nil
}

// fnType builds an op type from argument and result types.
func fnType(ts ...hm.Type) hm.Type { return hm.NewFnType(ts...) }

// f32s is f32 without an allocation: Dense.Data boxes a new slice header through reflect on
// every call, while the promoted Float32s of a float32 *tensor.Dense returns its backing as is.
func f32s(op fmt.Stringer, arg string, v G.Value) ([]float32, error) {
	if d, ok := v.(*tensor.Dense); ok && d.Dtype() == tensor.Float32 && !d.IsScalar() {
		return d.Float32s(), nil
	}
	return f32(op, arg, v)
}

// inputAndGrad reads a backward op's forward input x and incoming gradient dy, which must
// have as many elements.
func inputAndGrad(op fmt.Stringer, vx, vdy G.Value) (x, dy []float32, err error) {
	if x, err = f32s(op, "x", vx); err != nil {
		return nil, nil, err
	}
	if dy, err = f32s(op, "dy", vdy); err != nil {
		return nil, nil, err
	}
	if len(dy) != len(x) {
		return nil, nil, fmt.Errorf("autograd: %v: dy has %d elements, x has %d", op, len(dy), len(x))
	}
	return x, dy, nil
}

// resize returns s with length n, reusing its memory when it is large enough.
func resize(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// resizeU32 is resize for []uint32.
func resizeU32(s []uint32, n int) []uint32 {
	if cap(s) < n {
		return make([]uint32, n)
	}
	return s[:n]
}
