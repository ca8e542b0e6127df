package modelfile

import (
	"fmt"

	"github.com/x448/float16"

	"tinyq/arch"
	"tinyq/safetensors"
)

// FloatParams are a float model's parameters as stored: per unit a weight [in, out] (the
// training layout; [KH, KW, C, Out] for a convolution) and a bias [out], and in a version 4
// file the BatchNorm folded into a unit at load.
type FloatParams struct {
	Weights [][]float32
	Biases  [][]float32
	Half    bool // stored as F16
	// BatchNorms holds per unit its BatchNorm's parameters, nil for a unit without one (nil
	// when no unit has one). They are always F32.
	BatchNorms []*BatchNorm
}

// BatchNorm is a BatchNorm layer's evaluation parameters, one per channel of the unit it
// follows: fc<i>.bn.gamma, fc<i>.bn.beta, fc<i>.bn.running_mean, fc<i>.bn.running_var, F32
// [out], and fc<i>.bn.eps, F32 [1]. It computes y = (x - Mean)/sqrt(Var + Eps)·Gamma +
// Beta; readers fold it into the unit's weights and bias (infer.FoldBatchNorm).
type BatchNorm struct {
	Gamma, Beta, Mean, Var []float32
	Eps                    float32
}

// ReadFloatParams reads fc<i>.w and fc<i>.b for an MLP's architecture. Every tensor is found
// and checked against the architecture before anything is allocated, so a header claiming
// a huge architecture cannot make a reader allocate more than the file holds.
func ReadFloatParams(f *safetensors.File, a Arch) (FloatParams, error) {
	us, err := Info{Arch: a}.Units()
	if err != nil {
		return FloatParams{}, err
	}
	return readFloatUnits(f, us)
}

// readFloatUnits reads the float tensors of units us: weights (FloatShape), biases and
// BatchNorm parameters.
func readFloatUnits(f *safetensors.File, us []arch.Unit) (FloatParams, error) {
	var p FloatParams
	for i, u := range us {
		n := LayerName(i)
		_, out := u.Fan()
		w, hw, err := Floats(f, n+".w", FloatShape(u)...)
		if err != nil {
			return p, err
		}
		b, hb, err := Floats(f, n+".b", out)
		if err != nil {
			return p, err
		}
		if i == 0 {
			p.Half = hw
		}
		if hw != p.Half || hb != p.Half {
			return p, fmt.Errorf("layer %s mixes F16 and F32 tensors", n)
		}
		p.Weights = append(p.Weights, w)
		p.Biases = append(p.Biases, b)
		if u.BatchNorm < 0 {
			continue
		}
		if p.BatchNorms == nil {
			p.BatchNorms = make([]*BatchNorm, len(us))
		}
		bn := &BatchNorm{}
		for _, t := range []struct {
			name string
			dst  *[]float32
		}{{".bn.gamma", &bn.Gamma}, {".bn.beta", &bn.Beta}, {".bn.running_mean", &bn.Mean}, {".bn.running_var", &bn.Var}} {
			if *t.dst, err = F32(f, n+t.name, out); err != nil {
				return p, err
			}
		}
		eps, err := F32(f, n+".bn.eps", 1)
		if err != nil {
			return p, err
		}
		bn.Eps = eps[0]
		if bn.Eps < 0 {
			return p, fmt.Errorf("tensor %s.bn.eps: %v, want >= 0", n, bn.Eps)
		}
		for o, v := range bn.Var {
			if !(float64(v)+float64(bn.Eps) > 0) {
				return p, fmt.Errorf("tensor %s.bn.running_var: element %d is %v: running_var + eps must be > 0", n, o, v)
			}
		}
		p.BatchNorms[i] = bn
	}
	return p, nil
}

// FloatTensors appends the float tensors of p (F16 when p.Half: values must then be
// representable, as FP16 rounding makes them) for an MLP's sizes.
func FloatTensors(ts []safetensors.Tensor, a Arch, p FloatParams) []safetensors.Tensor {
	us, _ := Info{Arch: a}.Units()
	return floatTensors(ts, us, p)
}

// floatTensors appends the float tensors of p for units us.
func floatTensors(ts []safetensors.Tensor, us []arch.Unit, p FloatParams) []safetensors.Tensor {
	for i, u := range us {
		n := LayerName(i)
		_, out := u.Fan()
		shape := FloatShape(u)
		if p.Half {
			ts = append(ts,
				safetensors.FromF16Bits(n+".w", shape, halfBits(p.Weights[i])),
				safetensors.FromF16Bits(n+".b", []int{out}, halfBits(p.Biases[i])))
		} else {
			ts = append(ts,
				safetensors.FromF32(n+".w", shape, p.Weights[i]),
				safetensors.FromF32(n+".b", []int{out}, p.Biases[i]))
		}
		if p.BatchNorms != nil && p.BatchNorms[i] != nil {
			bn := p.BatchNorms[i]
			ts = append(ts,
				safetensors.FromF32(n+".bn.gamma", []int{out}, bn.Gamma),
				safetensors.FromF32(n+".bn.beta", []int{out}, bn.Beta),
				safetensors.FromF32(n+".bn.running_mean", []int{out}, bn.Mean),
				safetensors.FromF32(n+".bn.running_var", []int{out}, bn.Var),
				safetensors.FromF32(n+".bn.eps", []int{1}, []float32{bn.Eps}))
		}
	}
	return ts
}

func halfBits(v []float32) []uint16 {
	b := make([]uint16, len(v))
	for i, x := range v {
		b[i] = float16.Fromfloat32(x).Bits()
	}
	return b
}

// FloatFile is the float model that every file but an integer one holds: a "float" file is
// exactly this (fp32, or fp16 with Params.Half); "qat", "checkpoint" and "qat-checkpoint"
// files add to it (QATFile, CheckpointFile).
type FloatFile struct {
	// Info is the file's header: Arch, Input and Training are written; Version and Kind are
	// set by DecodeFloat.
	Info   Info
	Params FloatParams
}

// DecodeFloat reads the header (the kind one of kinds) and the float parameters of f.
func DecodeFloat(f *safetensors.File, kinds ...Kind) (FloatFile, error) {
	info, err := ReadInfo(f, kinds...)
	if err != nil {
		return FloatFile{Info: info}, err
	}
	us, err := info.Units()
	if err != nil {
		return FloatFile{Info: info}, err
	}
	p, err := readFloatUnits(f, us)
	return FloatFile{Info: info, Params: p}, err
}

// Encode returns ff as a file of the given kind: its header (format version BaseVersion) and
// float tensors. A kind that adds to the float model adds its metadata and tensors to the
// result.
func (ff FloatFile) Encode(kind Kind) (*safetensors.File, error) {
	if ff.Info.IsNet() {
		return ff.encodeNet(kind)
	}
	a := ff.Info.Arch
	if len(a.Sizes) != a.Layers()+1 {
		return nil, fmt.Errorf("architecture: %d sizes and %d activations", len(a.Sizes), len(a.Activations))
	}
	if len(ff.Params.Weights) != a.Layers() || len(ff.Params.Biases) != a.Layers() {
		return nil, fmt.Errorf("%d weights and %d biases for %d layers", len(ff.Params.Weights), len(ff.Params.Biases), a.Layers())
	}
	for i := range a.Activations {
		if len(ff.Params.Weights[i]) != a.Sizes[i]*a.Sizes[i+1] || len(ff.Params.Biases[i]) != a.Sizes[i+1] {
			return nil, fmt.Errorf("layer %s: %d weights and %d biases for %dx%d", LayerName(i), len(ff.Params.Weights[i]), len(ff.Params.Biases[i]), a.Sizes[i], a.Sizes[i+1])
		}
	}
	md, err := Header(kind, a, ff.Info.Input, ff.Info.Training)
	if err != nil {
		return nil, err
	}
	return &safetensors.File{Metadata: md, Tensors: FloatTensors(nil, a, ff.Params)}, nil
}

// encodeNet is Encode for a version 4 file (Info.Net set, not an MLP).
func (ff FloatFile) encodeNet(kind Kind) (*safetensors.File, error) {
	us, err := ff.Info.Net.Units()
	if err != nil {
		return nil, err
	}
	p := ff.Params
	if len(p.Weights) != len(us) || len(p.Biases) != len(us) || (p.BatchNorms != nil && len(p.BatchNorms) != len(us)) {
		return nil, fmt.Errorf("%d weights, %d biases and %d batchnorms for %d units", len(p.Weights), len(p.Biases), len(p.BatchNorms), len(us))
	}
	for i, u := range us {
		in, out := u.Fan()
		if len(p.Weights[i]) != in*out || len(p.Biases[i]) != out {
			return nil, fmt.Errorf("layer %s: %d weights and %d biases for %dx%d", LayerName(i), len(p.Weights[i]), len(p.Biases[i]), in, out)
		}
		var bn *BatchNorm
		if p.BatchNorms != nil {
			bn = p.BatchNorms[i]
		}
		if (bn != nil) != (u.BatchNorm >= 0) {
			return nil, fmt.Errorf("layer %s: batchnorm parameters given: %t, in the architecture: %t", LayerName(i), bn != nil, u.BatchNorm >= 0)
		}
		if bn != nil && (len(bn.Gamma) != out || len(bn.Beta) != out || len(bn.Mean) != out || len(bn.Var) != out) {
			return nil, fmt.Errorf("layer %s: batchnorm parameters of %d, %d, %d, %d values for %d channels", LayerName(i), len(bn.Gamma), len(bn.Beta), len(bn.Mean), len(bn.Var), out)
		}
	}
	md, err := header(kind, ff.Info)
	if err != nil {
		return nil, err
	}
	return &safetensors.File{Metadata: md, Tensors: floatTensors(nil, us, p)}, nil
}
