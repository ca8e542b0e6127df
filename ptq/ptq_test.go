package ptq

import (
	"math"
	"math/rand"
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/nn"
	"tinyq/quant"
)

func smallModel(t *testing.T, sizes ...int) *nn.MLP {
	t.Helper()
	m, err := nn.NewMLP(sizes, rand.New(rand.NewSource(3)))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		for j := range l.Bias() {
			l.Bias()[j] = 0.05 * float32(j%5-2)
		}
	}
	return m
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
		w, err := l.Unpacked(m.Config.WeightBits)
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
	for _, bits := range [][2]int{{8, 8}, {4, 8}, {4, 4}, {2, 4}} {
		m := smallModel(t, 20, 16, 12, 5)
		imgs := randImages(37, 20, 1)
		cfg := Spec(Static, bits[0], bits[1])
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
					t.Fatalf("w%da%d row %d logit %d: %v, reference %v", bits[0], bits[1], r, o, got[r*5+o], w)
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
	ranges, err := Calibrate(m, imgs, cfg.Activation, cfg.Observer)
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
		ev, err := m.NewEvaluator(64)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ev.Forward(imgs, 64)
		if err != nil {
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
	before := m.Clone()
	imgs := randImages(10, 20, 3)
	cfg := Spec(Static, 4, 4)
	ranges, err := Calibrate(m, imgs, cfg.Activation, cfg.Observer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Convert(m, cfg, Plan{Inputs: ranges}); err != nil {
		t.Fatal(err)
	}
	for i, l := range m.Layers {
		for j, v := range l.Weights() {
			if v != before.Layers[i].Weights()[j] {
				t.Fatalf("layer %d weight %d changed", i, j)
			}
		}
	}
}

func TestAllZeroLayer(t *testing.T) {
	m := smallModel(t, 20, 16, 5)
	clear(m.Layers[0].Weights())
	clear(m.Layers[0].Bias())
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
	if _, err := Calibrate(m, nil, quant.Spec{Bits: 8, Scheme: quant.Affine, Granularity: quant.PerTensor}, quant.ObserverConfig{}); err == nil || !strings.Contains(err.Error(), "empty calibration") {
		t.Errorf("empty calibration set: %v", err)
	}
	for _, bits := range []int{1, 9} {
		if _, err := Convert(m, Spec(Dynamic, bits, 8), Plan{}); err == nil || !strings.Contains(err.Error(), "bits") {
			t.Errorf("%d-bit weights: %v", bits, err)
		}
	}
	if _, err := Convert(m, Spec(Static, 8, 8), Plan{}); err == nil {
		t.Error("static conversion without ranges accepted")
	}
	bad := m.Clone()
	bad.Layers[1].Weights()[2] = float32(math.NaN())
	if _, err := Convert(bad, Spec(Dynamic, 8, 8), Plan{}); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("NaN weight: %v", err)
	}
	inf := m.Clone()
	inf.Layers[0].Bias()[0] = float32(math.Inf(1))
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
			t.Errorf("w%da%d: %d bytes, want %d", c.w, c.a, got, c.want)
		}
	}
}

func TestFloat16(t *testing.T) {
	m := smallModel(t, 4, 3)
	m.Layers[0].Weights()[0] = 0.1 // nearest half: 0.0999755859375
	h := Float16(m)
	if got := h.Layers[0].Weights()[0]; got != 0.0999755859375 {
		t.Fatalf("fp16(0.1) = %v", got)
	}
	if m.Layers[0].Weights()[0] != 0.1 {
		t.Fatal("Float16 modified its input")
	}
}

// TestLogitMSE: more bits, less error; the error is positive and finite; bad input errs.
func TestLogitMSE(t *testing.T) {
	m := smallModel(t, 20, 16, 12, 5)
	imgs := randImages(64, 20, 7)
	ref, err := Float(m, infer.F32)
	if err != nil {
		t.Fatal(err)
	}
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
	m, err := nn.NewMLPFrom([]int{2, 1}, []string{"identity"})
	if err != nil {
		t.Fatal(err)
	}
	copy(m.Layers[0].Weights(), []float32{1, 1})
	x := []float32{1, 1}
	cfg := Spec(Static, 8, 8)
	ranges, err := Calibrate(m, x, cfg.Activation, cfg.Observer)
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
	m.Layers[0].Bias()[0] = 1e9 // 1e9/(s_in·s_w) is far beyond int32
	if _, err := Convert(m, cfg, Plan{Inputs: ranges}); err == nil || !strings.Contains(err.Error(), "int32") {
		t.Fatalf("huge bias: %v", err)
	}
}

// TestReLUOnLastLayer: a final ReLU clamps the logits in both modes, as in float.
func TestReLUOnLastLayer(t *testing.T) {
	m, err := nn.NewMLPFrom([]int{2, 2}, []string{"relu"})
	if err != nil {
		t.Fatal(err)
	}
	copy(m.Layers[0].Weights(), []float32{1, -1, 1, -1}) // output 1 is negative for positive x
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
func calibrated(t *testing.T, m *nn.MLP, x []float32, cfg Config) *infer.IntModel {
	t.Helper()
	ranges, err := Calibrate(m, x, cfg.Activation, cfg.Observer)
	if err != nil {
		t.Fatal(err)
	}
	im, err := Convert(m, cfg, Plan{Inputs: ranges})
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// TestConversionsKeepInputRecord (issue 18, item 11): the float, FP16 and integer models
// converted from an MLP read their input as its record says.
func TestConversionsKeepInputRecord(t *testing.T) {
	m := smallModel(t, 12, 8, 4)
	in := infer.Input{Width: 3, Height: 4, PixelDivisor: 127.5}
	m.Input = in
	for _, p := range []infer.Precision{infer.F32, infer.F16} {
		fm, err := Float(m, p)
		if err != nil {
			t.Fatal(err)
		}
		if fm.Input() != in {
			t.Errorf("Float %v: input %+v, want %+v", p, fm.Input(), in)
		}
	}
	im, err := Convert(m, Spec(Dynamic, 8, 8), Plan{})
	if err != nil {
		t.Fatal(err)
	}
	if im.Input() != in {
		t.Errorf("Convert: input %+v, want %+v", im.Input(), in)
	}
}
