package infer_test

import (
	"math/rand"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tinyq/arch"
	"tinyq/infer"
	"tinyq/modelfile"
	"tinyq/quant"
	"tinyq/safetensors"
)

// TestConvFilesRoundTrip: a float and a static integer model with convolutions are saved
// as format version 4 (the architecture under "arch", conv weights [KH, KW, C, Out] float
// and [Out, KH, KW, C] int) and load back computing the same logits bit for bit.
func TestConvFilesRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	x := images(rng, 5)
	cfg := infer.IntConfig{Mode: infer.Static, Spec: quant.Uniform(quant.LayerSpecFor(quant.Widths{Weight: 4, Activation: 8}, quant.PerChannel))}
	dir := t.TempDir()
	for _, m := range []infer.Model{randomConvFloat(t, rng), randomConvInt(t, cfg, rng)} {
		path := filepath.Join(dir, "m.safetensors")
		var err error
		switch m := m.(type) {
		case *infer.FloatModel:
			err = infer.SaveFloat(path, m, `{"seed":1}`)
		case *infer.IntModel:
			err = infer.SaveInt(path, m, `{"seed":1}`)
		}
		if err != nil {
			t.Fatal(err)
		}
		f, err := modelfile.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		if f.Metadata[modelfile.KeyVersion] != "4" || f.Metadata[modelfile.KeyArch] != "" {
			t.Errorf("%s: format_version %q, architecture %q: want 4 and none", m.Name(), f.Metadata[modelfile.KeyVersion], f.Metadata[modelfile.KeyArch])
		}
		w, _ := f.Tensor("fc1.w")
		shape := []int{3, 3, 1, 4} // float: [KH, KW, C, Out]
		if m.Name() != "fp32" {
			shape = []int{len(w.Data)} // int4: packed bytes (int8 would be [Out, KH, KW, C])
		}
		if !slices.Equal(w.Shape, shape) {
			t.Errorf("%s: fc1.w shape %v, want %v", m.Name(), w.Shape, shape)
		}
		loaded, err := infer.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		want, got := make([]float32, 50), make([]float32, 50)
		if err := m.Forward(x, 5, want); err != nil {
			t.Fatal(err)
		}
		if err := loaded.Forward(x, 5, got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: loaded model's logits differ", m.Name())
		}
	}
}

// TestLoadFoldsBatchNorm: a version 4 float file with a BatchNorm after a convolution
// loads as the convolution with the BatchNorm folded by FoldBatchNorm's rule.
func TestLoadFoldsBatchNorm(t *testing.T) {
	a, err := arch.Parse("conv(2,3,pad=1),bn,relu,maxpool(2),dense(3)", arch.Shape{H: 6, W: 6, C: 1})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(9))
	rnd := func(n int, lo, hi float32) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = lo + (hi-lo)*rng.Float32()
		}
		return v
	}
	bn := &modelfile.BatchNorm{Gamma: rnd(2, 0.5, 2), Beta: rnd(2, -1, 1), Mean: rnd(2, -1, 1), Var: rnd(2, 0.1, 3), Eps: 1e-5}
	ff := modelfile.FloatFile{
		Info: modelfile.Info{Net: a, Input: modelfile.Input{Width: 6, Height: 6, PixelDivisor: 255}},
		Params: modelfile.FloatParams{
			Weights: [][]float32{rnd(18, -1, 1), rnd(18*3, -1, 1)}, Biases: [][]float32{rnd(2, -1, 1), rnd(3, -1, 1)},
			BatchNorms: []*modelfile.BatchNorm{bn, nil},
		},
	}
	f, err := ff.Encode(modelfile.Float)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"fc1.bn.gamma", "fc1.bn.beta", "fc1.bn.running_mean", "fc1.bn.running_var", "fc1.bn.eps"} {
		if _, ok := f.Tensor(name); !ok {
			t.Errorf("tensor %s missing", name)
		}
	}
	m, err := infer.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	fm := m.(*infer.FloatModel)
	w, b, err := infer.FoldBatchNorm(ff.Params.Weights[0], ff.Params.Biases[0], 9, 2, *bn)
	if err != nil {
		t.Fatal(err)
	}
	if l := fm.Layers[0]; !slices.Equal(l.W, w) || !slices.Equal(l.B, b) || l.Pool.Kernel != 2 || !l.ReLU {
		t.Errorf("layer 0 %+v: want the folded convolution with ReLU and pooling", l)
	}
	if in, classes := m.Shape(); in != 36 || classes != 3 {
		t.Errorf("shape %d -> %d", in, classes)
	}
	// Saved again, the model is folded: version 4 without BatchNorm.
	path := filepath.Join(t.TempDir(), "folded.safetensors")
	if err := infer.SaveFloat(path, fm, ""); err != nil {
		t.Fatal(err)
	}
	g, err := modelfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := g.Tensor("fc1.bn.gamma"); ok || strings.Contains(g.Metadata[modelfile.KeyNet], "batchnorm") {
		t.Errorf("saved folded model still has a batchnorm: %s", g.Metadata[modelfile.KeyNet])
	}
}

// TestConvFileErrors: a version 4 file is refused with one line naming what is wrong.
func TestConvFileErrors(t *testing.T) {
	rng := rand.New(rand.NewSource(10))
	cfg := infer.IntConfig{Mode: infer.Static, Spec: quant.Uniform(quant.LayerSpecFor(quant.Widths{Weight: 8, Activation: 8}, quant.PerChannel))}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := infer.SaveInt(path, randomConvInt(t, cfg, rng), ""); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(f *safetensors.File)
		want string
	}{
		{"no arch", func(f *safetensors.File) { delete(f.Metadata, modelfile.KeyNet) }, `format_version 4 without "arch"`},
		{"unknown field", func(f *safetensors.File) {
			f.Metadata[modelfile.KeyNet] = strings.Replace(f.Metadata[modelfile.KeyNet], `"layers"`, `"dilation":2,"layers"`, 1)
		}, `unknown field "dilation"`},
		{"bad layer", func(f *safetensors.File) {
			f.Metadata[modelfile.KeyNet] = strings.Replace(f.Metadata[modelfile.KeyNet], `"pad":1`, `"pad":3`, 1)
		}, "layer 0 (conv2d): pad 3"},
		{"batchnorm", func(f *safetensors.File) {
			f.Metadata[modelfile.KeyNet] = strings.Replace(f.Metadata[modelfile.KeyNet], `{"kind":"maxpool"`, `{"kind":"batchnorm"},{"kind":"maxpool"`, 1)
			f.Metadata[modelfile.KeyNet] = strings.Replace(f.Metadata[modelfile.KeyNet], `"pad":1,"relu":true`, `"pad":1`, 1)
		}, "in an integer model: fold it"},
		{"input", func(f *safetensors.File) {
			f.Metadata[modelfile.KeyInput] = `{"width":784,"height":1,"pixel_divisor":255}`
		}, "784x1 pixels for a 28x28 image"},
		{"weight shape", func(f *safetensors.File) {
			for i := range f.Tensors {
				if f.Tensors[i].Name == "fc1.w" {
					f.Tensors[i].Shape = []int{4, 9}
				}
			}
		}, "tensor fc1.w has shape [4 9], want [4 3 3 1]"},
	} {
		f, err := modelfile.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		delete(f.Metadata, modelfile.KeyDataSHA256)
		c.edit(f)
		_, err = infer.Decode(f)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line with %q", c.name, err, c.want)
		}
	}
}
