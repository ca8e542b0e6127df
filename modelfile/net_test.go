package modelfile_test

import (
	"bytes"
	"reflect"
	"slices"
	"testing"

	"tinyq/arch"
	"tinyq/modelfile"
	"tinyq/quant"
	"tinyq/safetensors"
)

// netFile is a version 4 float file: conv(2,3,pad=1), bn, relu, maxpool(2), dense(3) on a
// 4×4 image.
func netFile(t *testing.T) modelfile.FloatFile {
	a, err := arch.Parse("conv(2,3,pad=1),bn,relu,maxpool(2),flatten,dense(3)", arch.Shape{H: 4, W: 4, C: 1})
	if err != nil {
		t.Fatal(err)
	}
	seq := func(n int, step float32) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = step * float32(i-n/2)
		}
		return v
	}
	return modelfile.FloatFile{
		Info: modelfile.Info{Net: a, Input: modelfile.Input{Width: 4, Height: 4, PixelDivisor: 255}, Training: `{"seed":1}`},
		Params: modelfile.FloatParams{
			Weights:    [][]float32{seq(18, 0.125), seq(24, 0.0625)},
			Biases:     [][]float32{{0.5, -0.5}, {0, 0.25, 1}},
			BatchNorms: []*modelfile.BatchNorm{{Gamma: []float32{1, 2}, Beta: []float32{0, 1}, Mean: []float32{0.5, -1}, Var: []float32{1, 4}, Eps: 1e-5}, nil},
		},
	}
}

// TestNetRoundTrip: version 4 float and QAT files round-trip through Encode
// and Decode, with the architecture under "arch", the conv weights [KH, KW, C, Out], the
// BatchNorm tensors, and the derived per-sample Arch.
func TestNetRoundTrip(t *testing.T) {
	ff := netFile(t)
	f, err := ff.Encode(modelfile.Float)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata[modelfile.KeyVersion] != "4" || f.Metadata[modelfile.KeyArch] != "" || f.Metadata[modelfile.KeyNet] == "" {
		t.Fatalf("metadata %v", f.Metadata)
	}
	if w, _ := f.Tensor("fc1.w"); !slices.Equal(w.Shape, []int{3, 3, 1, 2}) {
		t.Errorf("fc1.w shape %v, want [3 3 1 2]", w.Shape)
	}
	got, err := modelfile.DecodeFloat(f, modelfile.Float)
	if err != nil {
		t.Fatal(err)
	}
	want := ff
	want.Info.Version, want.Info.Kind = 4, modelfile.Float
	want.Info.Arch = modelfile.Arch{Sizes: []int{16, 8, 3}, Activations: []string{"relu", "identity"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
	}
	if sizes, err := got.Info.ParamSizes(); err != nil || !slices.Equal(sizes, []int{18, 2, 2, 2, 24, 3}) {
		t.Errorf("ParamSizes %v, %v", sizes, err)
	}
	if !got.Info.Network().Equal(ff.Info.Net) {
		t.Errorf("Network() = %v", got.Info.Network())
	}
	// QAT: per-channel weight parameters per output channel.
	w4 := quant.Spec{Bits: 4, Scheme: quant.Symmetric, Granularity: quant.PerChannel}
	a8 := quant.Spec{Bits: 8, Scheme: quant.Affine, Granularity: quant.PerTensor}
	qf := modelfile.QATFile{FloatFile: ff, Quant: modelfile.QATQuant{Weight: w4, Activation: a8},
		Weights: []quant.Params{perChannel(1, -7, 7, 0.25, 0.5), perChannel(1, -7, 7, 0.125, 0.25, 0.5)},
		Inputs:  []quant.Params{perTensor(1.0/255, 0, 0, 255), perTensor(0.02, 3, 0, 255)}}
	f, err = qf.Encode(modelfile.QAT)
	if err != nil {
		t.Fatal(err)
	}
	gq, err := modelfile.DecodeQAT(f, modelfile.QAT)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gq.Weights, qf.Weights) || !reflect.DeepEqual(gq.Inputs, qf.Inputs) {
		t.Errorf("QAT parameters %+v %+v", gq.Weights, gq.Inputs)
	}
}

// TestMLPStaysVersion2: an MLP given as Info.Net is written exactly as with Info.Arch
// (format version 2, "architecture"), byte for byte.
func TestMLPStaysVersion2(t *testing.T) {
	ff := floatFile322(false)
	a, err := ff.Encode(modelfile.Float)
	if err != nil {
		t.Fatal(err)
	}
	g := ff
	g.Info.Net = arch.MLP([]int{3, 2, 2}, arch.Shape{})
	b, err := g.Encode(modelfile.Float)
	if err != nil {
		t.Fatal(err)
	}
	ab, bb := encodeBytes(t, a), encodeBytes(t, b)
	if a.Metadata[modelfile.KeyVersion] != "2" || !slices.Equal(ab, bb) {
		t.Errorf("MLP with Net: version %s, %d vs %d bytes", b.Metadata[modelfile.KeyVersion], len(ab), len(bb))
	}
}

func encodeBytes(t *testing.T, f *safetensors.File) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := safetensors.Encode(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
