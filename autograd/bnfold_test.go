package autograd

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// refBNScale is BNScale's direct formula in float64: x·f or x/f per channel (the innermost
// of c), f = gamma/sqrt(var+eps).
func refBNScale(x, gamma []float64, c int, rvar []float32, eps float64, divide bool) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		f := gamma[i%c] / math.Sqrt(float64(rvar[i%c])+eps)
		if divide {
			y[i] = v / f
		} else {
			y[i] = v * f
		}
	}
	return y
}

// TestBNScaleGradients checks BNScale's forward (multiplying and dividing) against the
// direct formula and its gradients with respect to x and gamma against finite differences,
// on a weight-shaped matrix, NHWC activations and a bias vector. It fails on a wrong
// gradient term, for example dgamma of the dividing form taken as that of the multiplying.
func TestBNScaleGradients(t *testing.T) {
	for _, tc := range []struct {
		shape  []int
		c      int
		divide bool
	}{
		{[]int{6, 4}, 4, false},
		{[]int{6, 4}, 4, true},
		{[]int{3, 18}, 3, false},
		{[]int{3, 18}, 3, true},
		{[]int{5}, 5, false},
		{[]int{5}, 5, true},
	} {
		t.Run(fmt.Sprintf("%v-c%d-divide%v", tc.shape, tc.c, tc.divide), func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(len(tc.shape)*10 + tc.c)))
			n := 1
			for _, d := range tc.shape {
				n *= d
			}
			x := randF32(rng, n, 1)
			gamma := randF32(rng, tc.c, 1)
			for j := range gamma { // away from 0, where the divided form has its pole
				gamma[j] += float32(math.Copysign(0.5, float64(gamma[j])))
			}
			st := NewBatchNormState(tc.c)
			for j := range tc.c {
				st.Var[j] = float32(0.3 + rng.Float64())
			}
			rv := append([]float32(nil), st.Var...)
			checkOp(t, opCase{
				inputs: []opInput{{"x", x, tc.shape}, {"gamma", gamma, []int{tc.c}}},
				build:  func(in []*G.Node) (*G.Node, error) { return BNScale("s", in[0], in[1], st, tc.divide) },
				ref: func(in [][]float64) []float64 {
					return refBNScale(in[0], in[1], tc.c, rv, DefaultBNEps, tc.divide)
				},
			})
		})
	}
}

// TestBNScaleReadsRunningVar checks that BNScale reads the running variance when it runs,
// not when it is built (a BatchNorm's training steps move it between runs), and that the
// dividing form refuses a channel whose gamma is 0 instead of producing infinities.
func TestBNScaleReadsRunningVar(t *testing.T) {
	g := G.NewGraph()
	st := NewBatchNormState(2)
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(1, 2), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(1, 2), tensor.WithBacking([]float32{3, 3}))))
	gv := []float32{1, 2}
	gamma := G.NewVector(g, tensor.Float32, G.WithShape(2), G.WithName("gamma"),
		G.WithValue(tensor.New(tensor.WithShape(2), tensor.WithBacking(gv))))
	y, err := BNScale("s", x, gamma, st, true)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	run := func() ([]float32, error) {
		defer vm.Reset()
		if err := vm.RunAll(); err != nil {
			return nil, err
		}
		return append([]float32(nil), y.Value().Data().([]float32)...), nil
	}
	for _, v := range []float32{1, 4 - DefaultBNEps} {
		st.Var[0], st.Var[1] = v, v
		got, err := run()
		if err != nil {
			t.Fatal(err)
		}
		for j, want := range refBNScale([]float64{3, 3}, []float64{1, 2}, 2, st.Var, DefaultBNEps, true) {
			if math.Abs(float64(got[j])-want) > 1e-6*math.Abs(want) {
				t.Errorf("var %v: y[%d] = %v, want %v", v, j, got[j], want)
			}
		}
	}
	gv[1] = 0
	if _, err := run(); err == nil || !strings.Contains(err.Error(), "gamma is 0") {
		t.Errorf("gamma 0: error %v, want one naming gamma 0", err)
	}
}
