package train

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"

	"tinyq/internal/par"
)

// Optimizer names an update rule.
type Optimizer int

const (
	// Adam is Kingma & Ba's Adam with bias correction (beta1 0.9, beta2 0.999, eps 1e-8).
	Adam Optimizer = iota + 1
	// SGD is stochastic gradient descent with (heavy-ball) momentum: v = mu*v + g; p -= lr*v.
	SGD
)

// String returns "adam" or "sgd".
func (o Optimizer) String() string {
	switch o {
	case Adam:
		return "adam"
	case SGD:
		return "sgd"
	}
	return fmt.Sprintf("Optimizer(%d)", int(o))
}

// ParseOptimizer parses "adam" or "sgd".
func ParseOptimizer(s string) (Optimizer, error) {
	switch s {
	case "adam":
		return Adam, nil
	case "sgd":
		return SGD, nil
	}
	return 0, fmt.Errorf("train: optimizer %q, want adam or sgd", s)
}

// Solver updates parameters in place from their gradients. It implements gorgonia.Solver and
// keeps its state per position in the slice passed to Step, so pass the same parameters in the
// same order every step.
//
// Why not gorgonia's AdamSolver: it clones each parameter tensor four times per step (about
// 1.8 GB of garbage per MNIST epoch, shared/GORGONIA.md). This one allocates its state once
// and then nothing, and it spreads the update over the CPUs (tinyq/internal/par).
type Solver struct {
	Kind     Optimizer
	LR       float64
	Momentum float64 // SGD only
	// Min, if non-zero, clamps every parameter to at least Min after each step (used for
	// learned quantization scales, which must stay positive).
	Min float32

	t    int         // steps taken
	m, v [][]float32 // Adam moments, or SGD velocity in m

	alpha  float64     // this step's Adam step size
	chunks []chunk     // this step's work, split for par.Do
	work   func(i int) // s.update, bound once
}

// NewSolver returns a solver; lr must be positive and finite.
func NewSolver(kind Optimizer, lr, momentum float64) (*Solver, error) {
	if kind != Adam && kind != SGD {
		return nil, fmt.Errorf("train: unknown optimizer %v", kind)
	}
	if !(lr > 0) || math.IsInf(lr, 0) {
		return nil, fmt.Errorf("train: learning rate %v, want > 0", lr)
	}
	if momentum < 0 || momentum >= 1 {
		return nil, fmt.Errorf("train: momentum %v, want in [0, 1)", momentum)
	}
	return &Solver{Kind: kind, LR: lr, Momentum: momentum}, nil
}

var _ G.Solver = (*Solver)(nil)

// Step applies one update to every value from its gradient.
func (s *Solver) Step(vgs []G.ValueGrad) error {
	if s.m == nil {
		s.m = make([][]float32, len(vgs))
		s.v = make([][]float32, len(vgs))
	}
	if len(vgs) != len(s.m) {
		return fmt.Errorf("train: solver got %d parameters, had %d", len(vgs), len(s.m))
	}
	s.t++
	// Bias corrections folded into the step size (Kingma & Ba, section 2, last paragraph).
	s.alpha = s.LR * math.Sqrt(1-math.Pow(adamB2, float64(s.t))) / (1 - math.Pow(adamB1, float64(s.t)))
	s.chunks = s.chunks[:0]
	for i, vg := range vgs {
		p, ok := vg.Value().Data().([]float32)
		if !ok {
			return fmt.Errorf("train: parameter %d is not float32", i)
		}
		gv, err := vg.Grad()
		if err != nil {
			return fmt.Errorf("train: parameter %d: %w", i, err)
		}
		g, ok := gv.Data().([]float32)
		if !ok || len(g) != len(p) {
			return fmt.Errorf("train: parameter %d: gradient does not match the value", i)
		}
		if s.m[i] == nil {
			s.m[i] = make([]float32, len(p))
			if s.Kind == Adam {
				s.v[i] = make([]float32, len(p))
			}
		}
		for lo := 0; lo < len(p); lo += stepChunk {
			hi := min(lo+stepChunk, len(p))
			c := chunk{p: p[lo:hi], g: g[lo:hi:hi], m: s.m[i][lo:hi:hi]}
			if s.Kind == Adam {
				c.v = s.v[i][lo:hi:hi]
			}
			s.chunks = append(s.chunks, c)
		}
	}
	if s.work == nil {
		s.work = s.update
	}
	// Every element's update depends on its own values only, so the split changes nothing.
	par.Do(len(s.chunks), s.work)
	clear(s.chunks) // drop the references to the graph's tensors
	return nil
}

// Adam's decay rates and epsilon.
const adamB1, adamB2, adamEps = 0.9, 0.999, 1e-8

// adamTiny is where Adam's moments are set to 0: 2^-100, far below any moment that moves a
// parameter (the step alpha·m/(sqrt(v)+eps) of a moment below it is under 1e-25, below half
// an ulp of any parameter larger than 1e-17) and far above float32's subnormals (below 2^-126).
// A parameter whose gradient stays 0 (a clipped weight under the straight-through estimator,
// a weight into a dead ReLU) would otherwise decay its first moment by 0.9 a step into
// subnormals within a few hundred steps, and subnormal arithmetic is about ten times slower
// (measured on the AVX-512 loop).
const adamTiny = 0x1p-100

// adamGo is Adam's update of parameters p from gradients g with moments m, v, all in
// float32, each operation rounded (the conversions forbid fused multiply-adds), in this
// order; the AVX-512 loop (adam_amd64.s) does exactly the same:
//
//	m = 0.9·m + 0.1·g;          m = 0 if |m| < adamTiny
//	v = 0.999·v + (0.001·g)·g;  v = 0 if v < adamTiny
//	p = p − (alpha·m) / (sqrt(v) + eps)
//
// float32(math.Sqrt(float64(v))) is the correctly rounded float32 square root.
func adamGo(p, g, m, v []float32, alpha, eps float32) {
	p, m, v = p[:len(g)], m[:len(g)], v[:len(g)]
	for j, gj := range g {
		mj := float32(float32(adamB1)*m[j]) + float32(float32(1-adamB1)*gj)
		if float32(math.Abs(float64(mj))) < adamTiny {
			mj = 0
		}
		vj := float32(float32(adamB2)*v[j]) + float32(float32(float32(1-adamB2)*gj)*gj)
		if vj < adamTiny {
			vj = 0
		}
		m[j], v[j] = mj, vj
		p[j] -= float32(alpha*mj) / (float32(math.Sqrt(float64(vj))) + eps)
	}
}

// stepChunk is the number of parameters updated by one part of Step: 2^14 take about 30 µs,
// long enough to be worth handing to another core.
const stepChunk = 1 << 14

// chunk is a range of one parameter tensor with its gradient and state.
type chunk struct {
	p, g, m, v []float32
}

// update applies the step to chunk i.
func (s *Solver) update(i int) {
	c := s.chunks[i]
	p, g, m := c.p, c.g, c.m
	p = p[:len(g)]
	switch s.Kind {
	case Adam:
		adamStep(p, g, m[:len(g)], c.v[:len(g)], float32(s.alpha), adamEps)
	case SGD:
		mu, lr := float32(s.Momentum), float32(s.LR)
		for j, gj := range g {
			m[j] = mu*m[j] + gj
			p[j] -= lr * m[j]
		}
	}
	if s.Min != 0 {
		for j := range p {
			p[j] = max(p[j], s.Min)
		}
	}
}

// param pairs a parameter's value with the node whose value is its gradient in a compiled
// program; it implements gorgonia.ValueGrad. Reading the gradient node directly (instead of
// gorgonia's dual values, which add each gradient into an accumulator that must then be
// zeroed) saves a pass over every parameter per step.
type param struct {
	value G.Value
	grad  *G.Node
}

func (p param) Value() G.Value { return p.value }
func (p param) Grad() (G.Value, error) {
	v := p.grad.Value()
	if v == nil {
		return nil, fmt.Errorf("no gradient computed for %v", p.grad)
	}
	return v, nil
}

// SolverState is a solver's internal state: the step count and, per parameter, Adam's first
// and second moments (M, V) or SGD's velocity (M).
type SolverState struct {
	Kind  Optimizer
	Steps int
	M, V  [][]float32
}

// State returns a copy of the solver's state.
func (s *Solver) State() SolverState {
	cp := func(x [][]float32) [][]float32 {
		if x == nil {
			return nil
		}
		out := make([][]float32, len(x))
		for i, v := range x {
			out[i] = append([]float32(nil), v...)
		}
		return out
	}
	return SolverState{Kind: s.Kind, Steps: s.t, M: cp(s.m), V: cp(s.v)}
}

// SetState restores a state taken with State for the parameters vgs (same order and sizes).
func (s *Solver) SetState(st SolverState, vgs []G.ValueGrad) error {
	if st.Steps == 0 {
		return nil
	}
	if st.Kind != s.Kind {
		return fmt.Errorf("train: optimizer state is %v, solver is %v", st.Kind, s.Kind)
	}
	if len(st.M) != len(vgs) || (s.Kind == Adam && len(st.V) != len(vgs)) {
		return fmt.Errorf("train: optimizer state has %d parameters, model %d", len(st.M), len(vgs))
	}
	for i, vg := range vgs {
		n := vg.Value().Shape().TotalSize()
		if len(st.M[i]) != n || (s.Kind == Adam && len(st.V[i]) != n) {
			return fmt.Errorf("train: optimizer state for parameter %d has the wrong size", i)
		}
	}
	s.t = st.Steps
	s.m = st.M
	s.v = st.V
	if s.v == nil {
		s.v = make([][]float32, len(s.m))
	}
	return nil
}
