package onnx

import (
	"encoding/base64"
	"math"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"tinyq/arch"
	"tinyq/infer"
	"tinyq/mnist"
)

// TestNormalize: a model with the normalization (x - mean)/std folded in, reading x, gives
// the logits of the original reading the normalized input, for a dense first layer (the
// PyTorch MLP) and an unpadded convolution; a padded convolution is refused. Tolerance:
// the fold rounds W/std and the bias once, and the sum Σ w·x runs in another order, so the
// logits differ by a few float32 steps of their magnitude: 1e-4 relative to the largest
// |logit| plus 1e-5.
func TestNormalize(t *testing.T) {
	const mean, std = 0.1307, 0.3081 // torchvision's MNIST example
	rng := rand.New(rand.NewSource(4))
	param := func(n int) []float32 {
		v := make([]float32, n)
		for k := range v {
			v[k] = float32(rng.NormFloat64() * 0.3)
		}
		return v
	}
	conv := arch.Window{H: 28, W: 28, C: 1, Kernel: 3, Stride: 1}
	convNet, err := infer.NewFloatModel(infer.F32, []infer.FloatLayer{
		{Name: "fc1", In: 9, Out: 4, ReLU: true, W: param(36), B: param(4), Conv: conv,
			Pool: arch.Window{H: 26, W: 26, C: 4, Kernel: 2, Stride: 2}},
		{Name: "fc2", In: 13 * 13 * 4, Out: 10, W: param(13 * 13 * 4 * 10), B: param(10)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mlp, err := Load(filepath.Join("testdata", "mlp.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*infer.FloatModel{mlp, convNet} {
		n, err := Normalize(m, mean, std)
		if err != nil {
			t.Fatal(err)
		}
		const rows = 20
		x := testInputs(t, m, rows)
		xn := make([]float32, len(x))
		for k, v := range x {
			xn[k] = (v - mean) / std
		}
		want, got := make([]float32, rows*10), make([]float32, rows*10)
		if err := m.Forward(xn, rows, want); err != nil {
			t.Fatal(err)
		}
		if err := n.Forward(x, rows, got); err != nil {
			t.Fatal(err)
		}
		big, worst := 0.0, 0.0
		for k := range want {
			big = math.Max(big, math.Abs(float64(want[k])))
			worst = math.Max(worst, math.Abs(float64(got[k]-want[k])))
		}
		t.Logf("%s: logits within %.3g of the normalized input's (largest |logit| %.3g)", m.Arch(), worst, big)
		if worst > 1e-4*big+1e-5 {
			t.Errorf("%s: logits differ by %g (largest |logit| %g)", m.Arch(), worst, big)
		}
		if &n.Layers[0].W[0] == &m.Layers[0].W[0] || m.Layers[0].W[0] == n.Layers[0].W[0] {
			t.Error("the input model's weights were modified or shared")
		}
	}
	cnn, err := Load(filepath.Join("testdata", "cnn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Normalize(cnn, mean, std); err == nil || !strings.Contains(err.Error(), "padding 2") {
		t.Errorf("padded convolution: %v", err)
	}
	if _, err := Normalize(mlp, mean, 0); err == nil || !strings.Contains(err.Error(), "std > 0") {
		t.Errorf("std 0: %v", err)
	}
}

// TestNormalizePyTorch: an MLP PyTorch trained on normalized inputs ((pixel/255 -
// 0.1307)/0.3081, torchvision's MNIST Normalize, outside the model) imported with the
// normalization folded in gives PyTorch's recorded logits within logitTolerance and its
// class on every MNIST test image (the first 2,000 under -short).
func TestNormalizePyTorch(t *testing.T) {
	fx := readFixture(t, "mlp_norm")
	if len(fx.Normalize) != 2 {
		t.Fatalf("mlp_norm.json: normalize %v", fx.Normalize)
	}
	m, err := Load(filepath.Join("testdata", "mlp_norm.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := Normalize(m, fx.Normalize[0], fx.Normalize[1])
	if err != nil {
		t.Fatal(err)
	}
	pixels, err := base64.StdEncoding.DecodeString(fx.Pixels)
	if err != nil {
		t.Fatal(err)
	}
	x, err := infer.Pixels(n, pixels)
	if err != nil {
		t.Fatal(err)
	}
	rows := len(fx.Logits)
	logits := make([]float32, rows*10)
	if err := n.Forward(x, rows, logits); err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for r, want := range fx.Logits {
		for c, w := range want {
			worst = math.Max(worst, math.Abs(float64(logits[r*10+c]-w)))
		}
	}
	t.Logf("largest logit difference from PyTorch %.3g (tolerance %g)", worst, logitTolerance)
	if worst > logitTolerance {
		t.Errorf("logits differ from PyTorch's by up to %g, want at most %g", worst, logitTolerance)
	}
	dir, err := mnist.Locate("")
	if err != nil {
		t.Skip(err)
	}
	_, test, err := mnist.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	rows = test.N
	if testing.Short() {
		rows = 2000
	}
	pred, err := infer.Classes(n, test.Images[:rows*784], rows)
	if err != nil {
		t.Fatal(err)
	}
	diff, correct := 0, 0
	for k, c := range pred {
		if byte('0'+c) != fx.Predictions[k] {
			diff++
		}
		if c == int(test.Labels[k]) {
			correct++
		}
	}
	t.Logf("tinyq %d/%d correct, PyTorch %d/%d; %d predictions differ", correct, rows, fx.Correct, test.N, diff)
	if diff > 0 || (rows == test.N && correct != fx.Correct) {
		t.Errorf("%d of %d predictions differ from PyTorch's; %d correct, PyTorch %d", diff, rows, correct, fx.Correct)
	}
}
