package infer_test

import (
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"tinyq/arch"
	"tinyq/infer"
	"tinyq/quant"
)

// convArch is the small CNN of these tests: conv(4, 3, pad 1), ReLU, maxpool 2 on 28×28,
// then conv(6, 3, stride 2, pad 1), ReLU (a stride and no pooling), then dense(10).
func convArch() arch.Arch {
	a, err := arch.Parse("conv(4,3,pad=1),relu,maxpool(2),conv(6,3,stride=2,pad=1),relu,flatten,dense(10)", arch.Shape{H: 28, W: 28, C: 1})
	if err != nil {
		panic(err)
	}
	return a
}

// randomConvFloat returns a float model of convArch with random weights.
func randomConvFloat(t testing.TB, rng *rand.Rand) *infer.FloatModel {
	t.Helper()
	us, err := convArch().Units()
	if err != nil {
		t.Fatal(err)
	}
	var layers []infer.FloatLayer
	for _, u := range us {
		in, out, conv, pool, relu := infer.UnitWindows(u)
		l := infer.FloatLayer{Name: "l", In: in, Out: out, Conv: conv, Pool: pool, ReLU: relu, W: make([]float32, in*out), B: make([]float32, out)}
		for k := range l.W {
			l.W[k] = 0.6 * (rng.Float32() - 0.5)
		}
		for k := range l.B {
			l.B[k] = 0.1 * (rng.Float32() - 0.5)
		}
		layers = append(layers, l)
	}
	m, err := infer.NewFloatModel(infer.F32, layers, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// randomConvInt returns a static integer model of convArch for cfg, as randomInt does
// for MLPs.
func randomConvInt(t testing.TB, cfg infer.IntConfig, rng *rand.Rand) *infer.IntModel {
	t.Helper()
	us, err := convArch().Units()
	if err != nil {
		t.Fatal(err)
	}
	ws, as := cfg.Spec.Layer(0).Weight, cfg.Spec.Layer(0).Activation
	wmin, wmax := ws.QRange()
	amin, amax := as.QRange()
	pk, err := quant.PackingFor(ws.Bits)
	if err != nil {
		t.Fatal(err)
	}
	var layers []*infer.IntLayer
	for i, u := range us {
		in, out, conv, pool, relu := infer.UnitWindows(u)
		l := &infer.IntLayer{Name: "l", In: in, Out: out, Conv: conv, Pool: pool, ReLU: relu}
		q := make([]int8, in*out)
		for k := range q {
			q[k] = int8(wmin + rng.Int31n(wmax-wmin+1))
		}
		l.Weights = make([]byte, pk.Len(in*out))
		if err := pk.Pack(l.Weights, q); err != nil {
			t.Fatal(err)
		}
		l.WeightScales = make([]float32, out)
		for o := range l.WeightScales {
			l.WeightScales[o] = (0.1 + 0.2*rng.Float32()) / float32(wmax)
		}
		l.InScale, l.InZP, l.InQMin, l.InQMax = 1.0/16, amin+int32(rng.Intn(3)), amin, amax
		if i == 0 {
			l.InScale, l.InZP = 1.0/255, amin
		}
		l.Bias = make([]int32, out)
		for o := range l.Bias {
			l.Bias[o] = rng.Int31n(201) - 100
		}
		layers = append(layers, l)
	}
	m, err := infer.NewIntModel(cfg, layers)
	if err != nil {
		t.Fatalf("%s: %v", cfg.Name(), err)
	}
	return m
}

// images returns n random MNIST-like inputs (pixels/255, most of them 0).
func images(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n*784)
	for i := range x {
		if rng.Intn(4) == 0 {
			x[i] = float32(rng.Intn(256)) / 255
		}
	}
	return x
}

// tap returns image b's value at (y, x, c) of an NHWC batch of h×w×ch images, and false
// outside the image.
func tap[T any](v []T, h, w, ch, b, y, x, c int) (T, bool) {
	var zero T
	if y < 0 || y >= h || x < 0 || x >= w {
		return zero, false
	}
	return v[((b*h+y)*w+x)*ch+c], true
}

// refIntForward is the direct integer reference of a static model with convolutions:
// quantize the input, then per layer the direct convolution (or dense product) of
// (q - zp)·w in int64, requantization by quant.MultiplyByQuantizedMultiplier with the
// fused ReLU as the lower clamp, max pooling of the uint8 values, and the logits
// float32(acc + bias)·scale.
func refIntForward(t *testing.T, m *infer.IntModel, x []float32, rows int) []float32 {
	bits := m.Config.Spec.Layer(0).Weight.Bits
	first := m.Layers[0]
	cur := make([]int32, len(x))
	for i, v := range x {
		cur[i] = quant.QuantizeValue(v, first.InScale, first.InZP, first.InQMin, first.InQMax)
	}
	var logits []float32
	for li, l := range m.Layers {
		w, err := l.Unpacked(bits)
		if err != nil {
			t.Fatal(err)
		}
		var acc []int64 // [rows, pixels, Out]
		if l.Conv != (arch.Window{}) {
			c := l.Conv
			for b := 0; b < rows; b++ {
				for oy := 0; oy < c.OutH(); oy++ {
					for ox := 0; ox < c.OutW(); ox++ {
						for o := 0; o < l.Out; o++ {
							var s int64
							for ky := 0; ky < c.Kernel; ky++ {
								for kx := 0; kx < c.Kernel; kx++ {
									for ch := 0; ch < c.C; ch++ {
										v, ok := tap(cur, c.H, c.W, c.C, b, oy*c.Stride-c.Pad+ky, ox*c.Stride-c.Pad+kx, ch)
										if ok {
											s += int64(v-l.InZP) * int64(w[o*l.In+(ky*c.Kernel+kx)*c.C+ch])
										}
									}
								}
							}
							acc = append(acc, s)
						}
					}
				}
			}
		} else {
			for b := 0; b < rows; b++ {
				for o := 0; o < l.Out; o++ {
					var s int64
					for i := 0; i < l.In; i++ {
						s += int64(cur[b*l.In+i]-l.InZP) * int64(w[o*l.In+i])
					}
					acc = append(acc, s)
				}
			}
		}
		if li == len(m.Layers)-1 {
			for k, a := range acc {
				o := k % l.Out
				v := float32(a+int64(l.Bias[o])) * l.LogitScale[o]
				if l.ReLU {
					v = max(v, 0)
				}
				logits = append(logits, v)
			}
			return logits
		}
		next := make([]int32, len(acc))
		for k, a := range acc {
			o := k % l.Out
			r := quant.MultiplyByQuantizedMultiplier(int32(a+int64(l.Bias[o])), l.Mult[o], l.Shift[o])
			next[k] = min(max(l.OutZP+r, l.OutQMin), l.OutQMax)
		}
		if p := l.Pool; p != (arch.Window{}) {
			var pooled []int32
			for b := 0; b < rows; b++ {
				for oy := 0; oy < p.OutH(); oy++ {
					for ox := 0; ox < p.OutW(); ox++ {
						for ch := 0; ch < p.C; ch++ {
							best := int32(-1)
							for ky := 0; ky < p.Kernel; ky++ {
								for kx := 0; kx < p.Kernel; kx++ {
									if v, ok := tap(next, p.H, p.W, p.C, b, oy*p.Stride-p.Pad+ky, ox*p.Stride-p.Pad+kx, ch); ok {
										best = max(best, v)
									}
								}
							}
							pooled = append(pooled, best)
						}
					}
				}
			}
			next = pooled
		}
		cur = next
	}
	return logits
}

// TestIntConvForward: a static integer model with convolutions (padding, stride, max
// pooling) equals the direct integer reference bit for bit, for int8, int4 and int2
// weights, at batch 1 and at a batch larger than the runtime's chunk of images, with one
// and two workers.
func TestIntConvForward(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	x := images(rng, 150)
	for _, w := range []quant.Widths{{Weight: 8, Activation: 8}, {Weight: 4, Activation: 4}, {Weight: 2, Activation: 8}} {
		cfg := infer.IntConfig{Mode: infer.Static, Spec: quant.Uniform(quant.LayerSpecFor(w, quant.PerChannel))}
		m := randomConvInt(t, cfg, rng)
		for _, rows := range []int{1, 150} {
			want := refIntForward(t, m, x[:rows*784], rows)
			for _, workers := range []int{1, 2} {
				m.Workers = workers
				got := make([]float32, rows*10)
				if err := m.Forward(x[:rows*784], rows, got); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					k := 0
					for got[k] == want[k] {
						k++
					}
					t.Fatalf("%s rows %d workers %d: logit %d is %v, want %v", cfg.Name(), rows, workers, k, got[k], want[k])
				}
			}
		}
	}
}

// refFloatForward is the direct float64 convolution, ReLU, max pooling and dense product
// of a float model.
func refFloatForward(m *infer.FloatModel, x []float32, rows int) []float64 {
	cur := make([]float64, len(x))
	for i, v := range x {
		cur[i] = float64(v)
	}
	for _, l := range m.Layers {
		var out []float64
		if c := l.Conv; c != (arch.Window{}) {
			for b := 0; b < rows; b++ {
				for oy := 0; oy < c.OutH(); oy++ {
					for ox := 0; ox < c.OutW(); ox++ {
						for o := 0; o < l.Out; o++ {
							s := float64(l.B[o])
							for ky := 0; ky < c.Kernel; ky++ {
								for kx := 0; kx < c.Kernel; kx++ {
									for ch := 0; ch < c.C; ch++ {
										if v, ok := tap(cur, c.H, c.W, c.C, b, oy*c.Stride-c.Pad+ky, ox*c.Stride-c.Pad+kx, ch); ok {
											s += v * float64(l.W[((ky*c.Kernel+kx)*c.C+ch)*l.Out+o])
										}
									}
								}
							}
							out = append(out, s)
						}
					}
				}
			}
		} else {
			for b := 0; b < rows; b++ {
				for o := 0; o < l.Out; o++ {
					s := float64(l.B[o])
					for i := 0; i < l.In; i++ {
						s += cur[b*l.In+i] * float64(l.W[i*l.Out+o])
					}
					out = append(out, s)
				}
			}
		}
		if l.ReLU {
			for k := range out {
				out[k] = max(out[k], 0)
			}
		}
		if p := l.Pool; p != (arch.Window{}) {
			var pooled []float64
			for b := 0; b < rows; b++ {
				for oy := 0; oy < p.OutH(); oy++ {
					for ox := 0; ox < p.OutW(); ox++ {
						for ch := 0; ch < p.C; ch++ {
							best := math.Inf(-1)
							for ky := 0; ky < p.Kernel; ky++ {
								for kx := 0; kx < p.Kernel; kx++ {
									if v, ok := tap(out, p.H, p.W, p.C, b, oy*p.Stride-p.Pad+ky, ox*p.Stride-p.Pad+kx, ch); ok {
										best = max(best, v)
									}
								}
							}
							pooled = append(pooled, best)
						}
					}
				}
			}
			out = pooled
		}
		cur = out
	}
	return cur
}

// TestFloatConvForward: a float model with convolutions agrees with the direct float64
// computation within float32 rounding (1e-4 here: the logits are of order 1 and sums have
// at most 294 terms of order 0.3), and its logits do not depend on the batch, the chunks
// or the workers (each sample's logits equal those of the sample alone).
func TestFloatConvForward(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	m := randomConvFloat(t, rng)
	const rows = 150
	x := images(rng, rows)
	want := refFloatForward(m, x, rows)
	for _, workers := range []int{1, 2} {
		m.Workers = workers
		got := make([]float32, rows*10)
		if err := m.Forward(x, rows, got); err != nil {
			t.Fatal(err)
		}
		for k := range got {
			if d := math.Abs(float64(got[k]) - want[k]); d > 1e-4 {
				t.Fatalf("workers %d: logit %d is %v, want %v", workers, k, got[k], want[k])
			}
		}
		for _, r := range []int{0, 63, 64, 149} {
			one := make([]float32, 10)
			if err := m.Forward(x[r*784:(r+1)*784], 1, one); err != nil {
				t.Fatal(err)
			}
			for k := range one {
				if one[k] != got[r*10+k] {
					t.Fatalf("workers %d: sample %d alone gives logit %d = %v, in the batch %v", workers, r, k, one[k], got[r*10+k])
				}
			}
		}
	}
	// ForwardLayers: the same logits, and each layer's input has InSize values per sample.
	got := make([]float32, rows*10)
	var sizes []int
	if err := m.ForwardLayers(x, rows, got, func(layer int, input []float32) error {
		sizes = append(sizes, len(input)/rows)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sizes, []int{784, 784, 294}) {
		t.Errorf("ForwardLayers inputs of %v values per sample, want [784 784 294]", sizes)
	}
	if a := m.Arch(); !a.Equal(convArch()) {
		t.Errorf("Arch() = %v, want %v", a, convArch())
	}
}

// TestConvForwardAllocations: a model with convolutions allocates nothing at batch 1
// once warm, float and integer, and so does issue 20's CNN on two workers (the integer
// runtime splits one image's second convolution over them).
func TestConvForwardAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	rng := rand.New(rand.NewSource(5))
	x := images(rng, 1)
	logits := make([]float32, 10)
	cfg := infer.IntConfig{Mode: infer.Static, Spec: quant.Uniform(quant.LayerSpecFor(quant.Widths{Weight: 8, Activation: 8}, quant.PerChannel))}
	cnnFloat, cnnInt := cnnModels(t)
	cnnFloat.Workers, cnnInt.Workers = 2, 2
	for _, m := range []infer.Model{randomConvFloat(t, rng), randomConvInt(t, cfg, rng), cnnFloat, cnnInt} {
		n := testing.AllocsPerRun(20, func() {
			if err := m.Forward(x, 1, logits); err != nil {
				t.Fatal(err)
			}
		})
		if n > 0 {
			t.Errorf("%s: %v allocations per Forward at batch 1, want 0", m.Name(), n)
		}
	}
}

// TestConvLayerErrors: inconsistent windows are refused with the layer's name; a
// convolutional layer is refused in dynamic mode and as the last layer.
func TestConvLayerErrors(t *testing.T) {
	conv := arch.Window{H: 6, W: 6, C: 1, Kernel: 3, Stride: 1, Pad: 1}
	dense := infer.FloatLayer{Name: "fc", In: 18, Out: 3, W: make([]float32, 54), B: make([]float32, 3)}
	for name, c := range map[string]struct {
		l    infer.FloatLayer
		want string
	}{
		"patch":   {infer.FloatLayer{Name: "c", In: 8, Out: 2, Conv: conv, W: make([]float32, 16), B: make([]float32, 2)}, "patches of 9"},
		"pool":    {infer.FloatLayer{Name: "c", In: 9, Out: 2, Conv: conv, Pool: arch.Window{H: 5, W: 6, C: 2, Kernel: 2, Stride: 2}, W: make([]float32, 18), B: make([]float32, 2)}, "pooling over 5x6x2"},
		"chain":   {infer.FloatLayer{Name: "c", In: 9, Out: 2, Conv: conv, W: make([]float32, 18), B: make([]float32, 2)}, "after 72 outputs"},
		"badconv": {infer.FloatLayer{Name: "c", In: 9, Out: 2, Conv: arch.Window{H: 6, W: 6, C: 1, Kernel: 3}, W: make([]float32, 18), B: make([]float32, 2)}, "convolution: window stride 0"},
	} {
		layers := []infer.FloatLayer{c.l, dense}
		if name == "chain" {
			layers[1].In = 17
		}
		if name == "badconv" || name == "patch" || name == "pool" {
			layers = layers[:1]
			layers = append(layers, infer.FloatLayer{Name: "fc", In: 18 * 4, Out: 1, W: make([]float32, 72), B: make([]float32, 1)})
		}
		_, err := infer.NewFloatModel(infer.F32, layers, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one with %q", name, err, c.want)
		}
	}
	rng := rand.New(rand.NewSource(6))
	cfg := infer.IntConfig{Mode: infer.Static, Spec: quant.Uniform(quant.LayerSpecFor(quant.Widths{Weight: 8, Activation: 8}, quant.PerChannel))}
	m := randomConvInt(t, cfg, rng)
	dyn := infer.IntConfig{Mode: infer.Dynamic, Spec: cfg.Spec}
	var ls []*infer.IntLayer
	for _, l := range m.Layers {
		c := *l
		c.BiasF = make([]float32, l.Out)
		ls = append(ls, &c)
	}
	if _, err := infer.NewIntModel(dyn, ls); err == nil || !strings.Contains(err.Error(), "dynamic quantization applies to fully connected layers only") {
		t.Errorf("dynamic conv model: error %v", err)
	}
	last := *m.Layers[0]
	if _, err := infer.NewIntModel(cfg, []*infer.IntLayer{&last}); err == nil || !strings.Contains(err.Error(), "last layer must be fully connected") {
		t.Errorf("conv last layer: error %v", err)
	}
}

// TestFoldBatchNorm: the folded layer computes the BatchNorm of the layer's output (in
// float64, within float32 rounding), the fold follows the documented rule exactly, and
// bad statistics are refused.
func TestFoldBatchNorm(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	const in, out = 5, 3
	w, b := make([]float32, in*out), make([]float32, out)
	for k := range w {
		w[k] = rng.Float32() - 0.5
	}
	for k := range b {
		b[k] = rng.Float32() - 0.5
	}
	bn := infer.BatchNorm{Gamma: []float32{1.5, -0.5, 2}, Beta: []float32{0.1, 0.2, -0.3}, Mean: []float32{0.05, -0.1, 0.2}, Var: []float32{0.5, 2, 0.01}, Eps: 1e-5}
	wf, bf, err := infer.FoldBatchNorm(w, b, in, out, bn)
	if err != nil {
		t.Fatal(err)
	}
	x := []float64{0.3, -1, 0.7, 0.2, 0.9}
	for o := 0; o < out; o++ {
		y, yf := float64(b[o]), float64(bf[o])
		for i := range x {
			y += x[i] * float64(w[i*out+o])
			yf += x[i] * float64(wf[i*out+o])
		}
		want := (y-float64(bn.Mean[o]))/math.Sqrt(float64(bn.Var[o])+float64(bn.Eps))*float64(bn.Gamma[o]) + float64(bn.Beta[o])
		if math.Abs(yf-want) > 1e-5 {
			t.Errorf("channel %d: folded output %v, batchnorm of the output %v", o, yf, want)
		}
		f := float64(bn.Gamma[o]) / math.Sqrt(float64(bn.Var[o])+float64(bn.Eps))
		if wf[o] != float32(float64(w[o])*f) || bf[o] != float32((float64(b[o])-float64(bn.Mean[o]))*f+float64(bn.Beta[o])) {
			t.Errorf("channel %d: fold differs from the documented rule", o)
		}
	}
	bad := bn
	bad.Var = []float32{0.5, -1e-5, 0.01}
	if _, _, err := infer.FoldBatchNorm(w, b, in, out, bad); err == nil || !strings.Contains(err.Error(), "channel 1: running var + eps") {
		t.Errorf("negative variance: error %v", err)
	}
	bad = bn
	bad.Gamma = bad.Gamma[:2]
	if _, _, err := infer.FoldBatchNorm(w, b, in, out, bad); err == nil || !strings.Contains(err.Error(), "gamma: 2 values for 3 channels") {
		t.Errorf("short gamma: error %v", err)
	}
}

// TestConvSimulation: a QAT simulation of a model with convolutions fake-quantizes each
// layer's whole input image and runs the layer with its fake-quantized weights and bias:
// it equals, bit for bit, running each layer alone (a one-layer model, its pooling writing
// the output) on the fake-quantized output of the layer before.
func TestConvSimulation(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	base := randomConvFloat(t, rng)
	sim := &infer.Simulation{Name: "w4a8"}
	for i, l := range base.Layers {
		ws := make([]float32, l.Out)
		for o := range ws {
			ws[o] = 0.3 / 7
		}
		s := float32(1.0 / 16)
		if i == 0 {
			s = 1.0 / 255
		}
		sim.Weights = append(sim.Weights, quant.Params{Scales: ws, ZeroPoints: make([]int32, l.Out), QMin: -7, QMax: 7, Axis: 1})
		sim.Inputs = append(sim.Inputs, quant.Params{Scales: []float32{s}, ZeroPoints: []int32{0}, QMin: 0, QMax: 255, Axis: -1})
	}
	layers := slices.Clone(base.Layers)
	m, err := infer.NewFloatModel(infer.F32, layers, sim)
	if err != nil {
		t.Fatal(err)
	}
	const rows = 3
	x := images(rng, rows)
	got := make([]float32, rows*10)
	if err := m.Forward(x, rows, got); err != nil {
		t.Fatal(err)
	}
	cur := x
	for i, l := range m.Layers {
		q := make([]float32, len(cur))
		if err := quant.FakeQuantize(q, cur, []int{rows, len(cur) / rows}, sim.Inputs[i]); err != nil {
			t.Fatal(err)
		}
		one, err := infer.NewFloatModel(infer.F32, []infer.FloatLayer{l}, nil) // l's W and B are fake-quantized already
		if err != nil {
			t.Fatal(err)
		}
		cur = make([]float32, rows*l.OutSize())
		if err := one.Forward(q, rows, cur); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, cur) {
		t.Errorf("simulation logits %v, layer by layer %v", got[:10], cur[:10])
	}
	if slices.Equal(m.Layers[0].W, base.Layers[0].W) {
		t.Error("the simulation did not fake-quantize the weights")
	}
}
