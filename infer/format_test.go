package infer_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"tinyq/arch"
	"tinyq/gemm"
	"tinyq/infer"
	"tinyq/internal/golden"
	"tinyq/internal/pyreader"
	"tinyq/modelfile"
	"tinyq/quant"
	"tinyq/safetensors"
)

// committedFiles are the model files of testdata (the 3-2-2 model of docs/FORMAT.md section
// 9, written by crosstest's TestInferTestdata) with what their logits are compared by in
// TestFormatReader: "int" bit for bit, "dynamic" bit for bit unless this build fuses
// multiply-adds, "float" bit for bit unless the float runtime fuses them (FORMAT.md
// section 8).
var committedFiles = []struct{ path, kind string }{
	{"float.safetensors", "float"},
	{"fp16.safetensors", "float"},
	{"qat-w4a8.safetensors", "float"},
	{"int-w4a8.safetensors", "int"},
	{"int-mixed.safetensors", "int"},
	{"int-w8-dynamic.safetensors", "dynamic"},
	{filepath.Join("v1", "float.safetensors"), "float"},
	{filepath.Join("v1", "int-w4a8.safetensors"), "int"},
}

// TestFormatReader checks that scripts/tinyq_reader.py, an independent reader written from
// docs/FORMAT.md alone, computes what the runtime computes on every committed file (float
// fp32 and fp16, QAT, integer static, mixed and dynamic, and the version-1 files), from raw
// pixel rows (the file's input record, pixel/255) and from float32 rows given directly.
// crosstest's TestFormatReader does the same on real MNIST images.
func TestFormatReader(t *testing.T) {
	pyreader.Python(t)
	tmp := t.TempDir()
	px := []byte{0, 128, 255, 255, 64, 0, 17, 200, 99, 255, 255, 255, 0, 0, 0, 3, 1, 250}
	pxFile := filepath.Join(tmp, "px.u8")
	if err := os.WriteFile(pxFile, px, 0o644); err != nil {
		t.Fatal(err)
	}
	xs := []float32{0, 0.5, 1, 1, 0.25, 0, 0.3, 0.7, 0.1, 2, -1, 0.5, -0.2, 0.05, 0.9, 0.125, 0.375, 0.625}
	var raw bytes.Buffer
	if err := binary.Write(&raw, binary.LittleEndian, xs); err != nil {
		t.Fatal(err)
	}
	xsFile := filepath.Join(tmp, "xs.f32")
	if err := os.WriteFile(xsFile, raw.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	fused := pyreader.FusesFMA()
	floatFused := fused || gemm.ActivePath() != "generic"
	for _, c := range committedFiles {
		path := filepath.Join("testdata", c.path)
		m, err := infer.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		exact := c.kind == "int" || (c.kind == "dynamic" && !fused) || (c.kind == "float" && !floatFused)
		pxX, err := infer.Pixels(m, px)
		if err != nil {
			t.Fatal(err)
		}
		pyreader.Compare(t, c.path+" (pixels)", m, pxX, len(px)/3, pyreader.Run(t, path, pxFile), exact)
		pyreader.Compare(t, c.path+" (float32 rows)", m, xs, len(xs)/3, pyreader.Run(t, path, xsFile, "--input", "f32"), exact)
	}
}

// TestFormatReaderConv checks the reader on the committed convolutional integer files
// (format version 4, docs/FORMAT.md section 11: golden.ConvArch on 28×28×1, W8A8 and W4A4
// static), bit for bit (FORMAT.md section 8), on golden.Checked()'s rows given as float32
// values (the black and the white image among them) and on the same rows as raw pixels.
func TestFormatReaderConv(t *testing.T) {
	pyreader.Python(t)
	tmp := t.TempDir()
	x := golden.Checked()
	var raw bytes.Buffer
	if err := binary.Write(&raw, binary.LittleEndian, x); err != nil {
		t.Fatal(err)
	}
	xsFile := filepath.Join(tmp, "xs.f32")
	if err := os.WriteFile(xsFile, raw.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	px := make([]byte, len(x))
	for i, v := range x {
		px[i] = byte(v*255 + 0.5) // golden's rows are k/255
	}
	pxFile := filepath.Join(tmp, "px.u8")
	if err := os.WriteFile(pxFile, px, 0o644); err != nil {
		t.Fatal(err)
	}
	rows := len(x) / 784
	// The committed files' input zero points are 0, where padding with the zero point and
	// with 0 agree; copies with nonzero zero points (the first layer's clamps the brighter
	// pixels, the second's is the fused ReLU's floor under the pooling) tell them apart.
	dir := filepath.FromSlash(golden.ConvDir)
	w8, w4 := filepath.Join(dir, "conv-w8a8-static.safetensors"), filepath.Join(dir, "conv-w4a4-static.safetensors")
	zp := func(name string, v int32) edit { return setTensor(safetensors.FromI32(name, []int{1}, []int32{v})) }
	for _, path := range []string{
		w8, w4,
		rewrite(t, w8, "conv-w8a8-zero-points", zp("fc1.in.zero_point", 100), zp("fc2.in.zero_point", 5)),
		rewrite(t, w4, "conv-w4a4-zero-points", zp("fc1.in.zero_point", 7), zp("fc2.in.zero_point", 2)),
	} {
		name := filepath.Base(path)
		m, err := infer.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		pxX, err := infer.Pixels(m, px)
		if err != nil {
			t.Fatal(err)
		}
		pyreader.Compare(t, name+" (pixels)", m, pxX, rows, pyreader.Run(t, path, pxFile), true)
		pyreader.Compare(t, name+" (float32 rows)", m, x, rows, pyreader.Run(t, path, xsFile, "--input", "f32"), true)
	}
}

// bnArch is the network of TestFormatReaderBatchNorm: on an 8×8×2 input (two channels, so
// that the input record is one row and the patches interleave channels), a convolution with
// a BatchNorm, ReLU and pooling, a strided convolution with a BatchNorm and ReLU, flatten, a
// dense layer with a BatchNorm and ReLU, and the dense logits.
const bnArch = "conv(3,3,pad=1),bn,relu,maxpool(2),conv(4,3,stride=2,pad=1),bn,relu,flatten,dense(5),bn,relu,dense(3)"

// bnFiles writes the float (F32), fp16 and qat (W4A8) version 4 files of bnArch with
// BatchNorm tensors (FORMAT.md section 11.2; the runtime's own writers save a folded
// model, so these are written with modelfile's encoders, as training does), and returns
// their paths and the input rows (pixels/255) they are checked on.
func bnFiles(t *testing.T, dir string) ([]string, []byte) {
	t.Helper()
	a, err := arch.Parse(bnArch, arch.Shape{H: 8, W: 8, C: 2})
	if err != nil {
		t.Fatal(err)
	}
	us, err := a.Units()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(21))
	// Multiples of 1/64 in [lo, hi]: exact in F16 too.
	rnd := func(n int, lo, hi float32) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(math.Round(float64(lo+(hi-lo)*rng.Float32())*64)) / 64
		}
		return v
	}
	var p modelfile.FloatParams
	for i, u := range us {
		in, out, _, _, _ := infer.UnitWindows(u)
		p.Weights = append(p.Weights, rnd(in*out, -0.75, 0.75))
		p.Biases = append(p.Biases, rnd(out, -0.25, 0.25))
		var bn *modelfile.BatchNorm
		if i < len(us)-1 {
			bn = &modelfile.BatchNorm{Gamma: rnd(out, -1.5, 2), Beta: rnd(out, -0.5, 0.5), Mean: rnd(out, -0.5, 0.5), Var: rnd(out, 0.1, 3), Eps: 1e-5}
			if i == 0 {
				bn.Var[0] = 0 // running_var + eps > 0 is enough
			}
		}
		p.BatchNorms = append(p.BatchNorms, bn)
	}
	info := modelfile.Info{Net: a, Input: modelfile.Input{Width: 8 * 8 * 2, Height: 1, PixelDivisor: 255}}
	var paths []string
	write := func(name string, f *safetensors.File, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		path := filepath.Join(dir, name+".safetensors")
		if err := modelfile.Write(path, f); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	ff := modelfile.FloatFile{Info: info, Params: p}
	f, err := ff.Encode(modelfile.Float)
	write("bn-fp32", f, err)
	half := ff
	half.Params.Half = true
	f, err = half.Encode(modelfile.Float)
	write("bn-fp16", f, err)
	// QAT W4A8: weight scales per channel from the folded weights' ranges (computed here in
	// float64, roughly: any positive scales make a valid file), input scales 1/255 for the
	// pixels and 1/16 with nonzero zero points for the hidden inputs.
	wspec := quant.Spec{Bits: 4, Scheme: quant.Symmetric, Granularity: quant.PerChannel, Axis: 1}
	aspec := quant.Spec{Bits: 8, Scheme: quant.Affine, Granularity: quant.PerTensor}
	qf := modelfile.QATFile{FloatFile: ff, Quant: modelfile.QATQuant{Weight: wspec, Activation: aspec}}
	for i, u := range us {
		in, out, _, _, _ := infer.UnitWindows(u)
		mins, maxs := make([]float32, out), make([]float32, out)
		for j, w := range p.Weights[i] {
			o := j % out
			v := float64(w)
			if bn := p.BatchNorms[i]; bn != nil {
				v *= float64(bn.Gamma[o]) / math.Sqrt(float64(bn.Var[o])+float64(bn.Eps))
			}
			mins[o], maxs[o] = min(mins[o], float32(v)), max(maxs[o], float32(v))
		}
		_ = in
		wp, err := quant.ChooseParams(wspec, mins, maxs)
		if err != nil {
			t.Fatal(err)
		}
		qf.Weights = append(qf.Weights, wp)
		ip := quant.Params{Scales: []float32{1.0 / 16}, ZeroPoints: []int32{int32(3 + i)}, QMin: 0, QMax: 255, Axis: -1}
		if i == 0 {
			ip.Scales[0], ip.ZeroPoints[0] = 1.0/255, 0
		}
		qf.Inputs = append(qf.Inputs, ip)
	}
	f, err = qf.Encode(modelfile.QAT)
	write("bn-qat-w4a8", f, err)

	px := make([]byte, 6*128)
	for i := range px {
		if rng.Intn(3) > 0 {
			px[i] = byte(rng.Intn(256))
		}
	}
	for i := 4 * 128; i < 5*128; i++ { // one white image
		px[i] = 255
	}
	return paths, px
}

// TestFormatReaderBatchNorm checks the reader on version 4 float, fp16 and qat files with
// BatchNorm tensors, which the loader folds into the units by FORMAT.md section 11.2's
// float64 rule: the logits bit for bit where section 8 says they are exact (the float path
// rounds every operation: the generic path, which this test also runs in a child process
// with TINYQ_KERNEL=generic when this CPU's own path fuses, except under -short), else the
// classes.
func TestFormatReaderBatchNorm(t *testing.T) {
	pyreader.Python(t)
	dir := t.TempDir()
	paths, px := bnFiles(t, dir)
	pxFile := filepath.Join(dir, "px.u8")
	if err := os.WriteFile(pxFile, px, 0o644); err != nil {
		t.Fatal(err)
	}
	exact := !pyreader.FusesFMA() && gemm.ActivePath() == "generic"
	for _, path := range paths {
		m, err := infer.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		x, err := infer.Pixels(m, px)
		if err != nil {
			t.Fatal(err)
		}
		pyreader.Compare(t, filepath.Base(path)+" on "+gemm.ActivePath().String(), m, x, len(px)/128, pyreader.Run(t, path, pxFile), exact)
	}
	if exact || pyreader.FusesFMA() || testing.Short() || os.Getenv("TINYQ_FORMAT_CHILD") != "" || t.Failed() {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestFormatReaderBatchNorm$", "-test.v")
	cmd.Env = append(os.Environ(), "TINYQ_KERNEL=generic", "TINYQ_FORMAT_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Count(string(out), "compared bit for bit: true") != len(paths) {
		t.Errorf("TINYQ_KERNEL=generic: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "bit for bit") {
			t.Logf("child: %s", strings.TrimSpace(line))
		}
	}
}
