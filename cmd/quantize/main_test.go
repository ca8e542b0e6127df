package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/internal/proctest"
	"tinyq/mnist"
)

// TestDependencies: the command and ptq link none of the training stack (gorgonia, gonum at
// all, the progress bar, and tinyq's nn, autograd, train and qat).
func TestDependencies(t *testing.T) {
	banned := func(p string) bool {
		switch {
		case strings.HasPrefix(p, "gorgonia.org/"), strings.HasPrefix(p, "gonum.org/"), strings.Contains(p, "progressbar"):
			return true
		}
		switch p {
		case "tinyq/train", "tinyq/qat", "tinyq/autograd", "tinyq/nn":
			return true
		}
		return false
	}
	for _, pkg := range []string{".", "tinyq/ptq"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 || !strings.Contains(string(out), "tinyq/infer") {
			t.Fatalf("go list -deps %s: %d packages, none of them tinyq/infer", pkg, len(deps))
		}
		for _, p := range deps {
			if banned(p) {
				t.Errorf("%s links %s", pkg, p)
			}
		}
	}
}

// TestBinarySize: a plain build of the command is at most 12 MiB: 8 MiB before ONNX (issue
// 22), whose protobuf runtime (google.golang.org/protobuf, with its reflection) and
// generated onnx.proto code add about 2.8 MB (5.6 MB before, 8.4 MB after on linux/amd64).
func TestBinarySize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	st, err := os.Stat(proctest.Build(t, ".", "quantize"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("quantize binary: %d bytes", st.Size())
	if st.Size() > 12<<20 {
		t.Errorf("quantize binary is %d bytes, want at most %d (12 MiB)", st.Size(), 12<<20)
	}
}

// TestReproducesMNISTRun (issue 19, part 2, the acceptance check): quantizing the fp32 file
// that `mnist -save` wrote gives that run's PTQ files byte for byte and their accuracies, at
// W8A8 static, W4A4 static (the calibration method chosen on the same held-out images) and
// W8 dynamic, per channel and per tensor. Real processes, on a quick run.
func TestReproducesMNISTRun(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model and runs two commands")
	}
	if _, err := mnist.Locate(""); err != nil {
		t.Skip(err)
	}
	mnistBin, quantize := proctest.Build(t, "tinyq/cmd/mnist", "mnist"), proctest.Build(t, ".", "quantize")
	dir := t.TempDir()
	models, js := filepath.Join(dir, "models"), filepath.Join(dir, "r.json")
	if code, _, stderr := proctest.Run(t, mnistBin, "-epochs", "1", "-train-limit", "2000", "-quiet", "-save", models, "-json", js); code != 0 {
		t.Fatalf("mnist: exit %d: %s", code, stderr)
	}
	acc := proctest.Accuracies(t, js)
	fp32 := filepath.Join(models, "fp32.safetensors")
	for _, c := range []struct {
		name string
		args []string
	}{
		{"ptq-w8a8-static", []string{"-bits", "8"}},
		{"ptq-w8a8-static-per-tensor", []string{"-bits", "8", "-granularity", "per-tensor"}},
		{"ptq-w4a4-static", []string{"-bits", "4"}},
		{"ptq-w4a8-static", []string{"-bits", "4/8"}},
		{"ptq-w8-dynamic", []string{"-bits", "8", "-mode", "dynamic"}},
	} {
		out := filepath.Join(dir, c.name+".safetensors")
		args := append([]string{"-model", fp32, "-train-limit", "2000", "-o", out}, c.args...)
		code, stdout, stderr := proctest.Run(t, quantize, args...)
		if code != 0 || stderr != "" {
			t.Fatalf("%s: exit %d, stderr %q", c.name, code, stderr)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(models, c.name+".safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: quantize wrote %d bytes that differ from mnist's %d", c.name, len(got), len(want))
		}
		m := regexp.MustCompile(`: (\d+\.\d\d)% on the 10000 MNIST test images`).FindStringSubmatch(stdout)
		if m == nil {
			t.Fatalf("%s: no test accuracy in %q", c.name, stdout)
		}
		if a, _ := strconv.ParseFloat(m[1], 64); a != acc[c.name] {
			t.Errorf("%s: accuracy %v, mnist's %v", c.name, a, acc[c.name])
		}
	}
}

// floatFile saves a float model 784 -> 16 -> 10 (random weights) with the given training
// record and returns its path.
func floatFile(t *testing.T, dir, training string) string {
	t.Helper()
	rng := rand.New(rand.NewSource(5))
	layer := func(name string, in, out int, relu bool) infer.FloatLayer {
		l := infer.FloatLayer{Name: name, In: in, Out: out, ReLU: relu, W: make([]float32, in*out), B: make([]float32, out)}
		for i := range l.W {
			l.W[i] = float32(rng.NormFloat64() * 0.1)
		}
		return l
	}
	m, err := infer.NewFloatModel(infer.F32, []infer.FloatLayer{layer("fc1", 784, 16, true), layer("fc2", 16, 10, false)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "fp32.safetensors")
	if err := infer.SaveFloat(p, m, training); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCalibrationDir: -calibration-dir calibrates on the images of a directory (prepared as
// cmd/classify prepares them; dot files skipped; the first -calibration of them), and the
// written file carries the float file's training record and input record.
func TestCalibrationDir(t *testing.T) {
	dir := t.TempDir()
	model := floatFile(t, dir, `{"seed":7}`)
	imgs := filepath.Join(dir, "images")
	if err := os.Mkdir(imgs, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(6))
	for i := 0; i < 5; i++ {
		g := image.NewGray(image.Rect(0, 0, 28, 28))
		for y := 4 + i; y < 22; y++ {
			for x := 10; x < 14+i; x++ {
				g.Pix[y*28+x] = uint8(200 + rng.Intn(56))
			}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, g); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(imgs, fmt.Sprintf("d%d.png", i)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(imgs, ".DS_Store"), []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "int8.safetensors")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-model", model, "-calibration-dir", imgs, "-calibration", "4", "-data", filepath.Join(dir, "nowhere"), "-o", out}, &stdout, &stderr)
	// -data names a directory without MNIST: an error, and nothing is written (the data is
	// looked for before anything is converted).
	if code != 1 || !strings.Contains(stderr.String(), "nowhere") {
		t.Fatalf("-data without MNIST: exit %d, stderr %q", code, stderr.String())
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a model was written although -data named no MNIST directory")
	}
	stdout.Reset()
	stderr.Reset()
	t.Setenv("TINYQ_MNIST_DIR", filepath.Join(dir, "nowhere")) // no MNIST: accuracy not measured
	code = run([]string{"-model", model, "-calibration-dir", imgs, "-calibration", "4", "-o", out}, &stdout, &stderr)
	if code != 0 || stderr.Len() != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if s := stdout.String(); !strings.Contains(s, "calibrated on 4 images of "+imgs) || !strings.Contains(s, "test accuracy not measured") {
		t.Errorf("stdout %q", s)
	}
	f, err := infer.LoadInt(out)
	if err != nil {
		t.Fatal(err)
	}
	if f.Config.Mode != infer.Static || f.Config.Spec.Layer(0).Weight.Bits != 8 || f.Input() != infer.DefaultInput(784) {
		t.Errorf("written model: %+v, input %+v", f.Config, f.Input())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`{\"seed\":7}`)) {
		t.Error("the integer file does not carry the float file's training record")
	}
}

// TestBadFlags: each bad flag or value is one line naming it, exit 2, nothing written; a
// file that cannot be quantized is one line naming it, exit 1.
func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	model := floatFile(t, dir, "")
	out := filepath.Join(dir, "out.safetensors")
	link := filepath.Join(dir, "link.safetensors")
	if err := os.Symlink(model, link); err != nil {
		t.Fatal(err)
	}
	notONNX := filepath.Join(dir, "model.onnx")
	if err := os.Symlink(model, notONNX); err != nil {
		t.Fatal(err)
	}
	intFile := filepath.Join(dir, "int.safetensors")
	if code := run([]string{"-model", model, "-mode", "dynamic", "-o", intFile}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatalf("dynamic conversion: exit %d", code)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-o", out}, 2, "-model FILE is required"},
		{[]string{"-model", model}, 2, "-o FILE is required"},
		{[]string{"-model", model, "-o", out, "-bits", "9"}, 2, `-bits "9"`},
		{[]string{"-model", model, "-o", out, "-bits", "1/8"}, 2, `-bits "1/8"`},
		{[]string{"-model", model, "-o", out, "-bits", "4/x"}, 2, `-bits "4/x"`},
		{[]string{"-model", model, "-o", out, "-bits", "4/4", "-mode", "dynamic"}, 2, "give -bits 4 or 4/8"},
		{[]string{"-model", model, "-o", out, "-mode", "fast"}, 2, `-mode "fast"`},
		{[]string{"-model", model, "-o", out, "-granularity", "per-row"}, 2, `-granularity "per-row"`},
		{[]string{"-model", model, "-o", out, "-calibration", "0"}, 2, "-calibration 0"},
		{[]string{"-model", model, "-o", out, "-validation", "-1"}, 2, "-validation -1"},
		{[]string{"-model", model, "-o", out, "-train-limit", "-5"}, 2, "-train-limit -5"},
		{[]string{"-model", model, "-o", out, "-bogus"}, 2, "bogus"},
		{[]string{"-model", model, "-o", out, "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"-model", model, "-o", model}, 2, "the same file as -model"},
		{[]string{"-model", model, "-o", link}, 2, "the same file as -model"},
		{[]string{"-model", model, "-o", filepath.Join(dir, ".", "fp32.safetensors")}, 2, "the same file as -model"},
		{[]string{"-model", filepath.Join(dir, "missing.safetensors"), "-o", out}, 1, "missing.safetensors"},
		{[]string{"-model", intFile, "-o", out}, 1, "already an integer model"},
		{[]string{"-model", model, "-o", filepath.Join(dir, "no", "such", "dir", "x.safetensors")}, 1, "-o "},
		{[]string{"-model", model, "-o", out, "-calibration-dir", filepath.Join(dir, "none")}, 1, "-calibration-dir"},
		// ONNX (issue 22).
		{[]string{"-model", model, "-o", out, "-input", "28x28"}, 2, "-input, -pixel-divisor, -input-mean and -input-std are for an ONNX -model"},
		{[]string{"-model", model, "-o", out, "-input-mean", "0.1"}, 2, "are for an ONNX -model"},
		{[]string{"-model", pytorchMLP, "-o", out, "-input-std", "0"}, 2, "-input-std"},
		{[]string{"-model", pytorchMLP, "-o", out, "-input-mean", "x"}, 2, "-input-mean"},
		{[]string{"-model", fixture("cnn"), "-o", out, "-input-mean", "0.1307", "-input-std", "0.3081"}, 1, "padding 2"},
		{[]string{"-model", pytorchMLP, "-o", out, "-input", "28by28"}, 2, `-input "28by28"`},
		{[]string{"-model", pytorchMLP, "-o", out, "-pixel-divisor", "0"}, 2, "-pixel-divisor"},
		{[]string{"-model", pytorchMLP, "-o", out, "-mode", "dynamic"}, 2, "-mode needs -bits"},
		{[]string{"-model", pytorchMLP, "-o", out, "-input", "20x20"}, 1, "-input 20x20"},
		{[]string{"-model", notONNX, "-o", out}, 1, "not an ONNX model"},
		{[]string{"-model", model, "-o", filepath.Join(dir, "x.onnx"), "-calibration", "5"}, 2, "-calibration needs -bits"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(c.args, &stdout, &stderr)
		msg := stderr.String()
		if code != c.code || !strings.HasPrefix(msg, "quantize: ") || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and one line with %q", c.args, code, msg, c.code, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%q wrote %s", c.args, out)
		}
	}
	// -h prints the usage and exits 0.
	var stderr bytes.Buffer
	if code := run([]string{"-h"}, &bytes.Buffer{}, &stderr); code != 0 || !strings.Contains(stderr.String(), "-calibration-dir") {
		t.Errorf("-h: exit %d, %q", code, stderr.String())
	}
}

// pytorchMLP is a PyTorch fixture of package onnx: an MLP 784 -> 32 -> 16 -> 10 trained by
// PyTorch and exported by torch.onnx.export (onnx/testdata/make_fixtures.py).
var pytorchMLP = fixture("mlp")

// fixture returns the path of package onnx's PyTorch fixture name (.onnx).
func fixture(name string) string { return filepath.Join("..", "..", "onnx", "testdata", name+".onnx") }

// pytorchAccuracy returns the test accuracy PyTorch recorded for fixture name, in percent
// rounded as the command prints it.
func pytorchAccuracy(t *testing.T, name string) float64 {
	t.Helper()
	b, err := os.ReadFile(strings.TrimSuffix(fixture(name), ".onnx") + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Correct int }
	if err := json.Unmarshal(b, &rec); err != nil || rec.Correct == 0 {
		t.Fatalf("%s.json: %v", name, err)
	}
	return float64(rec.Correct) / 100 // of 10,000 images
}

// TestONNX (issue 22, the acceptance check): the PyTorch models imported from ONNX (an MLP;
// under -short not the MLP trained on normalized inputs, imported with -input-mean and
// -input-std, nor the CNNs with and without BatchNorm) give PyTorch's test accuracy in
// tinyq's float runtime, and quantize to W8A8 and W4A8 integer models within 0.1 and 0.5
// points of it; without -bits the command converts (ONNX to an fp32 safetensors file, a
// tinyq integer file to ONNX), and -o .onnx writes ONNX.
func TestONNX(t *testing.T) {
	if _, err := mnist.Locate(""); err != nil {
		t.Skip(err)
	}
	accuracy := func(args ...string) (float64, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
			t.Fatalf("%q: exit %d, stderr %q", args, code, stderr.String())
		}
		m := regexp.MustCompile(`: (\d+\.\d\d)% on the 10000 MNIST test images`).FindStringSubmatch(stdout.String())
		if m == nil {
			t.Fatalf("%q: no test accuracy in %q", args, stdout.String())
		}
		a, _ := strconv.ParseFloat(m[1], 64)
		return a, stdout.String()
	}
	for _, name := range []string{"mlp", "mlp_norm", "cnn", "cnn_bn"} {
		if testing.Short() && name != "mlp" {
			continue
		}
		pytorch := pytorchAccuracy(t, name)
		dir := t.TempDir()
		model := []string{"-model", fixture(name)}
		if name == "mlp_norm" { // trained on (pixel/255 - 0.1307)/0.3081
			model = append(model, "-input-mean", "0.1307", "-input-std", "0.3081")
		}
		fp32 := filepath.Join(dir, "fp32.safetensors")
		if a, out := accuracy(append(model, "-o", fp32)...); a != pytorch || !strings.Contains(out, "fp32 as a tinyq safetensors file") {
			t.Errorf("%s: fp32 import: %v%%, want PyTorch's %v%%; %q", name, a, pytorch, out)
		}
		if m, err := infer.Load(fp32); err != nil || m.Name() != "fp32" {
			t.Fatalf("%s: converted file: %v, %v", name, m, err)
		}
		w8 := filepath.Join(dir, "w8a8.safetensors")
		acc := map[string]float64{}
		for _, c := range []struct {
			bits, out string
			within    float64
		}{
			{"8", w8, 0.1},
			{"4/8", filepath.Join(dir, "w4a8.safetensors"), 0.5},
			{"8", filepath.Join(dir, "w8a8.onnx"), 0.1},
		} {
			a, out := accuracy(append(model, "-bits", c.bits, "-o", c.out)...)
			acc[c.out] = a
			t.Logf("%s -bits %s -o %s: %.2f%% (PyTorch fp32 %.2f%%)", name, c.bits, filepath.Base(c.out), a, pytorch)
			if math.Abs(a-pytorch) > c.within {
				t.Errorf("%s -bits %s: %.2f%%, want within %v of PyTorch's %v%%: %s", name, c.bits, a, c.within, pytorch, out)
			}
		}
		// A tinyq integer file converted to ONNX keeps its precision and accuracy.
		onnxFile := filepath.Join(dir, "w8.onnx")
		if a, out := accuracy("-model", w8, "-o", onnxFile); a != acc[w8] || !strings.Contains(out, "int w8a8-static as ONNX opset 13") {
			t.Errorf("%s: w8a8 to ONNX: %v%%, the safetensors file %v%%: %q", name, a, acc[w8], out)
		}
		// An integer ONNX model is not imported: one line naming the node.
		var stdout, stderr bytes.Buffer
		if code := run([]string{"-model", onnxFile, "-o", filepath.Join(dir, "back.safetensors")}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "(QuantizeLinear)") || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%s: integer ONNX as -model: exit %d, stderr %q", name, code, stderr.String())
		}
	}
}
