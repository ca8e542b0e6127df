package modelfile

import (
	"fmt"

	"github.com/x448/float16"

	"tinyq/safetensors"
)

// FloatParams are a float MLP's parameters as stored: per layer a weight [in, out] and a
// bias [out].
type FloatParams struct {
	Weights [][]float32
	Biases  [][]float32
	Half    bool // stored as F16
}

// ReadFloatParams reads fc<i>.w and fc<i>.b for the architecture. Every tensor is found and
// checked against the architecture before anything is allocated, so a header claiming a
// huge architecture cannot make a reader allocate more than the file holds.
func ReadFloatParams(f *safetensors.File, a Arch) (FloatParams, error) {
	var p FloatParams
	for i := range a.Activations {
		n := LayerName(i)
		w, hw, err := Floats(f, n+".w", a.Sizes[i], a.Sizes[i+1])
		if err != nil {
			return p, err
		}
		b, hb, err := Floats(f, n+".b", a.Sizes[i+1])
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
	}
	return p, nil
}

// FloatTensors appends the float tensors of p (F16 when p.Half: values must then be
// representable, as FP16 rounding makes them) for the architecture's sizes.
func FloatTensors(ts []safetensors.Tensor, a Arch, p FloatParams) []safetensors.Tensor {
	for i := range a.Activations {
		n := LayerName(i)
		in, out := a.Sizes[i], a.Sizes[i+1]
		if p.Half {
			ts = append(ts,
				safetensors.FromF16Bits(n+".w", []int{in, out}, halfBits(p.Weights[i])),
				safetensors.FromF16Bits(n+".b", []int{out}, halfBits(p.Biases[i])))
			continue
		}
		ts = append(ts,
			safetensors.FromF32(n+".w", []int{in, out}, p.Weights[i]),
			safetensors.FromF32(n+".b", []int{out}, p.Biases[i]))
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
	p, err := ReadFloatParams(f, info.Arch)
	return FloatFile{Info: info, Params: p}, err
}

// Encode returns ff as a file of the given kind: its header (format version BaseVersion) and
// float tensors. A kind that adds to the float model adds its metadata and tensors to the
// result.
func (ff FloatFile) Encode(kind Kind) (*safetensors.File, error) {
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
