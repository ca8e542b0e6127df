package crosstest_test

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"tinyq/arch"
	"tinyq/gemm"
	"tinyq/infer"
	"tinyq/internal/pyreader"
	"tinyq/mnist"
	"tinyq/modelfile"
	"tinyq/nn"
	"tinyq/ptq"
	"tinyq/qat"
	"tinyq/quant"
)

// formatImages is how many MNIST test images the reader classifies per model.
const formatImages = 150

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
// kind of model the runtime runs, converted from a float model by ptq and qat. (infer's
// TestFormatReader runs it on the committed files, the version-1 ones among them.)
func TestFormatReader(t *testing.T) {
	pyreader.Python(t)
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
	fm, err := m.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	fused := pyreader.FusesFMA()
	// gemm's SIMD paths fuse each multiply-add of a float product (FORMAT.md says so); the
	// reader rounds separately, as gemm's generic path does: float and QAT logits are then
	// compared by class only.
	floatFused := fused || gemm.ActivePath() != "generic"
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
			if plan.Inputs, err = ptq.Calibrate(fm, c.cfg, calib); err != nil {
				t.Fatal(err)
			}
		}
		im, err := ptq.Convert(fm, c.cfg, plan)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		models = append(models, model{c.name, func(p string) error { return infer.SaveInt(p, im, "") }, c.cfg.Mode == ptq.Static || !fused})
	}
	// Mixed precision (format_version 3): each layer at its own widths, its input calibrated
	// at its width.
	widths := make([]quant.Widths, len(m.Layers))
	for i := range m.Layers {
		widths[i] = []quant.Widths{{Weight: 2, Activation: 8}, {Weight: 4, Activation: 3}, {Weight: 8, Activation: 2}, {Weight: 3, Activation: 6}}[i%4]
	}
	mim := mixedConversion(t, fm, calib, widths)
	models = append(models, model{"int-" + mim.Config.Name(), func(p string) error { return infer.SaveInt(p, mim, "") }, true})
	fp16, err := ptq.Float16(fm)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*infer.FloatModel{fm, fp16} {
		models = append(models, model{"float-" + f.Precision.String(), func(path string) error { return infer.SaveFloat(path, f, "") }, !floatFused})
	}
	qm := observedQAT(t, m, calib[:256*in])
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
		pyreader.Compare(t, c.name, lm, x, formatImages, pyreader.Run(t, path, images), c.exact)
	}
}

// formatConvImages is how many MNIST test images the reader classifies per convolutional
// model (the pure-Python reader takes tens of milliseconds per image here).
const formatConvImages = 24

// formatConvArch is the convolutional network of TestFormatReaderConv on 28×28×1: BatchNorm
// after both convolutions, an overlapping pooling (3, stride 2: 28 -> 13, the last row and
// column dropped), a strided padded convolution, a pooling that drops a row (7 -> 3).
const formatConvArch = "conv(4,3,pad=1),bn,relu,maxpool(3,stride=2),conv(6,3,stride=2,pad=1),bn,relu,maxpool(2),flatten,dense(10)"

// TestFormatReaderConv checks the reader against the runtime on real MNIST images for a
// seeded, untrained convolutional network with BatchNorm (running statistics set away from
// their defaults): its fp32 file with the BatchNorm tensors (nn's Save; the reader folds
// them, FORMAT.md section 11.2), the integer models ptq converts it to (static W8A8, W4A4,
// W2A4, W8A8 per tensor and per-unit widths, logits bit for bit), its fp16 model (folded)
// and its W4A4 QAT file (qat folds the BatchNorm at Prepare).
func TestFormatReaderConv(t *testing.T) {
	pyreader.Python(t)
	dir, err := mnist.Locate("")
	if err != nil {
		t.Fatal(err)
	}
	train, test, err := mnist.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	const in = 28 * 28
	calib := train.Images[:256*in]
	pixels := make([]byte, formatConvImages*in)
	x := make([]float32, formatConvImages*in)
	for i, v := range test.Images[:formatConvImages*in] {
		pixels[i] = uint8(v*255 + 0.5)
		x[i] = float32(pixels[i]) / 255
	}
	tmp := t.TempDir()
	images := filepath.Join(tmp, "images.u8")
	if err := os.WriteFile(images, pixels, 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := arch.Parse(formatConvArch, arch.Shape{H: 28, W: 28, C: 1})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(20))
	m, err := nn.New(a, rng)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		if l.BN == nil {
			continue
		}
		for _, v := range [][]float32{l.BN.Gamma.Data().([]float32), l.BN.Beta.Data().([]float32), l.BN.State.Mean, l.BN.State.Var} {
			for c := range v {
				v[c] = 0.5 + rng.Float32()
			}
		}
	}
	floatFused := pyreader.FusesFMA() || gemm.ActivePath() != "generic"
	type model struct {
		name  string
		save  func(path string) error
		exact bool
	}
	models := []model{{"float-bn", func(p string) error { return m.Save(p, "") }, !floatFused}}
	fm, err := m.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  ptq.Config
	}{
		{"conv-int-w8a8-static", ptq.Spec(ptq.Static, 8, 8)},
		{"conv-int-w4a4-static", ptq.Spec(ptq.Static, 4, 4)},
		{"conv-int-w2a4-static", ptq.Spec(ptq.Static, 2, 4)},
		{"conv-int-w8a8-per-tensor", ptq.Spec(ptq.Static, 8, 8).PerTensor()},
	} {
		var plan ptq.Plan
		if plan.Inputs, err = ptq.Calibrate(fm, c.cfg, calib); err != nil {
			t.Fatal(err)
		}
		im, err := ptq.Convert(fm, c.cfg, plan)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		models = append(models, model{c.name, func(p string) error { return infer.SaveInt(p, im, "") }, true})
	}
	// Per-unit widths (layer_bits in a version 4 file), each unit's input calibrated at its
	// width.
	mim := mixedConversion(t, fm, calib, []quant.Widths{{Weight: 4, Activation: 8}, {Weight: 2, Activation: 6}, {Weight: 8, Activation: 3}})
	models = append(models, model{"conv-int-" + mim.Config.Name(), func(p string) error { return infer.SaveInt(p, mim, "") }, true})
	fp16, err := ptq.Float16(fm)
	if err != nil {
		t.Fatal(err)
	}
	models = append(models, model{"conv-float-fp16", func(p string) error { return infer.SaveFloat(p, fp16, "") }, !floatFused})
	qm := observedQAT(t, m, calib)
	models = append(models, model{"conv-qat-w4a4", func(p string) error { return qm.Save(p, "") }, !floatFused})

	for _, c := range models {
		path := filepath.Join(tmp, c.name+".safetensors")
		if err := c.save(path); err != nil {
			t.Fatal(err)
		}
		f, err := modelfile.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		if v := f.Metadata[modelfile.KeyVersion]; v != "4" {
			t.Fatalf("%s: format_version %s, want 4", c.name, v)
		}
		if _, bn := f.Tensor("fc1.bn.gamma"); bn != (c.name == "float-bn") {
			t.Fatalf("%s: BatchNorm tensors %t", c.name, bn)
		}
		lm, err := infer.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		pyreader.Compare(t, c.name, lm, x, formatConvImages, pyreader.Run(t, path, images), c.exact)
	}
}

// mixedConversion converts fm with one width per layer (per unit), each layer's input
// calibrated on calib at its own activation width.
func mixedConversion(t *testing.T, fm *infer.FloatModel, calib []float32, widths []quant.Widths) *infer.IntModel {
	t.Helper()
	var plan ptq.Plan
	for i, w := range widths {
		r, err := ptq.Calibrate(fm, ptq.Spec(ptq.Static, w.Weight, w.Activation), calib)
		if err != nil {
			t.Fatal(err)
		}
		plan.Inputs = append(plan.Inputs, r[i])
	}
	im, err := ptq.Convert(fm, ptq.Spec(ptq.Static, 8, 8).WithWidths(widths), plan)
	if err != nil {
		t.Fatalf("mixed %v: %v", widths, err)
	}
	return im
}

// observedQAT prepares m for W4A4 QAT and calibrates every quantizer on the first 256
// images of calib (one batch), then freezes them: a QAT model without training.
func observedQAT(t *testing.T, m *nn.MLP, calib []float32) *qat.Model {
	t.Helper()
	qm, err := qat.Prepare(m, qat.Spec(4, 4))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := qm.NewEvaluator(256)
	if err != nil {
		t.Fatal(err)
	}
	qm.SetObserving(true)
	if _, err := ev.Forward(calib[:min(len(calib), 256*m.InputSize())], 256); err != nil {
		t.Fatal(err)
	}
	qm.SetObserving(false)
	return qm
}
