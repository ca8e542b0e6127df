package ptq

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/quant"
)

// smallModel returns a float model of the given sizes: He-normal weights drawn as
// nn.NewMLP draws them (seed 3), biases 0.05·(j%5-2), ReLU between layers.
func smallModel(t testing.TB, sizes ...int) *infer.FloatModel {
	t.Helper()
	rng := rand.New(rand.NewSource(3))
	var layers []infer.FloatLayer
	for i := 0; i+1 < len(sizes); i++ {
		in, out := sizes[i], sizes[i+1]
		l := infer.FloatLayer{Name: fmt.Sprintf("fc%d", i+1), In: in, Out: out, ReLU: i+2 < len(sizes), W: make([]float32, in*out), B: make([]float32, out)}
		std := math.Sqrt(2 / float64(in))
		for j := range l.W {
			l.W[j] = float32(rng.NormFloat64() * std)
		}
		for j := range l.B {
			l.B[j] = 0.05 * float32(j%5-2)
		}
		layers = append(layers, l)
	}
	return floatModel(t, layers)
}

// floatModel returns the fp32 model of layers.
func floatModel(t testing.TB, layers []infer.FloatLayer) *infer.FloatModel {
	t.Helper()
	m, err := infer.NewFloatModel(infer.F32, layers, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// clone returns a deep copy of m's parameters.
func clone(t testing.TB, m *infer.FloatModel) *infer.FloatModel {
	t.Helper()
	layers := append([]infer.FloatLayer(nil), m.Layers...)
	for i := range layers {
		layers[i].W = append([]float32(nil), layers[i].W...)
		layers[i].B = append([]float32(nil), layers[i].B...)
	}
	return floatModel(t, layers)
}

func randImages(n, in int, seed int64) []float32 {
	rng := rand.New(rand.NewSource(seed))
	x := make([]float32, n*in)
	for i := range x {
		if rng.Intn(3) > 0 { // two thirds zeros, like MNIST background
			continue
		}
		x[i] = rng.Float32()
	}
	return x
}

// refStatic is a plain reference of the static integer model's math, written from the
// formulas (not from the runtime): q_in = quantize(x); acc = Σ (q_in - zp_in)·q_w; for hidden
// layers q_out = clamp(zp_out + round(M·(acc + bias))) with M = mult·2^(shift-31) applied in
// exact int64 arithmetic with one rounding (half up); logits = (acc + bias)·s_in·s_w.
func refStatic(m *infer.IntModel, x []float32) []float32 {
	l0 := m.Layers[0]
	a := make([]int64, l0.In)
	for i, v := range x {
		a[i] = int64(quant.QuantizeValue(v, l0.InScale, l0.InZP, l0.InQMin, l0.InQMax))
	}
	for li, l := range m.Layers {
		w, err := l.Unpacked(m.Config.Spec.Layer(0).Weight.Bits)
		if err != nil {
			panic(err)
		}
		next := make([]int64, l.Out)
		logits := make([]float32, l.Out)
		for o := 0; o < l.Out; o++ {
			var acc int64
			for i := 0; i < l.In; i++ {
				acc += (a[i] - int64(l.InZP)) * int64(w[o*l.In+i])
			}
			acc += int64(l.Bias[o])
			if li == len(m.Layers)-1 {
				logits[o] = float32(acc) * l.LogitScale[o]
				continue
			}
			total := 31 - l.Shift[o]
			v := (acc*int64(l.Mult[o]) + 1<<(total-1)) >> total
			v += int64(l.OutZP)
			next[o] = max(int64(l.OutQMin), min(int64(l.OutQMax), v))
		}
		if li == len(m.Layers)-1 {
			return logits
		}
		a = next
	}
	return nil
}

func TestStaticMatchesReference(t *testing.T) {
	for _, bits := range []quant.Widths{{Weight: 8, Activation: 8}, {Weight: 4, Activation: 8}, {Weight: 4, Activation: 4}, {Weight: 2, Activation: 4}} {
		m := smallModel(t, 20, 16, 12, 5)
		imgs := randImages(37, 20, 1)
		cfg := Spec(Static, bits.Weight, bits.Activation)
		im := calibrated(t, m, imgs, cfg)
		im.Workers = 3
		got := make([]float32, 37*5)
		if err := im.Forward(imgs, 37, got); err != nil {
			t.Fatal(err)
		}
		for r := 0; r < 37; r++ {
			want := refStatic(im, imgs[r*20:(r+1)*20])
			for o, w := range want {
				if got[r*5+o] != w {
					t.Fatalf("%v row %d logit %d: %v, reference %v", bits, r, o, got[r*5+o], w)
				}
			}
		}
	}
}

// TestStaticCloseToFloat: an 8-bit static model's logits stay within a few output steps of
// the float model's on calibration-like data.
func TestStaticCloseToFloat(t *testing.T) {
	m := smallModel(t, 20, 16, 12, 5)
	imgs := randImages(64, 20, 2)
	cfg := Spec(Static, 8, 8)
	ranges, err := Calibrate(m, cfg, imgs)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []Mode{Static, Dynamic} {
		cfg.Mode = mode
		im, err := Convert(m, cfg, Plan{Inputs: ranges})
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, 64*5)
		if err := im.Forward(imgs, 64, got); err != nil {
			t.Fatal(err)
		}
		want := make([]float32, 64*5)
		if err := m.Forward(imgs, 64, want); err != nil {
			t.Fatal(err)
		}
		var worst float64
		for i := range want {
			worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
		}
		// Logits here are O(1); 8-bit activations and weights each add ~0.4% relative error
		// per layer, so 0.05 absolute is a loose but meaningful bound (a wrong scale or a
		// transposed weight gives errors of order 1).
		if worst > 0.05 {
			t.Fatalf("%v: largest logit difference %v", mode, worst)
		}
	}
}

func TestConvertDoesNotModifyInput(t *testing.T) {
	m := smallModel(t, 20, 16, 5)
	before := clone(t, m)
	imgs := randImages(10, 20, 3)
	cfg := Spec(Static, 4, 4)
	ranges, err := Calibrate(m, cfg, imgs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Convert(m, cfg, Plan{Inputs: ranges}); err != nil {
		t.Fatal(err)
	}
	for i, l := range m.Layers {
		for j, v := range l.W {
			if v != before.Layers[i].W[j] {
				t.Fatalf("layer %d weight %d changed", i, j)
			}
		}
	}
}

func TestAllZeroLayer(t *testing.T) {
	m := smallModel(t, 20, 16, 5)
	clear(m.Layers[0].W)
	clear(m.Layers[0].B)
	imgs := randImages(8, 20, 4)
	for _, mode := range []Mode{Static, Dynamic} {
		cfg := Spec(mode, 8, 8)
		im := calibrated(t, m, imgs, cfg)
		logits := make([]float32, 8*5)
		if err := im.Forward(imgs, 8, logits); err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		for _, v := range logits {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%v: logit %v", mode, v)
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	m := smallModel(t, 20, 16, 5)
	imgs := randImages(8, 20, 5)
	if _, err := Calibrate(m, Spec(Static, 8, 8), nil); err == nil || !strings.Contains(err.Error(), "empty calibration") {
		t.Errorf("empty calibration set: %v", err)
	}
	if _, err := Calibrate(m, Spec(Static, 8, 8), imgs[:30]); err == nil || !strings.Contains(err.Error(), "30 values are not whole images of 20") {
		t.Errorf("a slice of partial images: %v", err)
	}
	if _, err := Calibrate(m, Spec(Dynamic, 8, 8), imgs); err == nil || !strings.Contains(err.Error(), "needs no calibration") {
		t.Errorf("dynamic calibration: %v", err)
	}
	for _, bits := range []int{1, 9} {
		if _, err := Convert(m, Spec(Dynamic, bits, 8), Plan{}); err == nil || !strings.Contains(err.Error(), "bits") {
			t.Errorf("%d-bit weights: %v", bits, err)
		}
	}
	if _, err := Convert(m, Spec(Static, 8, 8), Plan{}); err == nil {
		t.Error("static conversion without ranges accepted")
	}
	bad := clone(t, m)
	bad.Layers[1].W[2] = float32(math.NaN())
	if _, err := Convert(bad, Spec(Dynamic, 8, 8), Plan{}); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("NaN weight: %v", err)
	}
	inf := clone(t, m)
	inf.Layers[0].B[0] = float32(math.Inf(1))
	if _, err := Convert(inf, Spec(Dynamic, 8, 8), Plan{}); err == nil {
		t.Error("Inf bias accepted")
	}
	im, err := Convert(m, Spec(Dynamic, 8, 8), Plan{})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Forward(imgs, 8, make([]float32, 3)); err == nil {
		t.Error("Forward accepted a short logits buffer")
	}
	cfg := Spec(Static, 8, 8)
	sm := calibrated(t, m, imgs, cfg)
	nanImgs := append([]float32(nil), imgs...)
	nanImgs[3] = float32(math.NaN())
	for _, model := range []*infer.IntModel{sm, im} {
		if err := model.Forward(nanImgs, 8, make([]float32, 8*5)); err == nil || !strings.Contains(err.Error(), "NaN") {
			t.Errorf("%v: NaN input: %v", model.Config.Mode, err)
		}
	}
}

// TestWeightBytes pins the size accounting: int8 weights, int32 bias, float32 scale and
// int32 zero point per channel, and 8 bytes of activation scale and zero point per layer.
func TestWeightBytes(t *testing.T) {
	m := smallModel(t, 784, 256, 128, 10)
	imgs := randImages(4, 784, 6)
	for _, c := range []struct {
		w, a int
		want int
	}{
		// 784·256 + 256·128 + 128·10 = 234,752 weights; 394 channels · 12 bytes; 3 layers · 8.
		{8, 8, 234752 + 394*12 + 24},
		{4, 4, 234752/2 + 394*12 + 24},
		{2, 4, 234752/4 + 394*12 + 24},
	} {
		cfg := Spec(Static, c.w, c.a)
		im := calibrated(t, m, imgs, cfg)
		if got := im.WeightBytes(); got != c.want {
			t.Errorf("%v: %d bytes, want %d", quant.Widths{Weight: c.w, Activation: c.a}, got, c.want)
		}
	}
}

func TestFloat16(t *testing.T) {
	m := smallModel(t, 4, 3)
	m.Layers[0].W[0] = 0.1 // nearest half: 0.0999755859375
	h, err := Float16(m)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Layers[0].W[0]; got != 0.0999755859375 || h.Precision != infer.F16 {
		t.Fatalf("fp16(0.1) = %v (%v)", got, h.Precision)
	}
	if m.Layers[0].W[0] != 0.1 {
		t.Fatal("Float16 modified its input")
	}
	m.Layers[0].B[1] = 70000 // beyond half precision's ±65504
	if _, err := Float16(m); err == nil {
		t.Fatal("Float16 accepted a value that becomes +Inf")
	}
}

// TestLogitMSE: more bits, less error; the error is positive and finite; bad input errs.
func TestLogitMSE(t *testing.T) {
	m := smallModel(t, 20, 16, 12, 5)
	imgs := randImages(64, 20, 7)
	ref := m
	var errs []float64
	for _, bits := range []int{8, 4, 2} {
		cfg := Spec(Static, bits, bits)
		im := calibrated(t, m, imgs, cfg)
		e, err := LogitMSE(ref, im, imgs)
		if err != nil {
			t.Fatal(err)
		}
		if !(e > 0) || math.IsInf(e, 0) {
			t.Fatalf("%d bits: logit MSE %v", bits, e)
		}
		errs = append(errs, e)
		if _, err := LogitMSE(ref, im, imgs[:7]); err == nil {
			t.Fatal("LogitMSE accepted a partial image")
		}
	}
	if !(errs[0] < errs[1] && errs[1] < errs[2]) {
		t.Fatalf("logit MSE at 8, 4, 2 bits: %v, want decreasing with bits", errs)
	}
}

// TestLogitsDoNotWrap: the last layer adds its bias in int64, so a bias near the int32 limit
// plus a positive accumulator stays positive; and a bias too large for int32 is refused at
// conversion instead of being clamped.
func TestLogitsDoNotWrap(t *testing.T) {
	m := floatModel(t, []infer.FloatLayer{{Name: "fc1", In: 2, Out: 1, W: []float32{1, 1}, B: []float32{0}}})
	x := []float32{1, 1}
	cfg := Spec(Static, 8, 8)
	ranges, err := Calibrate(m, cfg, x)
	if err != nil {
		t.Fatal(err)
	}
	im, err := Convert(m, cfg, Plan{Inputs: ranges})
	if err != nil {
		t.Fatal(err)
	}
	im.Layers[0].Bias[0] = math.MaxInt32
	logit := make([]float32, 1)
	if err := im.Forward(x, 1, logit); err != nil {
		t.Fatal(err)
	}
	if logit[0] <= 0 {
		t.Fatalf("logit %v: accumulator plus bias wrapped around int32", logit[0])
	}
	m.Layers[0].B[0] = 1e9 // 1e9/(s_in·s_w) is far beyond int32
	if _, err := Convert(m, cfg, Plan{Inputs: ranges}); err == nil || !strings.Contains(err.Error(), "int32") {
		t.Fatalf("huge bias: %v", err)
	}
}

// TestReLUOnLastLayer: a final ReLU clamps the logits in both modes, as in float.
func TestReLUOnLastLayer(t *testing.T) {
	// output 1 is negative for positive x
	m := floatModel(t, []infer.FloatLayer{{Name: "fc1", In: 2, Out: 2, ReLU: true, W: []float32{1, -1, 1, -1}, B: []float32{0, 0}}})
	x := []float32{0.5, 1}
	for _, mode := range []Mode{Static, Dynamic} {
		cfg := Spec(mode, 8, 8)
		im := calibrated(t, m, x, cfg)
		logits := make([]float32, 2)
		if err := im.Forward(x, 1, logits); err != nil {
			t.Fatal(err)
		}
		if logits[1] != 0 || logits[0] <= 1 {
			t.Fatalf("%v: logits %v, want [~1.5 0]", mode, logits)
		}
	}
}

// calibrated calibrates m on x (Static mode) and converts it with cfg.
func calibrated(t *testing.T, m *infer.FloatModel, x []float32, cfg Config) *infer.IntModel {
	t.Helper()
	var plan Plan
	if cfg.Mode == Static {
		var err error
		if plan.Inputs, err = Calibrate(m, cfg, x); err != nil {
			t.Fatal(err)
		}
	}
	im, err := Convert(m, cfg, plan)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// TestConversionsKeepInputRecord (issue 18, item 11): the float, FP16 and integer models
// converted from a float model read their input as its record says.
func TestConversionsKeepInputRecord(t *testing.T) {
	m := smallModel(t, 12, 8, 4)
	in := infer.Input{Width: 3, Height: 4, PixelDivisor: 127.5}
	if err := m.SetInput(in); err != nil {
		t.Fatal(err)
	}
	fm, err := Float16(m)
	if err != nil {
		t.Fatal(err)
	}
	if fm.Input() != in {
		t.Errorf("Float16: input %+v, want %+v", fm.Input(), in)
	}
	im, err := Convert(m, Spec(Dynamic, 8, 8), Plan{})
	if err != nil {
		t.Fatal(err)
	}
	if im.Input() != in {
		t.Errorf("Convert: input %+v, want %+v", im.Input(), in)
	}
}

// One Config names every layer's quantization (a quant.ModelSpec): its names, and the
// settings Validate refuses before anything is calibrated or converted.
func TestConfigSpec(t *testing.T) {
	mixed := Spec(Static, 8, 8).WithWidths([]quant.Widths{{Weight: 2, Activation: 8}, {Weight: 4, Activation: 4}})
	for _, tc := range []struct {
		cfg  Config
		name string
	}{
		{Spec(Static, 8, 8), "w8a8-static"},
		{Spec(Static, 4, 4).PerTensor(), "w4a4-static-per-tensor"},
		{Spec(Dynamic, 8, 8), "w8-dynamic"},
		{Spec(Dynamic, 4, 8).PerTensor(), "w4-dynamic-per-tensor"},
		{mixed, "w2a8-w4a4-static"},
		{mixed.PerTensor(), "w2a8-w4a4-static-per-tensor"},
	} {
		if err := tc.cfg.Validate(); err != nil || tc.cfg.Name() != tc.name {
			t.Errorf("%s: %q, %v", tc.name, tc.cfg.Name(), err)
		}
		if err := tc.cfg.Runtime().Validate(); err != nil {
			t.Errorf("%s: runtime config: %v", tc.name, err)
		}
	}
	affine := Spec(Static, 8, 8)
	affine.Spec.Layers[0].Weight.Scheme = quant.Affine
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Spec(Dynamic, 8, 4), "ptq: dynamic mode quantizes activations to 8 bits per row at run time, not 4"},
		{Spec(Dynamic, 8, 8).WithWidths(mixed.Spec.Widths()), "ptq: per-layer widths need static mode"},
		{Spec(Static, 8, 9), "ptq: activation spec: bits 9 outside 2..8"},
		{Spec(Static, 8, 8).WithWidths([]quant.Widths{{Weight: 2, Activation: 8}, {Weight: 1, Activation: 8}}), "ptq: layer 1 weight spec: bits 1 outside 2..8"},
		{affine, "ptq: weight spec uint8 affine per-channel(axis 1): want symmetric"},
		{Config{Mode: Static}, "ptq: weight spec: bits 0 outside 2..8"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Validate: %v, want %q", err, tc.want)
		}
	}
	// Per-layer widths for another number of layers are refused by Calibrate and Convert.
	m := smallModel(t, 20, 16, 12, 5)
	if _, err := Calibrate(m, mixed, randImages(4, 20, 1)); err == nil || !strings.Contains(err.Error(), "2 per-layer widths for 3 layers") {
		t.Errorf("Calibrate: %v", err)
	}
}
