package infer_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"tinyq/gemm"
	"tinyq/infer"
	"tinyq/mnist"
	"tinyq/nn"
	"tinyq/ptq"
	"tinyq/qat"
)

// The script written from docs/FORMAT.md alone; the test checks that it reproduces the runtime.
const readerScript = "../scripts/tinyq_reader.py"

// formatImages is how many MNIST test images the reader classifies per model.
const formatImages = 150

// fmaX*fmaY+fmaZ is 0 when the product is rounded to float32 before the addition and 2^-24
// when the compiler fuses them into one FMA, as Go may (arm64; amd64 with GOAMD64=v3).
var fmaX, fmaY, fmaZ float32 = 1 + 1.0/4096, 1 + 1.0/4096, -(1 + 1.0/2048)

//go:noinline
func mulAdd(x, y, z float32) float32 { return x*y + z }

// fusesFMA reports whether this build fuses float32 multiply-adds, in which case the float
// runtime does not round every operation as docs/FORMAT.md does (section 8).
func fusesFMA() bool { return mulAdd(fmaX, fmaY, fmaZ) != 0 }

// readerResult is one line of the script's --hex output.
type readerResult struct {
	class  int
	logits []uint32
}

// runReader runs the reader on a model and an input file and parses its --hex output.
func runReader(t *testing.T, model, images string, extra ...string) []readerResult {
	t.Helper()
	args := append([]string{readerScript, model, images, "--hex"}, extra...)
	cmd := exec.Command("python3", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var res []readerResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			t.Fatalf("reader output line %q", sc.Text())
		}
		c, err := strconv.Atoi(f[0])
		if err != nil {
			t.Fatalf("reader output line %q: %v", sc.Text(), err)
		}
		r := readerResult{class: c}
		for _, h := range f[1:] {
			b, err := strconv.ParseUint(h, 16, 32)
			if err != nil {
				t.Fatalf("reader output line %q: %v", sc.Text(), err)
			}
			r.logits = append(r.logits, uint32(b))
		}
		res = append(res, r)
	}
	return res
}

// compareReader compares the reader's results with the runtime's on rows of x. With exact,
// the logits must agree bit for bit; otherwise differing logits are only counted and
// logged, and the classes must still agree.
func compareReader(t *testing.T, name string, m infer.Model, x []float32, rows int, got []readerResult, exact bool) {
	t.Helper()
	_, classes := m.Shape()
	if len(got) != rows {
		t.Fatalf("%s: the reader printed %d results for %d rows", name, len(got), rows)
	}
	want, err := infer.Classes(m, x, rows)
	if err != nil {
		t.Fatal(err)
	}
	logits := make([]float32, rows*classes)
	if err := m.Forward(x, rows, logits); err != nil {
		t.Fatal(err)
	}
	classDiff, logitDiff := 0, 0
	margin := math.Inf(1) // the smallest gap between the two largest logits
	for r := range rows {
		z := logits[r*classes : (r+1)*classes]
		if got[r].class != want[r] {
			classDiff++
			t.Errorf("%s: row %d: reader class %d, runtime %d (logits %v)", name, r, got[r].class, want[r], z)
		}
		if len(got[r].logits) != classes {
			t.Fatalf("%s: row %d: reader printed %d logits, want %d", name, r, len(got[r].logits), classes)
		}
		differ := false
		for o, v := range z {
			if got[r].logits[o] != math.Float32bits(v) {
				differ = true
			}
		}
		if differ {
			logitDiff++
			if exact {
				gl := make([]float32, classes)
				for o, b := range got[r].logits {
					gl[o] = math.Float32frombits(b)
				}
				t.Errorf("%s: row %d: reader logits %v, runtime %v", name, r, gl, z)
			}
		}
		best := infer.Argmax(z)
		for o, v := range z {
			if o != best {
				margin = math.Min(margin, float64(z[best])-float64(v))
			}
		}
	}
	t.Logf("%-28s %d rows: %d classes and %d logit rows differ (logits compared bit for bit: %t); smallest top-2 margin %.3g",
		name, rows, classDiff, logitDiff, exact, margin)
}

// formatModel returns the seeded, untrained 784-64-32-10 MLP with small nonzero biases.
func formatModel(t *testing.T) *nn.MLP {
	t.Helper()
	m, err := nn.NewMLP([]int{784, 64, 32, 10}, rand.New(rand.NewSource(7)))
	if err != nil {
		t.Fatal(err)
	}
	for li, l := range m.Layers {
		b := l.Bias()
		for o := range b {
			b[o] = 0.01 * float32((o*(li+3))%11-5)
		}
	}
	return m
}

// TestFormatReader checks that scripts/tinyq_reader.py, an independent reader written from
// docs/FORMAT.md alone, classifies real MNIST images exactly as the runtime does, for every
// kind of model the runtime runs, and reads the version-1 golden files.
func TestFormatReader(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not on PATH")
	}
	if _, err := os.Stat(readerScript); err != nil {
		t.Fatal(err)
	}
	dir, err := mnist.Locate("")
	if err != nil {
		t.Fatal(err)
	}
	train, test, err := mnist.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	const in = 28 * 28
	calib := train.Images[:512*in] // calibrate on training images, never on test images
	// The test images as raw bytes, and their runtime input x = float32(p)/255.
	pixels := make([]byte, formatImages*in)
	x := make([]float32, formatImages*in)
	for i, v := range test.Images[:formatImages*in] {
		pixels[i] = uint8(v*255 + 0.5)
		x[i] = float32(pixels[i]) / 255
		if x[i] != v {
			t.Fatalf("pixel %d: %v does not round-trip through a byte", i, v)
		}
	}
	tmp := t.TempDir()
	images := filepath.Join(tmp, "images.u8")
	if err := os.WriteFile(images, pixels, 0o644); err != nil {
		t.Fatal(err)
	}

	m := formatModel(t)
	fm32, err := m.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	fused := fusesFMA()
	// gemm's SIMD paths fuse each multiply-add of a float product (FORMAT.md says so); the
	// reader rounds separately, as gemm's generic path does: float and QAT logits are then
	// compared by class only.
	floatFused := fused || gemm.Kernel() != "generic"
	if fused {
		t.Log("this build fuses float32 multiply-adds: float, QAT and dynamic logits are not compared bit for bit (docs/FORMAT.md section 8)")
	}
	type model struct {
		name  string
		save  func(path string) error
		exact bool // logits bit for bit
	}
	var models []model
	for _, c := range []struct {
		name string
		cfg  ptq.Config
	}{
		{"int-w8a8-static", ptq.Spec(ptq.Static, 8, 8)},
		{"int-w4a4-static", ptq.Spec(ptq.Static, 4, 4)},
		{"int-w2a4-static", ptq.Spec(ptq.Static, 2, 4)},
		{"int-w8a8-static-per-tensor", ptq.Spec(ptq.Static, 8, 8).PerTensor()},
		{"int-w8-dynamic", ptq.Spec(ptq.Dynamic, 8, 8)},
	} {
		var plan ptq.Plan
		if c.cfg.Mode == ptq.Static {
			if plan.Inputs, err = ptq.Calibrate(fm32, c.cfg, calib); err != nil {
				t.Fatal(err)
			}
		}
		im, err := ptq.Convert(fm32, c.cfg, plan)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		models = append(models, model{c.name, func(p string) error { return infer.SaveInt(p, im, "") }, c.cfg.Mode == ptq.Static || !fused})
	}
	// Mixed precision (format_version 3): each layer at its own widths, its input calibrated
	// at its width.
	mixed := ptq.Spec(ptq.Static, 8, 8)
	mixed.LayerBits = make([][2]int, len(m.Layers))
	var mixedPlan ptq.Plan
	for i := range m.Layers {
		b := [][2]int{{2, 8}, {4, 3}, {8, 2}, {3, 6}}[i%4]
		mixed.LayerBits[i] = b
		r, err := ptq.Calibrate(fm32, ptq.Spec(ptq.Static, b[0], b[1]), calib)
		if err != nil {
			t.Fatal(err)
		}
		mixedPlan.Inputs = append(mixedPlan.Inputs, r[i])
	}
	mim, err := ptq.Convert(fm32, mixed, mixedPlan)
	if err != nil {
		t.Fatalf("mixed: %v", err)
	}
	models = append(models, model{"int-" + mim.Config.Name(), func(p string) error { return infer.SaveInt(p, mim, "") }, true})
	for _, p := range []infer.Precision{infer.F32, infer.F16} {
		fm, err := fm32, error(nil)
		if p == infer.F16 {
			fm, err = ptq.Float16(fm32)
		}
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, model{"float-" + p.String(), func(path string) error { return infer.SaveFloat(path, fm, "") }, !floatFused})
	}
	qm, err := qat.Prepare(m, qat.Spec(4, 4))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := qm.NewEvaluator(256)
	if err != nil {
		t.Fatal(err)
	}
	qm.SetObserving(true) // calibrate every quantizer on one batch, then freeze
	if _, err := ev.Forward(calib[:256*in], 256); err != nil {
		t.Fatal(err)
	}
	qm.SetObserving(false)
	models = append(models, model{"qat-w4a4", func(p string) error { return qm.Save(p, "") }, !floatFused})

	for _, c := range models {
		path := filepath.Join(tmp, c.name+".safetensors")
		if err := c.save(path); err != nil {
			t.Fatal(err)
		}
		lm, err := infer.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		compareReader(t, c.name, lm, x, formatImages, runReader(t, path, images), c.exact)
	}

	// The version-1 golden files (a 3-2-2 model): raw pixel rows of 3 bytes (the default
	// input of a version-1 file, pixel/255) and float32 rows given directly.
	px := []byte{0, 128, 255, 255, 64, 0, 17, 200, 99, 255, 255, 255, 0, 0, 0, 3, 1, 250}
	pxFile := filepath.Join(tmp, "v1.u8")
	if err := os.WriteFile(pxFile, px, 0o644); err != nil {
		t.Fatal(err)
	}
	xs := []float32{0, 0.5, 1, 1, 0.25, 0, 0.3, 0.7, 0.1, 2, -1, 0.5, -0.2, 0.05, 0.9, 0.125, 0.375, 0.625}
	var raw bytes.Buffer
	if err := binary.Write(&raw, binary.LittleEndian, xs); err != nil {
		t.Fatal(err)
	}
	xsFile := filepath.Join(tmp, "v1.f32")
	if err := os.WriteFile(xsFile, raw.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"float", "int-w4a8"} {
		path := filepath.Join("..", "modelfile", "testdata", "v1", name+".safetensors")
		lm, err := infer.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		exact := name != "float" || !floatFused
		pxX, err := infer.Pixels(lm, px)
		if err != nil {
			t.Fatal(err)
		}
		compareReader(t, fmt.Sprintf("v1 %s (pixels)", name), lm, pxX, len(px)/3, runReader(t, path, pxFile), exact)
		compareReader(t, fmt.Sprintf("v1 %s (float32 rows)", name), lm, xs, len(xs)/3, runReader(t, path, xsFile, "--input", "f32"), exact)
	}
}
