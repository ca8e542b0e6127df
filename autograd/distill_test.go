package autograd

import (
	"math"
	"math/rand"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// refDistill is a float64 reference of DistillationLoss.
func refDistill(z, y, t []float64, batch, classes int, T, a float64) float64 {
	logSoftmax := func(v []float64, invT float64) []float64 {
		m := math.Inf(-1)
		for _, x := range v {
			m = math.Max(m, x)
		}
		var s float64
		for _, x := range v {
			s += math.Exp((x - m) * invT)
		}
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = (x-m)*invT - math.Log(s)
		}
		return out
	}
	var loss float64
	n := 0
	for r := range batch {
		yr := y[r*classes : (r+1)*classes]
		var mass float64
		for _, v := range yr {
			mass += v
		}
		if mass == 0 {
			continue
		}
		n++
		zr, tr := z[r*classes:(r+1)*classes], t[r*classes:(r+1)*classes]
		lz, lzT, ltT := logSoftmax(zr, 1), logSoftmax(zr, 1/T), logSoftmax(tr, 1/T)
		for i := range yr {
			loss += (1-a)*(-yr[i]*lz[i]) + a*T*T*math.Exp(ltT[i])*(ltT[i]-lzT[i])
		}
	}
	return loss / float64(n)
}

// TestDistillationLossFiniteDifferences checks the loss against a float64 reference and its
// gradient against central differences of that reference, for several temperatures and
// weights, with a padding row.
func TestDistillationLossFiniteDifferences(t *testing.T) {
	const batch, classes = 4, 5
	rng := rand.New(rand.NewSource(11))
	for _, d := range []Distillation{{1, 0}, {1, 1}, {2, 0.5}, {4, 0.9}} {
		zv, tv := randF32(rng, batch*classes, 2), randF32(rng, batch*classes, 3)
		yv := make([]float32, batch*classes)
		for r := range batch - 1 { // the last row is padding
			yv[r*classes+rng.Intn(classes)] = 1
		}
		g := G.NewGraph()
		mk := func(name string, v []float32) *G.Node {
			return G.NewMatrix(g, tensor.Float32, G.WithShape(batch, classes), G.WithName(name),
				G.WithValue(tensor.New(tensor.WithShape(batch, classes), tensor.WithBacking(v))))
		}
		z, y, tn := mk("z", zv), mk("y", yv), mk("t", tv)
		cost, err := DistillationLoss("loss", z, y, tn, d)
		if err != nil {
			t.Fatal(err)
		}
		grads, err := G.Grad(cost, z)
		if err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		z64, y64, t64 := to64(zv), to64(yv), to64(tv)
		loss := func() float64 { return refDistill(z64, y64, t64, batch, classes, d.Temperature, d.Alpha) }
		// Forward: float32 output of a float64 computation, a few ulps of a loss near 1.
		if got, want := float64(cost.Value().Data().(float32)), loss(); math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("%+v: loss %v, reference %v", d, got, want)
		}
		// Backward: central differences with step 1e-6 in float64 have error ~1e-9; the
		// float32 gradient carries ~1e-7 relative error: 1e-5 absolute is safe.
		got := grads[0].Value().Data().([]float32)
		for i := range z64 {
			old := z64[i]
			const eps = 1e-6
			z64[i] = old + eps
			up := loss()
			z64[i] = old - eps
			down := loss()
			z64[i] = old
			if want := (up - down) / (2 * eps); math.Abs(float64(got[i])-want) > 1e-5 {
				t.Errorf("%+v: d loss/d z[%d] = %v, finite difference %v", d, i, got[i], want)
			}
		}
		vm.Close()
	}
}

// TestDistillationLossWithoutTeacherIsCrossEntropy: with Alpha 0 the loss and its gradient
// are SoftmaxCrossEntropy's, bit for bit.
func TestDistillationLossWithoutTeacherIsCrossEntropy(t *testing.T) {
	const batch, classes = 3, 4
	rng := rand.New(rand.NewSource(12))
	zv, tv := randF32(rng, batch*classes, 2), randF32(rng, batch*classes, 2)
	yv := make([]float32, batch*classes)
	for r := range batch {
		yv[r*classes+rng.Intn(classes)] = 1
	}
	run := func(distill bool) (float32, []float32) {
		g := G.NewGraph()
		mk := func(name string, v []float32) *G.Node {
			return G.NewMatrix(g, tensor.Float32, G.WithShape(batch, classes), G.WithName(name),
				G.WithValue(tensor.New(tensor.WithShape(batch, classes), tensor.WithBacking(v))))
		}
		z, y := mk("z", zv), mk("y", yv)
		var cost *G.Node
		var err error
		if distill {
			cost, err = DistillationLoss("loss", z, y, mk("t", tv), Distillation{Temperature: 3, Alpha: 0})
		} else {
			cost, err = SoftmaxCrossEntropy("loss", z, y)
		}
		if err != nil {
			t.Fatal(err)
		}
		grads, err := G.Grad(cost, z)
		if err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return cost.Value().Data().(float32), append([]float32(nil), grads[0].Value().Data().([]float32)...)
	}
	l1, g1 := run(true)
	l2, g2 := run(false)
	if l1 != l2 {
		t.Errorf("loss %v, cross-entropy %v", l1, l2)
	}
	for i := range g1 {
		if g1[i] != g2[i] {
			t.Errorf("gradient[%d] %v, cross-entropy's %v", i, g1[i], g2[i])
		}
	}
}

func TestDistillationValidate(t *testing.T) {
	for _, d := range []Distillation{{0, 0.5}, {-1, 0.5}, {math.Inf(1), 0.5}, {math.NaN(), 0.5}, {2, -0.1}, {2, 1.1}, {2, math.NaN()}} {
		if err := d.Validate(); err == nil {
			t.Errorf("%+v: no error", d)
		}
	}
}
