package infer

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"tinyq/arch"
	"tinyq/gemm"
	"tinyq/internal/patch"
	"tinyq/quant"
)

// Precision is how a float model's parameters are stored.
type Precision int

const (
	// F32 stores float32 parameters.
	F32 Precision = iota + 1
	// F16 stores IEEE 754 half precision parameters, widened to float32 once at load and
	// computed in float32.
	F16
)

// String returns "fp32" or "fp16".
func (p Precision) String() string {
	switch p {
	case F32:
		return "fp32"
	case F16:
		return "fp16"
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// FloatLayer is one layer of a float model (one arch.Unit): a fully connected layer
// y = x·W + B, or with Conv set a convolution (each output pixel's patch times W, plus B);
// then ReLU if set; then a max pooling if Pool is set (see the package's section on
// convolutional layers in layer.go).
type FloatLayer struct {
	Name    string
	In, Out int // the weight matrix's shape: inputs (or patch length) and outputs (or channels)
	ReLU    bool
	W       []float32 // [In, Out], row-major (the training layout; [KH, KW, C, Out] for a convolution)
	B       []float32 // [Out]

	// Conv is the convolution's window over the layer's NHWC input image (Conv.PatchLen()
	// = In); the zero Window means a fully connected layer.
	Conv arch.Window
	// Pool is the max pooling after the activation, over the layer's output image
	// (Conv.OutH()×Conv.OutW()×Out, or 1×1×Out for a fully connected layer); the zero
	// Window means none.
	Pool arch.Window
}

// InSize returns the values one sample of the layer's input has: In for a fully connected
// layer, H·W·C for a convolution.
func (l *FloatLayer) InSize() int {
	g, _ := layerGeometry(l.In, l.Out, l.Conv, l.Pool)
	return g.in
}

// OutSize returns the values one sample of the layer's output has (after the pooling).
func (l *FloatLayer) OutSize() int {
	g, _ := layerGeometry(l.In, l.Out, l.Conv, l.Pool)
	return g.out
}

// Unit returns the layer as an arch.Unit (Layer and BatchNorm are 0 and -1).
func (l *FloatLayer) Unit() arch.Unit { return layerUnit(l.In, l.Out, l.Conv, l.Pool, l.ReLU) }

// Simulation is the fake-quant of a QAT model, run in float32 exactly as the training graph
// evaluates it: each layer's input is quantized and dequantized with its parameters, the
// weights and biases were rounded to their integer grids once (FakeQuantized).
//
// Layers may differ in bit widths (mixed precision), and a layer whose input and weight
// parameters are both zero (no scales) stays in float32: a model with one layer quantized
// measures that layer's sensitivity.
type Simulation struct {
	Inputs  []quant.Params // per layer, the input's parameters (per tensor)
	Weights []quant.Params // per layer, the weight's parameters (axis 1 of [In, Out] when per channel)
	// Name is the variant, e.g. "w4a4".
	Name string
}

// FloatModel is a float model: fp32, fp16 (widened at load), or a QAT model's float
// simulation. It is immutable after NewFloatModel and its Forward is safe for concurrent use.
type FloatModel struct {
	Layers    []FloatLayer
	Precision Precision
	// Sim, if set, is the fake-quant simulation the layers' weights and biases were rounded
	// for; Forward then fake-quantizes every layer input.
	Sim *Simulation
	// Workers is the number of goroutines Forward spreads rows over (<= 0: GOMAXPROCS).
	Workers int

	input Input
}

// NewFloatModel checks the layers (sizes, finite values) and returns the model; the layers
// are used, not copied. With a simulation, the weights and biases are replaced by their
// fake-quantized values (weights with sim.Weights, biases on the int32 grid at scale
// s_in·s_w, as the integer runtime stores them).
func NewFloatModel(p Precision, layers []FloatLayer, sim *Simulation) (*FloatModel, error) {
	if p != F32 && p != F16 {
		return nil, fmt.Errorf("infer: precision %v", p)
	}
	if len(layers) == 0 {
		return nil, errors.New("infer: model has no layers")
	}
	for i, l := range layers {
		g, err := layerGeometry(l.In, l.Out, l.Conv, l.Pool)
		if err != nil {
			return nil, fmt.Errorf("infer: layer %s: %w", l.Name, err)
		}
		if (i > 0 && layers[i-1].OutSize() != g.in) || len(l.W) != l.In*l.Out || len(l.B) != l.Out {
			return nil, fmt.Errorf("infer: layer %s: %d weights and %d biases for %dx%d (%d inputs per sample) after %d outputs", l.Name, len(l.W), len(l.B), l.In, l.Out, g.in, prevOut(layers, i))
		}
		for _, v := range [][]float32{l.W, l.B} {
			if k := quant.FirstNonFinite(v); k >= 0 {
				return nil, fmt.Errorf("infer: layer %s: parameter %d is %v", l.Name, k, v[k])
			}
		}
	}
	if sim != nil {
		if len(sim.Inputs) != len(layers) || len(sim.Weights) != len(layers) {
			return nil, fmt.Errorf("infer: simulation has %d input and %d weight quantizers for %d layers", len(sim.Inputs), len(sim.Weights), len(layers))
		}
		for i := range layers {
			l := &layers[i]
			ip, wp := sim.Inputs[i], sim.Weights[i]
			if sim.Float(i) {
				continue
			}
			if err := ip.Validate(); err != nil || len(ip.Scales) != 1 {
				return nil, fmt.Errorf("infer: layer %s input quantizer: %d scales, %v", l.Name, len(ip.Scales), err)
			}
			w := make([]float32, len(l.W))
			if err := quant.FakeQuantize(w, l.W, []int{l.In, l.Out}, wp); err != nil {
				return nil, fmt.Errorf("infer: layer %s weights: %w", l.Name, err)
			}
			b := make([]float32, l.Out)
			if err := quant.FakeQuantizeBias(b, l.B, ip.Scales[0], wp.Scales); err != nil {
				return nil, fmt.Errorf("infer: layer %s bias: %w", l.Name, err)
			}
			l.W, l.B = w, b
		}
	}
	return &FloatModel{Layers: layers, Precision: p, Sim: sim, input: DefaultInput(layers[0].InSize())}, nil
}

// Float reports whether layer i stays in float32 (no input and no weight parameters).
func (s *Simulation) Float(i int) bool {
	return len(s.Inputs[i].Scales) == 0 && len(s.Weights[i].Scales) == 0
}

func prevOut(layers []FloatLayer, i int) int {
	if i == 0 {
		return layers[0].InSize()
	}
	return layers[i-1].OutSize()
}

// Arch returns the model's architecture: each layer as a Dense or Conv2D layer with its
// ReLU and max pooling (a BatchNorm the model was loaded with is folded, so absent), and a
// Flatten before a Dense layer that reads an image.
func (m *FloatModel) Arch() arch.Arch {
	us := make([]arch.Unit, len(m.Layers))
	for i := range m.Layers {
		us[i] = m.Layers[i].Unit()
	}
	return unitArch(us)
}

// widest returns the most values per sample a layer reads or writes (before and after
// its pooling).
func (m *FloatModel) widest() int {
	w := 0
	for i := range m.Layers {
		l := &m.Layers[i]
		g, _ := layerGeometry(l.In, l.Out, l.Conv, l.Pool)
		w = max(w, g.in, g.pre, g.out)
	}
	return w
}

// convolutional reports whether any layer is a convolution or pools.
func (m *FloatModel) convolutional() bool {
	for _, l := range m.Layers {
		if l.Conv != (arch.Window{}) || l.Pool != (arch.Window{}) {
			return true
		}
	}
	return false
}

// Forward computes the logits ([rows, classes]) of rows samples x ([rows, in]).
//
// Each layer is one tinyq/gemm.Affine call, which equals bit for bit copying B into every
// output row, adding x·W with Sgemm (C = 1·X·W + 1·C, no transposes: the call of the
// training stack's Linear op, tinyq/autograd) and applying ReLU, so on the same kernel path
// (gemm.ActivePath) this equals the training graph's evaluation bit for bit (tested), but for
// the sign of a zero logit. Rows are spread over up to Workers parts of at least 64 rows, run
// with tinyq/internal/par; gemm's values do not depend on the rows it is given, so neither do
// Forward's (gemm may skip zero terms depending on a call's rows, which changes at most the
// sign of a zero; see tinyq/gemm). On an error (a NaN or ±Inf input, reported for the first
// in order), logits may have been written for the parts whose inputs were finite.
func (m *FloatModel) Forward(x []float32, rows int, logits []float32) error {
	in, out := m.Shape()
	if rows <= 0 || len(x) != rows*in || len(logits) != rows*out {
		return fmt.Errorf("infer: forward: %d inputs and %d logits for %d rows of %d -> %d", len(x), len(logits), rows, in, out)
	}
	workers := m.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Below about 64 rows per part the split costs more than it saves. Each part checks its
	// own inputs; the first error in order of rows is returned.
	parts := min(workers, max(1, rows/64))
	var err error
	if parts == 1 {
		err = m.checkedForward(x, 0, rows, logits) // no closure: nothing allocated
	} else {
		err = parallelRows(rows, parts, func(lo, hi int) error {
			return m.checkedForward(x, lo, hi, logits)
		})
	}
	if err != nil {
		return fmt.Errorf("infer: forward: %w", err)
	}
	return nil
}

// checkedForward checks rows [lo, hi) of x for NaN and ±Inf and computes their logits.
func (m *FloatModel) checkedForward(x []float32, lo, hi int, logits []float32) error {
	in, out := m.Shape()
	if k := quant.FirstNonFinite(x[lo*in : hi*in]); k >= 0 {
		return fmt.Errorf("input %d is %v", lo*in+k, x[lo*in+k])
	}
	if !m.convolutional() {
		return m.forward(x[lo*in:hi*in], hi-lo, logits[lo*out:hi*out], nil)
	}
	chunk := chunkRows(m.widest()) // bounded memory: see convChunk
	for ; lo < hi; lo += chunk {
		c := min(chunk, hi-lo)
		if err := m.forward(x[lo*in:(lo+c)*in], c, logits[lo*out:(lo+c)*out], nil); err != nil {
			return err
		}
	}
	return nil
}

// ForwardLayers computes the logits of rows samples x as Forward does, bit for bit, but on
// the calling goroutine and on all rows at once (the caller bounds the memory by the rows
// it gives), and calls visit with each layer's input ([rows, InSize()]: x for the first
// layer, after the simulation's fake-quant when there is one) just before the layer runs, in
// order of layers. This is what calibration observes (package ptq). The slice given to visit
// is reused once visit returns; an error from visit stops the pass and is returned as it is.
func (m *FloatModel) ForwardLayers(x []float32, rows int, logits []float32, visit func(layer int, input []float32) error) error {
	in, out := m.Shape()
	if rows <= 0 || len(x) != rows*in || len(logits) != rows*out {
		return fmt.Errorf("infer: forward: %d inputs and %d logits for %d rows of %d -> %d", len(x), len(logits), rows, in, out)
	}
	if k := quant.FirstNonFinite(x); k >= 0 {
		return fmt.Errorf("infer: forward: input %d is %v", k, x[k])
	}
	var visitErr error
	err := m.forward(x, rows, logits, func(layer int, input []float32) error {
		visitErr = visit(layer, input)
		return visitErr
	})
	if visitErr != nil {
		return visitErr
	}
	if err != nil {
		return fmt.Errorf("infer: forward: %w", err)
	}
	return nil
}

// floatScratch pools the two activation buffers of FloatModel.forward.
var floatScratch = sync.Pool{New: func() any { return new([]float32) }}

// forward computes the logits of rows samples x; visit, if not nil, sees each layer's input
// first (ForwardLayers).
//
// Buffers: the layer's input is x or in a, its activation goes to b, and its pooling (if
// any) back to a, which the input no longer needs; without pooling a and b swap. A
// simulation fake-quantizes a layer's input in place in a (elementwise).
func (m *FloatModel) forward(x []float32, rows int, logits []float32, visit func(int, []float32) error) error {
	wide, cols := m.widest(), 0
	for _, l := range m.Layers {
		if l.Conv != (arch.Window{}) {
			cols = max(cols, gemm.ConvScratch(l.Conv, patchImages(l.Conv, 4, rows)))
		}
	}
	buf := floatScratch.Get().(*[]float32)
	defer floatScratch.Put(buf)
	*buf = grow(*buf, 2*rows*wide+cols)
	a, b, patches := (*buf)[:rows*wide], (*buf)[rows*wide:2*rows*wide], (*buf)[2*rows*wide:]
	src := x
	for li := range m.Layers {
		l := &m.Layers[li]
		g, _ := layerGeometry(l.In, l.Out, l.Conv, l.Pool)
		if m.Sim != nil && !m.Sim.Float(li) {
			q := a[:rows*g.in]
			if err := quant.FakeQuantize(q, src, []int{rows, g.in}, m.Sim.Inputs[li]); err != nil {
				return fmt.Errorf("%s input: %w", l.Name, err)
			}
			src = q
		}
		if visit != nil {
			if err := visit(li, src); err != nil {
				return err
			}
		}
		last := li == len(m.Layers)-1
		pooled := l.Pool != (arch.Window{})
		dst := b[:rows*g.pre]
		if last && !pooled {
			dst = logits
		}
		if l.Conv != (arch.Window{}) {
			gemm.Conv(rows, l.Conv, l.Out, src, l.W, l.B, l.ReLU, dst, patches) // [rows, OutH, OutW, Out]
		} else {
			linear(dst, src, rows, l)
		}
		if !pooled {
			src = dst
			a, b = b, a
			continue
		}
		out := a[:rows*g.out]
		if last {
			out = logits
		}
		patch.MaxPool(out, nil, dst, rows, l.Pool) // [rows, PoolOutH, PoolOutW, Out]
		src = out
	}
	return nil
}

// linear computes dst = src·W + B ([rows, Out]), then ReLU, with gemm.Affine: bit for bit
// autograd's Linear (B copied into every row, then dst = 1·src·W + 1·dst) followed by
// max(dst, 0), with the bias and ReLU applied inside the kernels.
func linear(dst, src []float32, rows int, l *FloatLayer) {
	gemm.Affine(rows, l.Out, l.In, src, l.In, l.W, l.Out, l.B, l.ReLU, dst, l.Out) // [rows, Out]
}

// Shape returns the number of inputs and of output classes.
func (m *FloatModel) Shape() (in, classes int) {
	return m.Layers[0].InSize(), m.Layers[len(m.Layers)-1].OutSize()
}

// Input returns how raw pixels become the model's input.
func (m *FloatModel) Input() Input { return m.input }

// SetInput records how raw pixels become the model's input (saved with it). A QAT
// simulation refuses an input under which its scales are degenerate (CheckScales).
func (m *FloatModel) SetInput(in Input) error {
	if err := checkInput(in, m.Layers[0].InSize()); err != nil {
		return err
	}
	if err := m.checkScales(in); err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	m.input = in
	return nil
}

// WeightBytes is the stored size of the parameters: 4 bytes each in fp32, 2 in fp16. A
// simulation is stored as float32 and counted so.
func (m *FloatModel) WeightBytes() int {
	n := 0
	for _, l := range m.Layers {
		n += len(l.W) + len(l.B)
	}
	if m.Precision == F16 {
		return 2 * n
	}
	return 4 * n
}

// Name returns "fp32", "fp16" or, for a simulation, "qat " and the variant.
func (m *FloatModel) Name() string {
	if m.Sim != nil {
		return "qat " + m.Sim.Name + " (fake-quant)"
	}
	return m.Precision.String()
}
