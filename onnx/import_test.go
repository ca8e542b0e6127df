package onnx

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/mnist"
)

// fixture is what onnx/testdata/make_fixtures.py recorded of a PyTorch model.
type fixture struct {
	Opset       int         `json:"opset"`
	Pixels      string      `json:"pixels"` // base64 of the first 32 test images
	Logits      [][]float32 `json:"logits"`
	Predictions string      `json:"predictions"`
	Correct     int         `json:"correct"`
	Accuracy    float64     `json:"accuracy"`
	Normalize   []float32   `json:"normalize"` // [mean, std] of (pixel/255 - mean)/std, or none
}

func readFixture(t *testing.T, name string) fixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// logitTolerance is how far tinyq's float32 logits may be from PyTorch's: both compute in
// float32 but sum in different orders. For a layer of n inputs the difference is bounded by
// about n·2^-24·Σ|w·x| (Higham's bound for summation); with n = 784 and Σ|w·x| of the
// fixtures' first layer below 100 that is 4.7e-3 in the worst case, and in practice (random
// rounding errors grow as √n) the logits differ by less than 1e-5. 1e-4 keeps a margin of ten
// over what is seen and still fails on any real difference in the arithmetic (a missing bias,
// a transposed weight: differences above 0.01).
const logitTolerance = 1e-4

// fixtures are the PyTorch models of testdata and their architectures in tinyq
// (arch.Parse's grammar: the units the import made, BatchNorm folded).
var fixtures = []struct{ name, arch string }{
	{"mlp", "dense(32),relu,dense(16),relu,dense(10)"},
	{"mlp_matmul", "dense(32),relu,dense(16),relu,dense(10)"},
	{"cnn", "conv(8,5,pad=2),relu,maxpool(2),conv(16,5,pad=2),relu,maxpool(2),flatten,dense(32),relu,dense(10)"},
	{"cnn_bn", "conv(8,5,pad=2),relu,maxpool(2),conv(16,5,pad=2),relu,maxpool(2),flatten,dense(32),relu,dense(10)"},
}

// TestImportPyTorch: the models PyTorch exported (an MLP with Flatten and Gemm, opset 13;
// the same with Reshape, MatMul and Add, opset 17; a CNN with Conv, Relu, MaxPool, Flatten
// and Gemm, opset 13; the CNN with BatchNormalization, opset 17) import as fp32 models of
// the expected architecture, read 28x28 images over 255, and give PyTorch's recorded logits
// on its recorded images.
func TestImportPyTorch(t *testing.T) {
	for _, fxt := range fixtures {
		name := fxt.name
		t.Run(name, func(t *testing.T) {
			fx := readFixture(t, name)
			m, err := Load(filepath.Join("testdata", name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			if in, classes := m.Shape(); in != 784 || classes != 10 || m.Precision != infer.F32 {
				t.Fatalf("%d -> %d, %v", in, classes, m.Precision)
			}
			if a := m.Arch().String(); !strings.HasSuffix(a, fxt.arch) {
				t.Errorf("architecture %s, want %s", a, fxt.arch)
			}
			if in := m.Input(); in != infer.DefaultInput(784) {
				t.Errorf("input %+v, want %+v", in, infer.DefaultInput(784))
			}
			pixels, err := base64.StdEncoding.DecodeString(fx.Pixels)
			if err != nil {
				t.Fatal(err)
			}
			x, err := infer.Pixels(m, pixels)
			if err != nil {
				t.Fatal(err)
			}
			rows := len(fx.Logits)
			logits := make([]float32, rows*10)
			if err := m.Forward(x, rows, logits); err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for r, want := range fx.Logits {
				for c, w := range want {
					worst = math.Max(worst, math.Abs(float64(logits[r*10+c]-w)))
				}
			}
			t.Logf("%s: largest logit difference from PyTorch %.3g (tolerance %g)", name, worst, logitTolerance)
			if worst > logitTolerance {
				t.Errorf("logits differ from PyTorch's by up to %g, want at most %g", worst, logitTolerance)
			}
		})
	}
}

// TestImportPyTorchAccuracy (the acceptance check): each imported model gives PyTorch's
// class for every one of the 10,000 MNIST test images (the first 2,000 under -short), so
// PyTorch's test accuracy to the last image.
func TestImportPyTorchAccuracy(t *testing.T) {
	dir, err := mnist.Locate("")
	if err != nil {
		t.Skip(err)
	}
	_, test, err := mnist.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, fxt := range fixtures {
		name := fxt.name
		fx := readFixture(t, name)
		m, err := Load(filepath.Join("testdata", name+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		n := test.N
		if testing.Short() {
			n = 2000 // the first 2,000 images
		}
		pred, err := infer.Classes(m, test.Images[:n*784], n)
		if err != nil {
			t.Fatal(err)
		}
		var diff []int
		correct := 0
		for k, c := range pred {
			if byte('0'+c) != fx.Predictions[k] {
				diff = append(diff, k)
			}
			if c == int(test.Labels[k]) {
				correct++
			}
		}
		t.Logf("%s: tinyq %d/%d correct, PyTorch %d/%d (%.2f%%); %d predictions differ", name, correct, n, fx.Correct, test.N, fx.Accuracy, len(diff))
		if len(diff) > 0 || (n == test.N && correct != fx.Correct) {
			t.Errorf("%s: %d of %d predictions differ from PyTorch's (first %v); %d correct, PyTorch %d", name, len(diff), test.N, diff[:min(len(diff), 5)], correct, fx.Correct)
		}
	}
}
