package autograd

import (
	"math"
	"math/rand"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// refLoss is a float64 reference of the test network
// loss = mean_r xent(relu(x·w1 + b1)·w2 + b2, t_r) over rows with a non-zero target.
func refLoss(x, w1, b1, w2, b2, t []float64, batch, in, hid, out int) float64 {
	var loss float64
	n := 0
	for r := 0; r < batch; r++ {
		h := make([]float64, hid)
		for j := range h {
			s := b1[j]
			for i := 0; i < in; i++ {
				s += x[r*in+i] * w1[i*hid+j]
			}
			h[j] = math.Max(s, 0)
		}
		z := make([]float64, out)
		m := math.Inf(-1)
		for k := range z {
			s := b2[k]
			for j := 0; j < hid; j++ {
				s += h[j] * w2[j*out+k]
			}
			z[k] = s
			m = math.Max(m, s)
		}
		var se, mass float64
		for k := range z {
			se += math.Exp(z[k] - m)
			mass += t[r*out+k]
		}
		if mass == 0 {
			continue
		}
		n++
		for k := range z {
			loss -= t[r*out+k] * (z[k] - m - math.Log(se))
		}
	}
	return loss / float64(n)
}

func randF32(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return v
}

func to64(v []float32) []float64 {
	o := make([]float64, len(v))
	for i, x := range v {
		o[i] = float64(x)
	}
	return o
}

// TestGradientsMatchFiniteDifferences checks Linear, ReLU and SoftmaxCrossEntropy forward and
// backward on a tiny network against central differences of a float64 reference.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	const batch, in, hid, out = 5, 4, 6, 3
	rng := rand.New(rand.NewSource(7))
	xv, w1v, b1v := randF32(rng, batch*in, 1), randF32(rng, in*hid, 0.7), randF32(rng, hid, 0.3)
	w2v, b2v := randF32(rng, hid*out, 0.7), randF32(rng, out, 0.3)
	tv := make([]float32, batch*out)
	for r := 0; r < batch-1; r++ { // the last row is padding
		tv[r*out+rng.Intn(out)] = 1
	}

	g := G.NewGraph()
	mk := func(name string, v []float32, shape ...int) *G.Node {
		tt := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
		if len(shape) == 1 {
			return G.NewVector(g, tensor.Float32, G.WithShape(shape...), G.WithName(name), G.WithValue(tt))
		}
		return G.NewMatrix(g, tensor.Float32, G.WithShape(shape...), G.WithName(name), G.WithValue(tt))
	}
	x, w1, b1 := mk("x", xv, batch, in), mk("w1", w1v, in, hid), mk("b1", b1v, hid)
	w2, b2, tn := mk("w2", w2v, hid, out), mk("b2", b2v, out), mk("t", tv, batch, out)
	h, err := Linear("fc1", x, w1, b1)
	if err != nil {
		t.Fatal(err)
	}
	if h, err = ReLU("relu1", h); err != nil {
		t.Fatal(err)
	}
	z, err := Linear("fc2", h, w2, b2)
	if err != nil {
		t.Fatal(err)
	}
	cost, err := SoftmaxCrossEntropy("loss", z, tn)
	if err != nil {
		t.Fatal(err)
	}
	params := G.Nodes{w1, b1, w2, b2, x}
	grads, err := G.Grad(cost, params...)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}

	vals := [][]float64{to64(xv), to64(w1v), to64(b1v), to64(w2v), to64(b2v), to64(tv)}
	loss := func() float64 {
		return refLoss(vals[0], vals[1], vals[2], vals[3], vals[4], vals[5], batch, in, hid, out)
	}
	// Forward: float32 against float64, a few float32 ulps of a loss near 1.
	if got, want := float64(cost.Value().Data().(float32)), loss(); math.Abs(got-want) > 1e-5 {
		t.Fatalf("loss %v, reference %v", got, want)
	}
	// Backward: central differences with step 1e-6 in float64 have error ~1e-9; the float32
	// gradients carry ~1e-7 relative error, so 1e-5 absolute is tight but safe.
	which := []int{1, 2, 3, 4, 0} // w1, b1, w2, b2, x in vals
	for p, node := range params {
		got := grads[p].Value().Data().([]float32)
		v := vals[which[p]]
		for i := range v {
			old := v[i]
			const eps = 1e-6
			v[i] = old + eps
			up := loss()
			v[i] = old - eps
			down := loss()
			v[i] = old
			want := (up - down) / (2 * eps)
			if math.Abs(float64(got[i])-want) > 1e-5 {
				t.Errorf("d loss/d %s[%d] = %v, finite difference %v", node.Name(), i, got[i], want)
			}
		}
	}
}

// TestSoftmaxCrossEntropyLargeLogits guards against tensor's SoftMax bug (each row's max
// seeded from the first element of the whole array): a row of [100 0 0] must give a finite
// loss of ~0 for class 0.
func TestSoftmaxCrossEntropyLargeLogits(t *testing.T) {
	g := G.NewGraph()
	z := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 3), G.WithName("z"),
		G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{0, 0, 0, 100, 0, 0}))))
	y := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 3), G.WithName("y"),
		G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 0, 0, 1, 0, 0}))))
	c, err := SoftmaxCrossEntropy("loss", z, y)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	// Row 1: log 3; row 2: log(1 + 2e-100·...) ≈ 0. Mean = log(3)/2.
	got := float64(c.Value().Data().(float32))
	if want := math.Log(3) / 2; math.Abs(got-want) > 1e-6 {
		t.Fatalf("loss %v, want %v", got, want)
	}
}

func TestShapeErrors(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 3), G.WithName("x"))
	w := G.NewMatrix(g, tensor.Float32, G.WithShape(4, 5), G.WithName("w"))
	b := G.NewVector(g, tensor.Float32, G.WithShape(5), G.WithName("b"))
	if _, err := Linear("fc", x, w, b); err == nil {
		t.Fatal("Linear accepted x [2,3] with w [4,5]")
	}
	if _, err := SoftmaxCrossEntropy("l", x, w); err == nil {
		t.Fatal("SoftmaxCrossEntropy accepted mismatched shapes")
	}
}

// positiveMask is v > 0 bit for bit, for the special values too.
func TestPositiveMask(t *testing.T) {
	vals := []float32{0, float32(math.Copysign(0, -1)), 1, -1, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
		math.MaxFloat32, -math.MaxFloat32, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.Float32frombits(0xffc00000), math.Float32frombits(0x7f800001), math.Float32frombits(0x7fffffff)}
	rng := rand.New(rand.NewSource(1))
	for range 10000 {
		vals = append(vals, math.Float32frombits(rng.Uint32()))
	}
	for _, v := range vals {
		want := uint32(0)
		if v > 0 {
			want = ^uint32(0)
		}
		if got := positiveMask(v); got != want {
			t.Errorf("positiveMask(%v = %#08x) = %#x, want %#x", v, math.Float32bits(v), got, want)
		}
	}
}
