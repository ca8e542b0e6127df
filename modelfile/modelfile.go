package modelfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"tinyq/nn"
	"tinyq/quant"
	"tinyq/safetensors"
)

// FormatVersion is the version of tinyq's layout inside safetensors files. A reader refuses
// other versions.
const FormatVersion = 1

// Version is tinyq's version, recorded in every file.
const Version = "0.1.0"

// Kind is what a file holds.
type Kind string

const (
	// Float is a float32 model: fc<i>.w [in, out] and fc<i>.b [out], F32.
	Float Kind = "float"
	// QAT is a float32 model with its fake-quant parameters (scales, zero points).
	QAT Kind = "qat"
	// Int is an integer model converted by ptq.
	Int Kind = "int"
	// Checkpoint is a float model plus optimizer state, to resume training.
	Checkpoint Kind = "checkpoint"
)

// Metadata keys in the safetensors header's __metadata__.
const (
	keyVersion  = "format_version"
	keyTinyq    = "tinyq_version"
	keyKind     = "kind"
	keyArch     = "architecture"
	keyTraining = "training"
	keyQuant    = "quantization"
	keySpecs    = "tensor_specs"
	keyState    = "train_state"
)

// Arch is the architecture recorded in a file.
type Arch struct {
	Sizes       []int    `json:"sizes"`       // input, then each layer's output
	Activations []string `json:"activations"` // per layer: "relu" or "identity"
}

// Info is what a file says about itself besides its tensors.
type Info struct {
	Kind     Kind
	Arch     Arch
	Training string // the training configuration as JSON, as the writer gave it
}

func archOf(m *nn.MLP) Arch {
	a := Arch{Sizes: m.Sizes()}
	for _, l := range m.Layers {
		a.Activations = append(a.Activations, l.Act.String())
	}
	return a
}

// specJSON is a quant.Spec as written in files.
type specJSON struct {
	Bits         int    `json:"bits"`
	Scheme       string `json:"scheme"`
	Granularity  string `json:"granularity"`
	Axis         int    `json:"axis"`
	Packed       bool   `json:"packed,omitempty"`        // values packed into U8 bytes
	PackedBits   int    `json:"packed_bits,omitempty"`   // bits per packed value: 4 (two per byte) or 2 (four per byte)
	LogicalShape []int  `json:"logical_shape,omitempty"` // shape before packing
}

func toSpecJSON(s quant.Spec) specJSON {
	return specJSON{Bits: s.Bits, Scheme: s.Scheme.String(), Granularity: s.Granularity.String(), Axis: s.Axis}
}

func (j specJSON) spec() (quant.Spec, error) {
	s := quant.Spec{Bits: j.Bits, Axis: j.Axis}
	switch j.Scheme {
	case quant.Symmetric.String():
		s.Scheme = quant.Symmetric
	case quant.Affine.String():
		s.Scheme = quant.Affine
	default:
		return s, fmt.Errorf("unknown scheme %q", j.Scheme)
	}
	switch j.Granularity {
	case quant.PerTensor.String():
		s.Granularity = quant.PerTensor
	case quant.PerChannel.String():
		s.Granularity = quant.PerChannel
	default:
		return s, fmt.Errorf("unknown granularity %q", j.Granularity)
	}
	return s, s.Validate()
}

// header builds the common metadata.
func header(kind Kind, m *nn.MLP, training string) (map[string]string, error) {
	arch, err := json.Marshal(archOf(m))
	if err != nil {
		return nil, err
	}
	md := map[string]string{
		keyVersion: strconv.Itoa(FormatVersion),
		keyTinyq:   Version,
		keyKind:    string(kind),
		keyArch:    string(arch),
	}
	if training != "" {
		md[keyTraining] = training
	}
	return md, nil
}

// readInfo checks the version and kind and parses the architecture.
func readInfo(f *safetensors.File, want ...Kind) (Info, error) {
	md := f.Metadata
	v, ok := md[keyVersion]
	if !ok {
		return Info{}, errors.New("no format_version in metadata (not a tinyq file?)")
	}
	if v != strconv.Itoa(FormatVersion) {
		return Info{}, fmt.Errorf("format_version %q, this tinyq reads %d", v, FormatVersion)
	}
	info := Info{Kind: Kind(md[keyKind]), Training: md[keyTraining]}
	ok = false
	for _, k := range want {
		ok = ok || info.Kind == k
	}
	if !ok {
		return Info{}, fmt.Errorf("kind %q, want %v", info.Kind, want)
	}
	if err := json.Unmarshal([]byte(md[keyArch]), &info.Arch); err != nil {
		return Info{}, fmt.Errorf("architecture: %w", err)
	}
	a := info.Arch
	if len(a.Sizes) < 2 || len(a.Activations) != len(a.Sizes)-1 {
		return Info{}, fmt.Errorf("architecture: %d sizes and %d activations", len(a.Sizes), len(a.Activations))
	}
	for _, s := range a.Sizes {
		if s <= 0 || s > 1<<20 {
			return Info{}, fmt.Errorf("architecture: layer size %d", s)
		}
	}
	return info, nil
}

// tensor returns a named tensor with the given dtype and shape.
func tensor(f *safetensors.File, name string, dt safetensors.DType, shape ...int) (*safetensors.Tensor, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("tensor %s missing", name)
	}
	if t.DType != dt {
		return nil, fmt.Errorf("tensor %s is %s, want %s", name, t.DType, dt)
	}
	if len(t.Shape) != len(shape) {
		return nil, fmt.Errorf("tensor %s has shape %v, want %v", name, t.Shape, shape)
	}
	for i := range shape {
		if t.Shape[i] != shape[i] {
			return nil, fmt.Errorf("tensor %s has shape %v, want %v", name, t.Shape, shape)
		}
	}
	return t, nil
}

func f32(f *safetensors.File, name string, shape ...int) ([]float32, error) {
	t, err := tensor(f, name, safetensors.F32, shape...)
	if err != nil {
		return nil, err
	}
	v, err := t.F32()
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %w", name, err)
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("tensor %s: element %d is %v", name, i, x)
		}
	}
	return v, nil
}

func i32(f *safetensors.File, name string, shape ...int) ([]int32, error) {
	t, err := tensor(f, name, safetensors.I32, shape...)
	if err != nil {
		return nil, err
	}
	v, err := t.I32()
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %w", name, err)
	}
	return v, nil
}

// floatTensors appends a float model's parameters.
func floatTensors(ts []safetensors.Tensor, m *nn.MLP) []safetensors.Tensor {
	for i, l := range m.Layers {
		n := nn.LayerName(i)
		ts = append(ts,
			safetensors.FromF32(n+".w", []int{l.In, l.Out}, l.Weights()),
			safetensors.FromF32(n+".b", []int{l.Out}, l.Bias()))
	}
	return ts
}

// readFloat builds an nn.MLP from a file's float tensors. Every tensor is found and checked
// against the architecture before the model is allocated, so a header claiming a huge
// architecture cannot make it allocate more than the file holds.
func readFloat(f *safetensors.File, a Arch) (*nn.MLP, error) {
	var params [][]float32
	for i := range a.Activations {
		n := nn.LayerName(i)
		w, err := f32(f, n+".w", a.Sizes[i], a.Sizes[i+1])
		if err != nil {
			return nil, err
		}
		b, err := f32(f, n+".b", a.Sizes[i+1])
		if err != nil {
			return nil, err
		}
		params = append(params, w, b)
	}
	m, err := nn.NewMLPFrom(a.Sizes, a.Activations)
	if err != nil {
		return nil, err
	}
	for i, l := range m.Layers {
		copy(l.Weights(), params[2*i])
		copy(l.Bias(), params[2*i+1])
	}
	return m, nil
}

// SaveFloat writes a float model. training is the training configuration as JSON (may be "").
func SaveFloat(path string, m *nn.MLP, training string) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("modelfile: %s: %w", path, err)
	}
	md, err := header(Float, m, training)
	if err != nil {
		return fmt.Errorf("modelfile: %s: %w", path, err)
	}
	return write(path, &safetensors.File{Metadata: md, Tensors: floatTensors(nil, m)})
}

// LoadFloat reads a float model (a float, QAT or checkpoint file's float parameters).
func LoadFloat(path string) (*nn.MLP, Info, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, Info{}, fmt.Errorf("modelfile: %w", err)
	}
	m, info, err := floatFrom(f)
	if err != nil {
		return nil, Info{}, fmt.Errorf("modelfile: %s: %w", path, err)
	}
	return m, info, nil
}

func floatFrom(f *safetensors.File) (*nn.MLP, Info, error) {
	info, err := readInfo(f, Float, QAT, Checkpoint)
	if err != nil {
		return nil, Info{}, err
	}
	m, err := readFloat(f, info.Arch)
	return m, info, err
}

func write(path string, f *safetensors.File) error {
	if err := safetensors.WriteFile(path, f); err != nil {
		return fmt.Errorf("modelfile: %w", err)
	}
	return nil
}
