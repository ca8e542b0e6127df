package autograd

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// refBatchNorm is the direct formula in float64: x [rows·c] normalized per channel (the c
// innermost values) with the batch's mean and biased variance (training) or the given
// running statistics.
func refBatchNorm(x, gamma, beta []float64, c int, training bool, rmean, rvar []float32, eps float64) []float64 {
	rows := len(x) / c
	y := make([]float64, len(x))
	for j := range c {
		var mean, v float64
		if training {
			for r := range rows {
				mean += x[r*c+j]
			}
			mean /= float64(rows)
			for r := range rows {
				v += (x[r*c+j] - mean) * (x[r*c+j] - mean)
			}
			v /= float64(rows)
		} else {
			mean, v = float64(rmean[j]), float64(rvar[j])
		}
		for r := range rows {
			y[r*c+j] = gamma[j]*(x[r*c+j]-mean)/math.Sqrt(v+eps) + beta[j]
		}
	}
	return y
}

// TestBatchNormGradients checks BatchNorm's forward against the direct formula and its
// gradients with respect to x, gamma and beta against finite differences, in training and
// evaluation mode, for images (N=3, 2x3 pixels, 4 channels), a dense layer's features
// (H=W=1) and inputs far from zero mean. It fails on any wrong term of the gradient
// (for example the training-mode terms through the batch mean and variance).
func TestBatchNormGradients(t *testing.T) {
	for _, tc := range []struct {
		n, pixels, c int
		offset       float64
		training     bool
	}{
		{3, 6, 4, 0, true},
		{3, 6, 4, 0, false},
		{5, 1, 3, 0, true},
		{2, 9, 2, 20, true},
		{4, 4, 5, 3, false},
	} {
		t.Run(fmt.Sprintf("n%d-p%d-c%d-off%v-train%v", tc.n, tc.pixels, tc.c, tc.offset, tc.training), func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(tc.n*100 + tc.c)))
			x := randF32(rng, tc.n*tc.pixels*tc.c, 1)
			for i := range x {
				x[i] += float32(tc.offset)
			}
			gamma, beta := randF32(rng, tc.c, 1), randF32(rng, tc.c, 0.5)
			st := NewBatchNormState(tc.c)
			st.Training = tc.training
			for j := range tc.c {
				st.Mean[j] = float32(rng.NormFloat64()*0.5 + tc.offset)
				st.Var[j] = float32(0.5 + rng.Float64())
			}
			rm, rv := append([]float32(nil), st.Mean...), append([]float32(nil), st.Var...)
			checkOp(t, opCase{
				inputs: []opInput{
					{"x", x, []int{tc.n, tc.pixels * tc.c}},
					{"gamma", gamma, []int{tc.c}},
					{"beta", beta, []int{tc.c}},
				},
				build: func(in []*G.Node) (*G.Node, error) { return BatchNorm("bn", in[0], in[1], in[2], st) },
				ref: func(in [][]float64) []float64 {
					return refBatchNorm(in[0], in[1], in[2], tc.c, tc.training, rm, rv, DefaultBNEps)
				},
			})
			if !tc.training {
				for j := range tc.c {
					if st.Mean[j] != rm[j] || st.Var[j] != rv[j] {
						t.Fatalf("evaluation changed the running statistics of channel %d: %v %v, were %v %v", j, st.Mean[j], st.Var[j], rm[j], rv[j])
					}
				}
			}
		})
	}
}

// TestBatchNormRunningStats runs two training steps on two batches and checks the running
// statistics against PyTorch's update computed by hand (momentum 0.1, the unbiased batch
// variance), then an evaluation run: it normalizes with the running statistics and leaves
// them alone.
func TestBatchNormRunningStats(t *testing.T) {
	const n, pixels, c = 4, 3, 2
	rng := rand.New(rand.NewSource(3))
	batches := [][]float32{randF32(rng, n*pixels*c, 2), randF32(rng, n*pixels*c, 0.5)}
	for i := range batches[1] {
		batches[1][i] += 1.5
	}
	gamma, beta := []float32{1.5, 0.5}, []float32{0.25, -1}
	st := NewBatchNormState(c)

	g := G.NewGraph()
	xt := tensor.New(tensor.WithShape(n, pixels*c), tensor.WithBacking(append([]float32(nil), batches[0]...)))
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(n, pixels*c), G.WithName("x"), G.WithValue(xt))
	gn := G.NewVector(g, tensor.Float32, G.WithShape(c), G.WithName("gamma"), G.WithValue(tensor.New(tensor.WithShape(c), tensor.WithBacking(gamma))))
	bn := G.NewVector(g, tensor.Float32, G.WithShape(c), G.WithName("beta"), G.WithValue(tensor.New(tensor.WithShape(c), tensor.WithBacking(beta))))
	y, err := BatchNorm("bn", x, gn, bn, st)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()

	// PyTorch: running = (1-0.1)·running + 0.1·batch, from mean 0 and variance 1, with the
	// unbiased variance Σ(x-mean)²/(rows-1), rows = n·pixels values per channel.
	wantMean, wantVar := []float64{0, 0}, []float64{1, 1}
	for step, b := range batches {
		if step > 0 {
			vm.Reset()
			if err := G.Let(x, tensor.New(tensor.WithShape(n, pixels*c), tensor.WithBacking(append([]float32(nil), b...)))); err != nil {
				t.Fatal(err)
			}
		}
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		for j := range c {
			var mean, ss float64
			for r := range n * pixels {
				mean += float64(b[r*c+j])
			}
			mean /= n * pixels
			for r := range n * pixels {
				ss += (float64(b[r*c+j]) - mean) * (float64(b[r*c+j]) - mean)
			}
			wantMean[j] = 0.9*wantMean[j] + 0.1*mean
			wantVar[j] = 0.9*wantVar[j] + 0.1*ss/(n*pixels-1)
		}
		for j := range c {
			// float32 state against the float64 formula: a few ulps of values near 1.
			if math.Abs(float64(st.Mean[j])-wantMean[j]) > 1e-6 || math.Abs(float64(st.Var[j])-wantVar[j]) > 1e-6 {
				t.Fatalf("step %d channel %d: running mean %v var %v, PyTorch's formula %v %v", step+1, j, st.Mean[j], st.Var[j], wantMean[j], wantVar[j])
			}
		}
	}

	// Evaluation: the running statistics normalize, and stay.
	st.Training = false
	rm, rv := append([]float32(nil), st.Mean...), append([]float32(nil), st.Var...)
	vm.Reset()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	want := refBatchNorm(to64(batches[1]), to64(gamma), to64(beta), c, false, rm, rv, DefaultBNEps)
	got := y.Value().Data().([]float32)
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-5 {
			t.Fatalf("evaluation y[%d] = %v, want %v (running statistics)", i, got[i], want[i])
		}
	}
	for j := range c {
		if st.Mean[j] != rm[j] || st.Var[j] != rv[j] {
			t.Fatalf("evaluation changed the running statistics")
		}
	}
}

// TestBatchNormErrors checks the one-line errors for bad shapes and states.
func TestBatchNormErrors(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 6), G.WithName("x"))
	g4 := G.NewVector(g, tensor.Float32, G.WithShape(4), G.WithName("g4"))
	g3 := G.NewVector(g, tensor.Float32, G.WithShape(3), G.WithName("g3"))
	b3 := G.NewVector(g, tensor.Float32, G.WithShape(3), G.WithName("b3"))
	if _, err := BatchNorm("bn", x, g4, g4, NewBatchNormState(4)); err == nil {
		t.Error("accepted 6 features with 4 channels")
	}
	if _, err := BatchNorm("bn", x, g3, b3, NewBatchNormState(2)); err == nil {
		t.Error("accepted a state of 2 channels for 3")
	}
	if _, err := BatchNorm("bn", x, g3, b3, nil); err == nil {
		t.Error("accepted a nil state")
	}
	st := NewBatchNormState(3)
	st.Eps = 0
	if _, err := BatchNorm("bn", x, g3, b3, st); err == nil {
		t.Error("accepted eps 0")
	}
	st = NewBatchNormState(3)
	st.Momentum = 1.5
	if _, err := BatchNorm("bn", x, g3, b3, st); err == nil {
		t.Error("accepted momentum 1.5")
	}
}
