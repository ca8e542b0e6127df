package autograd

import (
	"math"
	"math/rand"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// opInput is one input of an op under test: its name, values and shape.
type opInput struct {
	name  string
	val   []float32
	shape []int
}

// opCase is an op under test: build applies it to the input nodes; ref computes its output
// in float64 from the inputs (the naive direct formula).
type opCase struct {
	inputs []opInput
	build  func(in []*G.Node) (*G.Node, error)
	ref    func(in [][]float64) []float64
}

// Tolerances of checkOp. The forward: float32 results against the float64 reference, a few
// float32 ulps (2^-24 ≈ 6e-8) of sums of tens of terms of magnitude 1, so 1e-5 absolute plus
// relative. The backward: central differences of the float64 reference with step 1e-5 have
// truncation error ~h²·(third derivative) ≈ 1e-10 and rounding error ~1e-16/h ≈ 1e-11; the float32 gradients
// carry ~1e-7 relative error per term over up to a few hundred terms, so 1e-4 absolute plus
// relative is tight against any wrong term (which is of order 0.1 or more) and safe.
const (
	fwdTol  = 1e-5
	gradTol = 1e-4
	fdStep  = 1e-5
)

// checkOp runs c's op in a graph under the loss Σ y⊙r for a fixed random r, and checks its
// output against c.ref and the gradient with respect to every input against central
// differences of Σ ref⊙r. It returns the op's output node for further checks.
func checkOp(t *testing.T, c opCase) *G.Node {
	t.Helper()
	g := G.NewGraph()
	nodes := make([]*G.Node, len(c.inputs))
	in64 := make([][]float64, len(c.inputs))
	for i, in := range c.inputs {
		v := append([]float32(nil), in.val...)
		tt := tensor.New(tensor.WithShape(in.shape...), tensor.WithBacking(v))
		if len(in.shape) == 1 {
			nodes[i] = G.NewVector(g, tensor.Float32, G.WithShape(in.shape...), G.WithName(in.name), G.WithValue(tt))
		} else {
			nodes[i] = G.NewMatrix(g, tensor.Float32, G.WithShape(in.shape...), G.WithName(in.name), G.WithValue(tt))
		}
		in64[i] = to64(in.val)
	}
	y, err := c.build(nodes)
	if err != nil {
		t.Fatal(err)
	}
	want := c.ref(in64)
	if y.Shape().TotalSize() != len(want) {
		t.Fatalf("output shape %v, reference has %d values", y.Shape(), len(want))
	}
	rng := rand.New(rand.NewSource(99))
	r := randF32(rng, len(want), 1)
	rn := G.NewTensor(g, tensor.Float32, y.Dims(), G.WithShape(y.Shape()...), G.WithName("r"),
		G.WithValue(tensor.New(tensor.WithShape(y.Shape()...), tensor.WithBacking(r))))
	loss := G.Must(G.Sum(G.Must(G.HadamardProd(y, rn))))
	grads, err := G.Grad(loss, nodes...)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	got := y.Value().Data().([]float32)
	for i, w := range want {
		if math.Abs(float64(got[i])-w) > fwdTol*(1+math.Abs(w)) {
			t.Errorf("y[%d] = %v, reference %v", i, got[i], w)
		}
	}
	r64 := to64(r)
	lossOf := func() float64 {
		var s float64
		for i, v := range c.ref(in64) {
			s += v * r64[i]
		}
		return s
	}
	for i, in := range c.inputs {
		gv := grads[i].Value().Data().([]float32)
		if len(gv) != len(in.val) {
			t.Fatalf("gradient of %s has %d values, want %d", in.name, len(gv), len(in.val))
		}
		bad := 0
		for j := range in64[i] {
			old := in64[i][j]
			in64[i][j] = old + fdStep
			up := lossOf()
			in64[i][j] = old - fdStep
			down := lossOf()
			in64[i][j] = old
			fd := (up - down) / (2 * fdStep)
			if math.Abs(float64(gv[j])-fd) > gradTol*(1+math.Abs(fd)) {
				if bad++; bad <= 5 {
					t.Errorf("d loss/d %s[%d] = %v, finite difference %v", in.name, j, gv[j], fd)
				}
			}
		}
	}
	return y
}
