package qat

import (
	"math"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"tinyq/nn"
	"tinyq/quant"
	"tinyq/train"
)

// TestPrepareDoesNotModifyInput: Prepare copies the weights and installs hooks on the copy only.
func TestPrepareDoesNotModifyInput(t *testing.T) {
	m := newModel(t, 5)
	before := m.Clone()
	qm, err := Prepare(m, Spec(4, 4))
	if err != nil {
		t.Fatal(err)
	}
	if m.InputHook != nil {
		t.Error("input hook set on the original")
	}
	for i, l := range m.Layers {
		if l.WeightHook != nil || l.OutputHook != nil {
			t.Errorf("layer %d: hooks set on the original", i)
		}
		if &l.Weights()[0] == &qm.Layers[i].Weights()[0] {
			t.Errorf("layer %d: weights shared with the prepared model", i)
		}
	}
	// Training the prepared model must not touch the original either.
	trainSet, _ := loadMNIST(t, 256, 0)
	if _, err := qm.Fit(trainSet, train.Data{}, train.Config{Epochs: 1, Batch: 128}); err != nil {
		t.Fatal(err)
	}
	for i, l := range m.Layers {
		for j, v := range l.Weights() {
			if math.Float32bits(v) != math.Float32bits(before.Layers[i].Weights()[j]) {
				t.Fatalf("layer %d weight %d changed: %v -> %v", i, j, before.Layers[i].Weights()[j], v)
			}
		}
		for j, v := range l.Bias() {
			if math.Float32bits(v) != math.Float32bits(before.Layers[i].Bias()[j]) {
				t.Fatalf("layer %d bias %d changed", i, j)
			}
		}
	}
}

// TestPrepareBadConfig: bad configurations are rejected with a clear error before anything is
// built.
func TestPrepareBadConfig(t *testing.T) {
	perChannelAct := Spec(8, 8)
	perChannelAct.Spec.Layers[0].Activation = quant.Spec{Bits: 8, Scheme: quant.Affine, Granularity: quant.PerChannel, Axis: 1}
	weightAxis0 := Spec(8, 8)
	weightAxis0.Spec.Layers[0].Weight.Axis = 0
	freeze := Spec(8, 8)
	freeze.FreezeObserversAfter = -1
	scaleLR := Spec(8, 8)
	scaleLR.ScaleLR = -1e-3
	badObserver := Spec(8, 8)
	badObserver.Observer = quant.ObserverConfig{Kind: quant.MovingAverageObserver, Momentum: 2}
	badInit := Spec(2, 2)
	badInit.LSQInit = 7
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"weight bits 1", Spec(1, 8), "qat: weight spec: bits 1 outside 2..8"},
		{"weight bits 9", Spec(9, 8), "qat: weight spec: bits 9 outside 2..8"},
		{"activation bits 1", Spec(8, 1), "qat: activation spec: bits 1 outside 2..8"},
		{"activation bits 9", Spec(8, 9), "qat: activation spec: bits 9 outside 2..8"},
		{"per-channel activations", perChannelAct, "qat: activation spec: want per-tensor"},
		{"weight axis 0", weightAxis0, "qat: weight spec: per-channel axis 0, want 1"},
		{"negative freeze", freeze, "qat: FreezeObserversAfter -1, want >= 0"},
		{"negative scale LR", scaleLR, "qat: ScaleLR -0.001, want >= 0"},
		{"bad observer", badObserver, "qat: activation observer: quant: observer momentum 2 outside (0, 1]"},
		{"zero config", Config{}, "qat: weight spec: bits 0 outside 2..8"},
		{"unknown LSQ init", badInit, "qat: unknown LSQInit 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Validate: %v, want %q", err, tc.want)
			}
			// An invalid model too: the config is checked first, and nothing is built.
			qm, err := Prepare(&nn.MLP{}, tc.cfg)
			if qm != nil || err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Prepare: %v, %v; want nil, %q", qm, err, tc.want)
			}
		})
	}
	if _, err := Prepare(&nn.MLP{}, Spec(8, 8)); err == nil || !strings.Contains(err.Error(), "no layers") {
		t.Errorf("Prepare of an empty model: %v", err)
	}
}

// TestPrepareObserverDefaults: the zero Observer is the moving average documented on Config,
// and the fast range path is set exactly for the min/max observers.
func TestPrepareObserverDefaults(t *testing.T) {
	for _, tc := range []struct {
		kind      quant.ObserverKind
		rangeOnly bool
	}{{0, true}, {quant.MinMaxObserver, true}, {quant.MovingAverageObserver, true}, {quant.PercentileObserver, false}, {quant.MSEObserver, false}} {
		cfg := Spec(8, 8)
		cfg.Observer.Kind = tc.kind
		qm, err := Prepare(newModel(t, 1), cfg)
		if err != nil {
			t.Fatal(err)
		}
		// FakeQuant's fast range path is taken exactly for observers that keep only a range.
		for _, q := range qm.Inputs {
			if _, ok := q.Observer.(quant.RangeState); ok != tc.rangeOnly {
				t.Errorf("%v: %s observer keeps only a range: %t", tc.kind, q.Name, ok)
			}
		}
		for _, q := range qm.Weights {
			if _, ok := q.Observer.(quant.RangeState); !ok || !q.ResetEachStep {
				t.Errorf("%v: %s range-only %t ResetEachStep %t", tc.kind, q.Name, ok, q.ResetEachStep)
			}
		}
	}
	// Moving average with momentum 0.01: a second, larger batch moves the range by 1%.
	qm, err := Prepare(handModel(), Spec(8, 8))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := qm.NewEvaluator(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Forward([]float32{0, 0, 1000}, 1); err != nil {
		t.Fatal(err)
	}
	if got := qm.Inputs[0].Scales()[0]; got != 1 || qm.Inputs[0].Observed() {
		t.Fatalf("a prepared model observed while evaluating: scale %v", got)
	}
	qm.SetObserving(true) // as its trainer does for a training step
	for _, x := range [][]float32{{0, 0, 2.55}, {0, 0, 102.55}} {
		if _, err := ev.Forward(x, 1); err != nil {
			t.Fatal(err)
		}
	}
	// max = 0.99·2.55 + 0.01·102.55 = 3.55 (in float32 steps), scale = max/255.
	want := (float32(0.99*2.55) + float32(0.01*102.55)) / 255
	if got := qm.Inputs[0].Scales()[0]; math.Abs(float64(got-want)) > 1e-7*float64(want) {
		t.Errorf("input scale %v after two batches, want moving average %v", got, want)
	}
}

// handModel is a 3-2-2 MLP with hand-picked weights: ReLU hidden layer, identity output.
func handModel() *nn.MLP {
	mk := func(in, out int, w, b []float32, act nn.Activation) *nn.Layer {
		return &nn.Layer{Linear: nn.Linear{In: in, Out: out,
			W: tensor.New(tensor.WithShape(in, out), tensor.WithBacking(w)),
			B: tensor.New(tensor.WithShape(out), tensor.WithBacking(b))}, Act: act}
	}
	return &nn.MLP{Layers: []*nn.Layer{
		mk(3, 2, []float32{0.8, -0.35, -0.61, 0.9, 0.27, 0.13}, []float32{0.05, -0.1}, nn.ReLU),
		mk(2, 2, []float32{1.3, -0.7, 0.45, 0.95}, []float32{0.2, -0.03}, nn.Identity),
	}}
}

// TestEvalMatchesReference: evaluating a prepared model with fake-quant equals a hand-written
// reference that fake-quantizes the input, the weights per channel and the hidden ReLU output
// with the quantizers' parameters, and rounds each bias to the int32 grid of scale s_in·s_w.
func TestEvalMatchesReference(t *testing.T) {
	qm, err := Prepare(handModel(), Spec(4, 4))
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{
		0.9, 0.1, 0.4,
		0.2, 0.7, 1.0,
		0.0, 0.3, 0.65,
		0.55, 0.05, 0.8,
	}
	const rows = 4
	ev, err := qm.NewEvaluator(rows)
	if err != nil {
		t.Fatal(err)
	}
	qm.SetObserving(true) // calibrate on x once, then freeze the ranges
	if _, err := ev.Forward(x, rows); err != nil {
		t.Fatal(err)
	}
	qm.SetObserving(false)
	got, err := ev.Forward(x, rows)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qm.Quantizers() {
		if !q.Observed() {
			t.Fatalf("%s was not calibrated", q.Name)
		}
	}

	fq := func(v []float32, shape []int, p quant.Params) []float32 {
		out := make([]float32, len(v))
		if err := quant.FakeQuantize(out, v, shape, p); err != nil {
			t.Fatal(err)
		}
		return out
	}
	// biasQ rounds layer i's bias to multiples of s_in·s_w[j] (TFLite's int32 bias).
	biasQ := func(i int) []float32 {
		sIn, sW := qm.Inputs[i].Params().Scales[0], qm.Weights[i].Params().Scales
		b := make([]float32, len(qm.Layers[i].Bias()))
		for j, v := range qm.Layers[i].Bias() {
			s := float64(sIn) * float64(sW[j])
			b[j] = float32(math.RoundToEven(float64(v)/s) * s)
		}
		return b
	}
	// linear computes relu?(a·w + b) in float64, rounded to float32.
	linear := func(a []float32, l *nn.Layer, w, b []float32) []float32 {
		out := make([]float32, rows*l.Out)
		for r := range rows {
			for j := range l.Out {
				s := float64(b[j])
				for i := range l.In {
					s += float64(a[r*l.In+i]) * float64(w[i*l.Out+j])
				}
				if l.Act == nn.ReLU {
					s = math.Max(s, 0)
				}
				out[r*l.Out+j] = float32(s)
			}
		}
		return out
	}
	l1, l2 := qm.Layers[0], qm.Layers[1]
	xq := fq(x, []int{rows, 3}, qm.Inputs[0].Params())
	w1q := fq(l1.Weights(), []int{3, 2}, qm.Weights[0].Params())
	w2q := fq(l2.Weights(), []int{2, 2}, qm.Weights[1].Params())
	hq := fq(linear(xq, l1, w1q, biasQ(0)), []int{rows, 2}, qm.Inputs[1].Params())
	want := linear(hq, l2, w2q, biasQ(1))

	// The quantized hidden layer must match exactly (no value of h lies within float32
	// rounding of a tie for these inputs); the logits to float32 summation order.
	for i, v := range ev.LayerInput(1)[:rows*2] {
		if v != hq[i] {
			t.Errorf("hidden[%d] = %v, reference %v", i, v, hq[i])
		}
	}
	for i := range want {
		// Two products and a bias summed in float32 by the BLAS: a few ulps of values near 1.
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Errorf("logit %d = %v, reference %v", i, got[i], want[i])
		}
	}
	// The fake-quant is visible: the float model gives other logits.
	fev, err := handModel().NewEvaluator(rows)
	if err != nil {
		t.Fatal(err)
	}
	fl, err := fev.Forward(x, rows)
	if err != nil {
		t.Fatal(err)
	}
	differ := false
	for i := range fl {
		differ = differ || math.Abs(float64(fl[i]-want[i])) > 1e-3
	}
	if !differ {
		t.Error("4-bit fake-quant left every logit within 1e-3 of the float model's")
	}
}

// TestQATRealMNIST trains W4A4 from scratch for one epoch on 2,000 real MNIST images.
// Measured: 73.80% on the first 2,000 test images (seed 1; chance is 10%); the floor leaves
// room for other machines' float rounding.
func TestQATRealMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("loads MNIST and trains")
	}
	trainSet, testSet := loadMNIST(t, 2000, 2000)
	qm, err := Prepare(newModel(t, 1), Spec(4, 4))
	if err != nil {
		t.Fatal(err)
	}
	h, err := qm.Fit(trainSet, testSet, train.Config{Epochs: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	acc := h.Final().TestAccuracy
	t.Logf("W4A4 accuracy %.2f%%, train loss %.4f", acc, h.Final().TrainLoss)
	if acc < 70 {
		t.Fatalf("accuracy %.2f%% after one W4A4 epoch on 2,000 images, want >= 70%%", acc)
	}
}

// TestFreezeObservers: with FreezeObserversAfter 1, activation ranges move during the first
// epoch and not after it, while evaluation never moves them.
func TestFreezeObservers(t *testing.T) {
	trainSet, testSet := loadMNIST(t, 512, 200)
	cfg := Spec(8, 8)
	cfg.FreezeObserversAfter = 1
	qm, err := Prepare(newModel(t, 2), cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := qm.NewTrainer(train.Config{Batch: 64, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	scales := func() []float32 {
		var s []float32
		for _, q := range qm.Inputs {
			s = append(s, q.Scales()[0])
		}
		return s
	}
	initial := scales()
	if _, err := tr.Epoch(trainSet, testSet); err != nil { // epoch 1 observes, then evaluates
		t.Fatal(err)
	}
	afterFirst := scales()
	moved := false
	for i := range initial {
		moved = moved || initial[i] != afterFirst[i]
	}
	if !moved {
		t.Fatal("activation scales did not move in the first epoch")
	}
	if _, err := tr.Epoch(trainSet, testSet); err != nil { // frozen
		t.Fatal(err)
	}
	for i, s := range scales() {
		if s != afterFirst[i] {
			t.Fatalf("%s scale moved after freezing: %v -> %v", qm.Inputs[i].Name, afterFirst[i], s)
		}
	}
}

// TestLSQInitMeanAbs: with LearnScales and InitMeanAbs, the first training step starts every
// weight scale at the LSQ paper's 2·mean|w|/sqrt(Qp) of its output channel (Qp = 1 at 2 bits)
// and every input scale at 2·mean|x|/sqrt(Qp) of the first batch (Qp = 3 for 2-bit affine).
func TestLSQInitMeanAbs(t *testing.T) {
	m := handModel()
	cfg := Spec(2, 2)
	cfg.LearnScales, cfg.LSQInit = true, InitMeanAbs
	qm, err := Prepare(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{0.9, 0.1, 0.4, 0.2, 0.7, 1.0}
	ev, err := qm.NewEvaluator(2)
	if err != nil {
		t.Fatal(err)
	}
	qm.SetObserving(true) // as the trainer does for a training step
	if _, err := ev.Forward(x, 2); err != nil {
		t.Fatal(err)
	}
	qm.SetObserving(false)
	// fc1's weight [3, 2]: column 0 holds 0.8, -0.61, 0.27; column 1 holds -0.35, 0.9, 0.13.
	want := []float32{
		float32(2 * ((0.8 + 0.61 + 0.27) / 3) / math.Sqrt(1)),
		float32(2 * ((0.35 + 0.9 + 0.13) / 3) / math.Sqrt(1)),
	}
	// The same sums in float64 from the float32 weights, as the observer adds them.
	w := m.Layers[0].Weights()
	for c := range want {
		var s float64
		for i := range 3 {
			s += math.Abs(float64(w[i*2+c]))
		}
		want[c] = float32(2 * (s / 3) / math.Sqrt(1))
	}
	if got := qm.Weights[0].Scales(); got[0] != want[0] || got[1] != want[1] {
		t.Errorf("fc1.w scales %v, want %v", got, want)
	}
	var s float64
	for _, v := range x {
		s += math.Abs(float64(v))
	}
	if got, want := qm.Inputs[0].Scales()[0], float32(2*(s/6)/math.Sqrt(3)); got != want {
		t.Errorf("fc1.in scale %v, want %v", got, want)
	}
	for _, q := range qm.Quantizers() {
		if !q.Observed() {
			t.Errorf("%s not initialised", q.Name)
		}
	}
	// Once initialised, learned scales are no longer observed.
	before := append([]float32(nil), qm.Inputs[0].Scales()...)
	qm.SetObserving(true)
	if _, err := ev.Forward([]float32{1, 1, 1, 1, 1, 1}, 2); err != nil {
		t.Fatal(err)
	}
	qm.SetObserving(false)
	if got := qm.Inputs[0].Scales()[0]; got != before[0] {
		t.Errorf("fc1.in scale moved from %v to %v after its initialisation", before[0], got)
	}
}

// TestFixInputScale: with FixInputScale the network input's scale keeps the initial value it
// got from the first batch through training while every other learned scale moves, and
// LearnedScales leaves it out.
func TestFixInputScale(t *testing.T) {
	trainSet, _ := loadMNIST(t, 512, 1)
	cfg := Spec(2, 2)
	cfg.LearnScales, cfg.LSQInit, cfg.FixInputScale = true, InitMeanAbs, true
	qm, err := Prepare(newModel(t, 2), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := qm.LearnedScales(); len(got) != len(qm.Quantizers())-1 || got[0] == qm.Inputs[0] {
		t.Fatalf("LearnedScales has %d quantizers (first %s), want all %d but %s", len(got), got[0].Name, len(qm.Quantizers()), qm.Inputs[0].Name)
	}
	tr, err := qm.NewTrainer(train.Config{Batch: 64, Epochs: 2, LR: 1e-3})
	if err != nil {
		t.Fatal(err)
	}
	scales := func() []float32 {
		var s []float32
		for _, q := range qm.Quantizers() {
			s = append(s, q.Scales()[0])
		}
		return s
	}
	// One step: every scale gets its initial value, and the learned ones one update.
	first := train.Data{Images: trainSet.Images[:64*784], Labels: trainSet.Labels[:64]}
	if _, err := tr.Epoch(first, train.Data{}); err != nil {
		t.Fatal(err)
	}
	before := scales()
	if _, err := tr.Epoch(trainSet, train.Data{}); err != nil {
		t.Fatal(err)
	}
	after := scales()
	if after[0] != before[0] {
		t.Errorf("%s scale moved from %v to %v: it was learned", qm.Inputs[0].Name, before[0], after[0])
	}
	for i, q := range qm.Quantizers()[1:] {
		if after[i+1] == before[i+1] {
			t.Errorf("%s scale did not move in an epoch", q.Name)
		}
	}
}
