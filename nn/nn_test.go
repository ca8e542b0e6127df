package nn

import (
	"math/rand"
	"testing"
)

func testModel(t *testing.T) *MLP {
	t.Helper()
	m, err := NewMLP([]int{12, 7, 5, 3}, rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers { // non-zero biases so they are exercised
		for j := range l.Bias() {
			l.Bias()[j] = 0.1 * float32(j)
		}
	}
	return m
}

// refForward is a plain float64 forward pass of an MLP.
func refForward(m *MLP, x []float32) []float64 {
	h := make([]float64, len(x))
	for i, v := range x {
		h[i] = float64(v)
	}
	for _, l := range m.Layers {
		o := make([]float64, l.Out)
		for j := range o {
			s := float64(l.Bias()[j])
			for i := 0; i < l.In; i++ {
				s += h[i] * float64(l.Weights()[i*l.Out+j])
			}
			if l.Act == ReLU && s < 0 {
				s = 0
			}
			o[j] = s
		}
		h = o
	}
	return h
}

// TestEvaluatorEverySample: 7 samples at batch 3 (two full batches and one padded) give the
// reference logits for every sample, and Evaluate counts all 7.
func TestEvaluatorEverySample(t *testing.T) {
	m := testModel(t)
	rng := rand.New(rand.NewSource(2))
	const n = 7
	x := make([]float32, n*12)
	for i := range x {
		x[i] = rng.Float32()
	}
	labels := make([]uint8, n)
	want := 0
	for k := 0; k < n; k++ {
		ref := refForward(m, x[k*12:(k+1)*12])
		best := 0
		for j := range ref {
			if ref[j] > ref[best] {
				best = j
			}
		}
		labels[k] = uint8(k % 3)
		if best == int(labels[k]) {
			want++
		}
	}
	ev, err := m.NewEvaluator(3)
	if err != nil {
		t.Fatal(err)
	}
	for lo := 0; lo < n; lo += 3 {
		hi := min(lo+3, n)
		logits, err := ev.Forward(x[lo*12:hi*12], hi-lo)
		if err != nil {
			t.Fatal(err)
		}
		if len(logits) != (hi-lo)*3 {
			t.Fatalf("%d logits for %d rows", len(logits), hi-lo)
		}
		for k := lo; k < hi; k++ {
			ref := refForward(m, x[k*12:(k+1)*12])
			for j := range ref {
				// float32 forward vs float64 reference: a few float32 ulps of values near 1.
				if d := float64(logits[(k-lo)*3+j]) - ref[j]; d > 1e-5 || d < -1e-5 {
					t.Fatalf("sample %d logit %d: %v, reference %v", k, j, logits[(k-lo)*3+j], ref[j])
				}
			}
		}
	}
	res, err := ev.Evaluate(x, labels)
	if err != nil {
		t.Fatal(err)
	}
	if res.N != n || res.Correct != want {
		t.Fatalf("Evaluate: %d of %d correct, want %d of %d", res.Correct, res.N, want, n)
	}
}

func TestCloneIsDeep(t *testing.T) {
	m := testModel(t)
	c := m.Clone()
	c.Layers[0].Weights()[0] += 1
	if m.Layers[0].Weights()[0] == c.Layers[0].Weights()[0] {
		t.Fatal("Clone shares weights")
	}
	if got := c.Sizes(); len(got) != 4 || got[0] != 12 || got[3] != 3 {
		t.Fatalf("sizes %v", got)
	}
}

func TestBadInput(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, sizes := range [][]int{{}, {3}, {3, 0}, {-1, 2}} {
		if _, err := NewMLP(sizes, rng); err == nil {
			t.Errorf("NewMLP(%v) accepted", sizes)
		}
	}
	if _, err := NewMLP([]int{2, 2}, nil); err == nil {
		t.Error("NewMLP without rng accepted")
	}
	m := testModel(t)
	m.Layers[1].Weights()[3] = float32Inf()
	if err := m.Validate(); err == nil {
		t.Error("Validate accepted an Inf weight")
	}
	ev, err := testModel(t).NewEvaluator(2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Forward(make([]float32, 36), 3); err == nil {
		t.Error("Forward accepted 3 rows at batch 2")
	}
}

func float32Inf() float32 { var z float32; return 1 / z }
