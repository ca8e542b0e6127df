package onnx

import (
	"encoding/binary"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/mnist"
	"tinyq/ptq"
)

// onnxRuntime returns node and the directory whose node_modules holds onnxruntime-node
// ($TINYQ_ONNXRUNTIME, where `npm install --prefix DIR --ignore-scripts onnxruntime-node`
// put it). Without them it skips t, saying that ONNX Runtime was not run; under CI=true it
// fails instead (the convention of tinyq/internal/pyreader).
func onnxRuntime(t *testing.T) (node, dir string) {
	t.Helper()
	if runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skipf("SKIPPED: %s cannot start processes", runtime.GOOS)
	}
	missing := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s and CI=true: tinyq's ONNX exports cannot be checked in ONNX Runtime; install node and `npm install --prefix DIR --ignore-scripts onnxruntime-node`, then set TINYQ_ONNXRUNTIME=DIR", why)
		}
		t.Skipf("SKIPPED: %s, so tinyq's ONNX exports are NOT run in ONNX Runtime (npm install --prefix DIR --ignore-scripts onnxruntime-node; TINYQ_ONNXRUNTIME=DIR; under CI=true this fails)", why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	dir = os.Getenv("TINYQ_ONNXRUNTIME")
	if dir == "" {
		missing("TINYQ_ONNXRUNTIME is not set")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "onnxruntime-node")); err != nil {
		missing("TINYQ_ONNXRUNTIME=" + dir + " holds no node_modules/onnxruntime-node")
	}
	return node, dir
}

// ortPredict runs model in ONNX Runtime on rows inputs x in batches of batch and returns its
// classes and logits.
func ortPredict(t *testing.T, node, dir, model string, x []float32, rows, batch int) ([]int, []float32) {
	t.Helper()
	raw := make([]byte, 4*len(x))
	for k, v := range x {
		binary.LittleEndian.PutUint32(raw[4*k:], math.Float32bits(v))
	}
	in, logits := filepath.Join(t.TempDir(), "inputs.f32"), filepath.Join(t.TempDir(), "logits.f32")
	if err := os.WriteFile(in, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join("testdata", "ort_predict.js"), model, in, strconv.Itoa(rows), strconv.Itoa(batch), logits)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ONNX Runtime on %s: %v: %s", model, err, stderr.String())
	}
	s := strings.TrimSpace(string(out))
	if len(s) != rows {
		t.Fatalf("ONNX Runtime on %s: %d predictions for %d inputs", model, len(s), rows)
	}
	p := make([]int, rows)
	for k := range p {
		p[k] = int(s[k] - '0')
	}
	b, err := os.ReadFile(logits)
	if err != nil {
		t.Fatal(err)
	}
	l := make([]float32, len(b)/4)
	for k := range l {
		l[k] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*k:]))
	}
	return p, l
}

// TestOnnxRuntimeAgreement (the acceptance check): tinyq's exports of the PyTorch MLP and
// CNNs, as fp32 and as integer models made by ptq, run in ONNX Runtime and predict what
// tinyq's runtime predicts on the MNIST test set: fp32 on every image, W8A8 static on at
// least 99.9% (per channel and per tensor). W4A4, W2A2 and W8 dynamic are measured and
// logged (their agreement is stated in the README, not required).
func TestOnnxRuntimeAgreement(t *testing.T) {
	node, dir := onnxRuntime(t)
	mdir, err := mnist.Locate("")
	if err != nil {
		t.Skip(err)
	}
	train, test, err := mnist.Load(mdir)
	if err != nil {
		t.Fatal(err)
	}
	n := test.N
	if testing.Short() {
		n = 1000
	}
	x := test.Images[:n*784]
	// MinMax calibration at every width (no held-out choice, which costs a minute on the
	// CNNs): the agreement, not the accuracy, is measured here (cmd/quantize's TestONNX
	// checks the accuracy of its chosen calibration).
	calib := train.Images[:ptq.DefaultCalibrationSize*784]
	for _, fx := range []string{"mlp", "cnn", "cnn_bn"} {
		if testing.Short() && fx == "cnn_bn" {
			continue
		}
		fm, err := Load(filepath.Join("testdata", fx+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name  string
			cfg   *ptq.Config
			batch int
			want  float64 // least agreement in percent (0: measured only)
		}{
			{"fp32", nil, 1000, 100},
			{"w8a8", ptr(ptq.Spec(ptq.Static, 8, 8)), 1000, 99.9},
			{"w8a8-per-tensor", ptr(ptq.Spec(ptq.Static, 8, 8).PerTensor()), 1000, 99.9},
			{"w4a4", ptr(ptq.Spec(ptq.Static, 4, 4)), 1000, 0},
			{"w2a2", ptr(ptq.Spec(ptq.Static, 2, 2)), 1000, 0},
			{"w8-dynamic", ptr(ptq.Spec(ptq.Dynamic, 8, 8)), 1, 0},
		} {
			if c.cfg != nil && c.cfg.Mode == ptq.Dynamic && fx != "mlp" {
				continue // dynamic models are dense
			}
			if testing.Short() && c.want == 0 {
				continue // -short: 1,000 images, the required agreements only
			}
			var m infer.Model = fm
			if c.cfg != nil {
				ch, err := ptq.Choose(fm, *c.cfg, calib, nil)
				if err != nil {
					t.Fatal(err)
				}
				m = ch.Model
			}
			path := filepath.Join(t.TempDir(), c.name+".onnx")
			if err := Save(path, m); err != nil {
				t.Fatal(err)
			}
			logits, err := ptq.Logits(m, x)
			if err != nil {
				t.Fatal(err)
			}
			got, ortLogits := ortPredict(t, node, dir, path, x, n, c.batch)
			worst := 0.0
			for k, v := range ortLogits {
				worst = math.Max(worst, math.Abs(float64(v-logits[k])))
			}
			same, right, ortRight := 0, 0, 0
			for k := range got {
				want := infer.Argmax(logits[k*10 : (k+1)*10])
				if got[k] == want {
					same++
				}
				if want == int(test.Labels[k]) {
					right++
				}
				if got[k] == int(test.Labels[k]) {
					ortRight++
				}
			}
			agree := 100 * float64(same) / float64(n)
			t.Logf("%-6s %-16s %s: ONNX Runtime agrees with tinyq on %d/%d (%.2f%%), logits within %.3g; accuracy tinyq %.2f%%, ONNX Runtime %.2f%%",
				fx, c.name, m.Name(), same, n, agree, worst, 100*float64(right)/float64(n), 100*float64(ortRight)/float64(n))
			if agree < c.want {
				t.Errorf("%s %s: ONNX Runtime agrees with tinyq on %.2f%% of %d images, want at least %.1f%%", fx, c.name, agree, n, c.want)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestOnnxRuntimeFiles: the runtime's committed model files of every kind (a QAT
// simulation, mixed widths, W4A8, W8 dynamic, fp16, and the golden convolutional W8A8 and
// W4A4 models) exported to ONNX give tinyq's predictions in ONNX Runtime on 2,000 pixel
// inputs (random bytes, 80% of them zero as in MNIST), batch 1000 (batch 1 for the dynamic
// model, whose ONNX graph quantizes the whole batch with one range).
func TestOnnxRuntimeFiles(t *testing.T) {
	node, dir := onnxRuntime(t)
	const rows = 2000
	for _, f := range []string{"qat-w4a8", "int-mixed", "int-w4a8", "int-w8-dynamic", "fp16", "golden-conv/conv-w8a8-static", "golden-conv/conv-w4a4-static"} {
		m, err := infer.Load(filepath.Join("..", "infer", "testdata", f+".safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		in, classes := m.Shape()
		rng := rand.New(rand.NewSource(3))
		px := make([]uint8, rows*in)
		for k := range px {
			if rng.Intn(5) == 0 {
				px[k] = uint8(1 + rng.Intn(255))
			}
		}
		x, err := infer.Pixels(m, px)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "m.onnx")
		if err := Save(path, m); err != nil {
			t.Fatal(err)
		}
		batch := 1000
		if im, ok := m.(*infer.IntModel); ok && im.Config.Mode == infer.Dynamic {
			batch = 1
		}
		logits, err := ptq.Logits(m, x)
		if err != nil {
			t.Fatal(err)
		}
		got, ortLogits := ortPredict(t, node, dir, path, x, rows, batch)
		same, worst := 0, 0.0
		for k := range got {
			if got[k] == infer.Argmax(logits[k*classes:(k+1)*classes]) {
				same++
			}
		}
		for k, v := range ortLogits {
			worst = math.Max(worst, math.Abs(float64(v-logits[k])))
		}
		t.Logf("%-30s %-28s agrees on %d/%d, logits within %.3g", f, m.Name(), same, rows, worst)
		if same < rows {
			t.Errorf("%s: ONNX Runtime agrees with tinyq on %d of %d inputs, want all", f, same, rows)
		}
	}
}
