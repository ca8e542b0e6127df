package modelfile

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"

	"github.com/x448/float16"

	"tinyq/arch"
	"tinyq/quant"
	"tinyq/safetensors"
)

// FormatVersion is the newest version of tinyq's layout, the one this code reads up to:
// readers accept every version from 1 to FormatVersion (see docs/FORMAT.md for the
// differences). Files are written with the oldest version that describes them: BaseVersion,
// or MixedVersion for an integer model with per-layer widths, so that a uniform model stays
// readable by tinyq 0.2.
const FormatVersion = NetVersion

// BaseVersion is the version written for every file that needs nothing newer.
const BaseVersion = 2

// MixedVersion adds per-layer widths to integer models ("layer_bits" in the quantization
// record).
const MixedVersion = 3

// NetVersion records the architecture as an arch.Arch (metadata key "arch") instead of an
// MLP's sizes, for layer kinds beyond dense: convolutions, max pooling, flatten and
// BatchNorm (docs/FORMAT.md). It is written only for networks that are not MLPs: an MLP's
// file stays version 2 or 3, byte for byte.
const NetVersion = 4

// Version is tinyq's version, recorded in every file.
const Version = "0.2.0"

// Kind is what a file holds.
type Kind string

const (
	// Float is a float model: fc<i>.w [in, out] and fc<i>.b [out], F32 (or F16 for an FP16
	// model).
	Float Kind = "float"
	// QAT is a float32 model with its fake-quant parameters (scales, zero points).
	QAT Kind = "qat"
	// Int is an integer model for the runtime.
	Int Kind = "int"
	// Checkpoint is a float model plus optimizer state, to resume training.
	Checkpoint Kind = "checkpoint"
	// QATCheckpoint is a QAT model in training: parameters, quantizer scales, observer ranges
	// and the optimizers' state.
	QATCheckpoint Kind = "qat-checkpoint"
)

// Metadata keys in the safetensors header's __metadata__.
const (
	KeyVersion = "format_version"
	KeyTinyq   = "tinyq_version"
	KeyKind    = "kind"
	KeyArch    = "architecture"
	// KeyNet is the architecture of a format_version 4 file: arch.Arch as JSON,
	// {"input": {"h", "w", "c"}, "layers": [{"kind", "out", "kernel", "stride", "pad",
	// "relu"}, ...]} (KeyArch is then absent).
	KeyNet      = "arch"
	KeyInput    = "input"
	KeyTraining = "training"
	KeyQuant    = "quantization"
	KeySpecs    = "tensor_specs"
	KeyState    = "train_state"
	// KeyDataSHA256 is the SHA-256 of the data section (every byte after the header, the
	// tensors' bytes in name order), 64 lowercase hex digits. Write adds it to every file;
	// ReadInfo verifies it when present (files written before it have none).
	KeyDataSHA256 = "data_sha256"
)

// MaxLayerSize bounds every size in an architecture, so that a header cannot claim a model
// larger than any file could hold.
const MaxLayerSize = 1 << 20

// Arch is the architecture recorded in a file.
type Arch struct {
	Sizes       []int    `json:"sizes"`       // input, then each layer's output
	Activations []string `json:"activations"` // per layer: "relu" or "identity"
}

// Layers returns the number of layers.
func (a Arch) Layers() int { return len(a.Activations) }

// Input says how raw pixels become a model's float input: x = float32(pixel) / PixelDivisor,
// row-major Height x Width (MNIST: 28 x 28, divisor 255, so 0 -> 0 and 255 -> 1 exactly).
type Input struct {
	Width        int     `json:"width"`
	Height       int     `json:"height"`
	PixelDivisor float32 `json:"pixel_divisor"`
}

// Check returns an error unless in describes n inputs: Width·Height = n (each of them
// positive and at most n) and a PixelDivisor d > 0 under which every pixel gives a finite
// input: float32(255)/d finite, so d >= about 7.5e-37 (255/MaxFloat32). A smaller d would
// load and then refuse every image but a black one.
func (in Input) Check(n int) error {
	if in.Width <= 0 || in.Height <= 0 || in.Width > n || in.Height > n || in.Width*in.Height != n {
		return fmt.Errorf("%dx%d pixels for %d inputs", in.Width, in.Height, n)
	}
	d := in.PixelDivisor
	if top := float64(255 / d); !(d > 0) || math.IsInf(float64(d), 0) || math.IsInf(top, 0) {
		return fmt.Errorf("pixel_divisor %v, want finite and > 0 with 255/pixel_divisor finite in float32 (about 7.5e-37 or more)", d)
	}
	return nil
}

// ParseInput parses an input record (the "input" metadata value) for a model with n inputs:
// a JSON object with exactly the fields width and height (integers) and pixel_divisor (a
// number, rounded once to the nearest float32), none of them null or missing, checked by
// Input.Check. A field it does not know is refused: it could only mean preprocessing this
// reader would not do.
func ParseInput(s string, n int) (Input, error) {
	var in Input
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil || raw == nil {
		return in, fmt.Errorf("%q is not a JSON object", s)
	}
	for k := range raw {
		if k != "width" && k != "height" && k != "pixel_divisor" {
			return in, fmt.Errorf("unknown field %q (want width, height and pixel_divisor)", k)
		}
	}
	for _, f := range []struct {
		name, want string
		dst        any
	}{
		{"width", "an integer", &in.Width},
		{"height", "an integer", &in.Height},
		{"pixel_divisor", "a number within float32's range", &in.PixelDivisor},
	} {
		v, ok := raw[f.name]
		if !ok || bytes.Equal(v, []byte("null")) {
			return in, fmt.Errorf("field %s missing or null", f.name)
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return in, fmt.Errorf("field %s is %s, want %s", f.name, v, f.want)
		}
	}
	return in, in.Check(n)
}

// DefaultInput is the input of a model with n inputs when its file does not say (every
// format version 1 file; any file without an input record): 28 x 28 pixels over 255 for 784
// inputs (MNIST), else one row of n.
func DefaultInput(n int) Input {
	if n == 28*28 {
		return Input{Width: 28, Height: 28, PixelDivisor: 255}
	}
	return Input{Width: n, Height: 1, PixelDivisor: 255}
}

// Info is what a file says about itself besides its tensors.
type Info struct {
	Version int // format_version
	Kind    Kind
	// Arch is an MLP's architecture (versions 1 to 3). In a version 4 file it is derived
	// from Net: the values per sample of the input and of each unit's output, and each
	// unit's activation.
	Arch Arch
	// Net is the architecture of a version 4 file as arch.Arch. A writer sets it for a
	// network that is not an MLP (the file is then version 4; Arch is ignored); ReadInfo
	// sets it for version 4 files only (Network gives every file's).
	Net      arch.Arch
	Input    Input
	Training string // the training configuration as JSON, as the writer gave it
}

// Network returns the file's architecture as arch.Arch: Net for a version 4 file, else the
// MLP of Arch (Dense layers with the recorded activations) on the input record's
// Height×Width×1 image.
func (info Info) Network() arch.Arch {
	if info.IsNet() {
		return info.Net
	}
	a := arch.Arch{Input: arch.Shape{H: info.Input.Height, W: info.Input.Width, C: 1}}
	for i, act := range info.Arch.Activations {
		if i+1 < len(info.Arch.Sizes) {
			a.Layers = append(a.Layers, arch.Layer{Kind: arch.Dense, Out: info.Arch.Sizes[i+1], ReLU: act == "relu"})
		}
	}
	return a
}

// IsNet reports whether the file is written as version 4: Net is set and not an MLP.
func (info Info) IsNet() bool { return len(info.Net.Layers) > 0 && !info.Net.IsMLP() }

// Units returns the file's weighted units (arch.Arch.Units of Net, or of Arch's MLP when
// Net is unset): unit i's tensors are named LayerName(i).
func (info Info) Units() ([]arch.Unit, error) {
	if info.IsNet() {
		return info.Net.Units()
	}
	a := info.Arch
	if len(a.Sizes) != a.Layers()+1 {
		return nil, fmt.Errorf("architecture: %d sizes and %d activations", len(a.Sizes), len(a.Activations))
	}
	us := make([]arch.Unit, a.Layers())
	for i := range us {
		us[i] = arch.Unit{Kind: arch.Dense, In: arch.Vector(a.Sizes[i]), Out: arch.Vector(a.Sizes[i+1]), ReLU: a.Activations[i] == "relu", Layer: i, BatchNorm: -1}
	}
	return us, nil
}

// ParamSizes returns the sizes of the trainable tensors in order, per unit: the weight, the
// bias, and with a BatchNorm its gamma and beta (the optimizers' moments follow this order).
func (info Info) ParamSizes() ([]int, error) {
	us, err := info.Units()
	if err != nil {
		return nil, err
	}
	var sizes []int
	for _, u := range us {
		in, out := u.Fan()
		sizes = append(sizes, in*out, out)
		if u.BatchNorm >= 0 {
			sizes = append(sizes, out, out)
		}
	}
	return sizes, nil
}

// FloatShape returns the stored shape of a unit's float weight: [In, Out] for a dense
// layer, [KH, KW, C, Out] for a convolution (the same values: In = KH·KW·C).
func FloatShape(u arch.Unit) []int {
	in, out := u.Fan()
	if u.Kind == arch.Conv2D {
		return []int{u.Conv.Kernel, u.Conv.Kernel, u.Conv.C, out}
	}
	return []int{in, out}
}

// IntShape returns the stored shape of a unit's int8 weight: [Out, In] for a dense layer,
// [Out, KH, KW, C] for a convolution.
func IntShape(u arch.Unit) []int {
	in, out := u.Fan()
	if u.Kind == arch.Conv2D {
		return []int{out, u.Conv.Kernel, u.Conv.Kernel, u.Conv.C}
	}
	return []int{out, in}
}

// netArch returns the version 4 record's derived MLP-style Arch: the values per sample of
// the input and of each unit's output, and each unit's activation.
func netArch(us []arch.Unit, in arch.Shape) Arch {
	a := Arch{Sizes: []int{in.Size()}}
	for _, u := range us {
		a.Sizes = append(a.Sizes, u.Out.Size())
		act := "identity"
		if u.ReLU {
			act = "relu"
		}
		a.Activations = append(a.Activations, act)
	}
	return a
}

// netInput returns the default input record of a network whose input is in: Height×Width
// pixels over 255 for one channel, else one row of all its values.
func netInput(in arch.Shape) Input {
	if in.C == 1 {
		return Input{Width: in.W, Height: in.H, PixelDivisor: 255}
	}
	return Input{Width: in.Size(), Height: 1, PixelDivisor: 255}
}

// header returns the metadata of a file of the given kind for info: Header's for an MLP,
// else version 4 with the architecture under KeyNet.
func header(kind Kind, info Info) (map[string]string, error) {
	if !info.IsNet() {
		return Header(kind, info.Arch, info.Input, info.Training)
	}
	if err := info.Net.Validate(); err != nil {
		return nil, err
	}
	if err := checkNetInput(info.Input, info.Net.Input); err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	nb, err := json.Marshal(info.Net)
	if err != nil {
		return nil, err
	}
	ib, err := json.Marshal(info.Input)
	if err != nil {
		return nil, err
	}
	md := map[string]string{
		KeyVersion: strconv.Itoa(NetVersion),
		KeyTinyq:   Version,
		KeyKind:    string(kind),
		KeyNet:     string(nb),
		KeyInput:   string(ib),
	}
	if info.Training != "" {
		md[KeyTraining] = info.Training
	}
	return md, nil
}

// checkNetInput checks an input record against a network's input shape: the record's
// pixels are the image's (Height×Width for one channel), or its values as one row.
func checkNetInput(rec Input, in arch.Shape) error {
	if err := rec.Check(in.Size()); err != nil {
		return err
	}
	if in.C == 1 && (rec.Height != in.H || rec.Width != in.W) {
		return fmt.Errorf("%dx%d pixels for a %dx%d image", rec.Width, rec.Height, in.W, in.H)
	}
	return nil
}

// parseNet parses and validates a version 4 architecture record: exactly the fields of
// arch.Arch (an unknown field is refused: it could only change what the network computes).
func parseNet(s string) (arch.Arch, error) {
	var a arch.Arch
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return arch.Arch{}, fmt.Errorf("%s: %w", KeyNet, err)
	}
	if dec.More() {
		return arch.Arch{}, fmt.Errorf("%s: text after the JSON object", KeyNet)
	}
	if err := a.Validate(); err != nil {
		return arch.Arch{}, fmt.Errorf("%s: %w", KeyNet, err)
	}
	return a, nil
}

// LayerName is the name of layer i (0-based) in files and reports: "fc1", "fc2", ...
func LayerName(i int) string { return "fc" + strconv.Itoa(i+1) }

// Header returns the metadata every file starts from. training may be "".
func Header(kind Kind, arch Arch, in Input, training string) (map[string]string, error) {
	ab, err := json.Marshal(arch)
	if err != nil {
		return nil, err
	}
	ib, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	md := map[string]string{
		KeyVersion: strconv.Itoa(BaseVersion),
		KeyTinyq:   Version,
		KeyKind:    string(kind),
		KeyArch:    string(ab),
		KeyInput:   string(ib),
	}
	if training != "" {
		md[KeyTraining] = training
	}
	return md, nil
}

// ReadInfo checks the version and kind (one of want) and parses the architecture and input.
func ReadInfo(f *safetensors.File, want ...Kind) (Info, error) {
	md := f.Metadata
	v, ok := md[KeyVersion]
	if !ok {
		return Info{}, errors.New("no format_version in metadata (not a tinyq file?)")
	}
	ver, err := strconv.Atoi(v)
	if err != nil || strconv.Itoa(ver) != v || ver < 1 || ver > FormatVersion {
		return Info{}, fmt.Errorf("format_version %q, this tinyq reads 1 to %d (a plain decimal integer)", v, FormatVersion)
	}
	if err := CheckDataSHA256(f); err != nil {
		return Info{}, err
	}
	info := Info{Version: ver, Kind: Kind(md[KeyKind]), Training: md[KeyTraining]}
	ok = false
	for _, k := range want {
		ok = ok || info.Kind == k
	}
	if !ok {
		return Info{}, fmt.Errorf("kind %q, want %v", info.Kind, want)
	}
	if ver >= NetVersion {
		return readNetInfo(md, info)
	}
	if err := json.Unmarshal([]byte(md[KeyArch]), &info.Arch); err != nil {
		return Info{}, fmt.Errorf("architecture: %w", err)
	}
	a := info.Arch
	if len(a.Sizes) < 2 || len(a.Activations) != len(a.Sizes)-1 {
		return Info{}, fmt.Errorf("architecture: %d sizes and %d activations", len(a.Sizes), len(a.Activations))
	}
	for _, s := range a.Sizes {
		if s <= 0 || s > MaxLayerSize {
			return Info{}, fmt.Errorf("architecture: layer size %d, want 1 to %d", s, MaxLayerSize)
		}
	}
	for i, act := range a.Activations {
		if act != "relu" && act != "identity" {
			return Info{}, fmt.Errorf("architecture: activation %d is %q, want relu or identity", i+1, act)
		}
	}
	info.Input = DefaultInput(a.Sizes[0]) // absent in any version: the default (FORMAT.md 3)
	if s, ok := md[KeyInput]; ok {
		if info.Input, err = ParseInput(s, a.Sizes[0]); err != nil {
			return Info{}, fmt.Errorf("input: %w", err)
		}
	}
	return info, nil
}

// readNetInfo reads the architecture and input of a version 4 file into info.
func readNetInfo(md map[string]string, info Info) (Info, error) {
	s, ok := md[KeyNet]
	if !ok {
		return Info{}, fmt.Errorf("format_version %d without %q (the architecture)", info.Version, KeyNet)
	}
	var err error
	if info.Net, err = parseNet(s); err != nil {
		return Info{}, err
	}
	us, err := info.Net.Units()
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", KeyNet, err)
	}
	info.Arch = netArch(us, info.Net.Input)
	info.Input = netInput(info.Net.Input)
	if s, ok := md[KeyInput]; ok {
		if info.Input, err = ParseInput(s, info.Net.Input.Size()); err == nil {
			err = checkNetInput(info.Input, info.Net.Input)
		}
		if err != nil {
			return Info{}, fmt.Errorf("input: %w", err)
		}
	}
	return info, nil
}

// CheckDataSHA256 verifies the data checksum (KeyDataSHA256) of f when its metadata has
// one: it must be 64 lowercase hex digits equal to f.DataSHA256(). A file without the key
// (written before it existed) passes.
func CheckDataSHA256(f *safetensors.File) error {
	want, ok := f.Metadata[KeyDataSHA256]
	if !ok {
		return nil
	}
	if b, err := hex.DecodeString(want); err != nil || len(b) != 32 || hex.EncodeToString(b) != want {
		return fmt.Errorf("%s %q, want 64 lowercase hex digits", KeyDataSHA256, want)
	}
	sum := f.DataSHA256()
	if got := hex.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("data checksum mismatch: %s is %s but the data hash to %s (the file is damaged)", KeyDataSHA256, want, got)
	}
	return nil
}

// Tensor returns a named tensor with the given dtype and shape.
func Tensor(f *safetensors.File, name string, dt safetensors.DType, shape ...int) (*safetensors.Tensor, error) {
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

// F32 returns a named F32 tensor of the given shape; NaN and Inf are errors.
func F32(f *safetensors.File, name string, shape ...int) ([]float32, error) {
	t, err := Tensor(f, name, safetensors.F32, shape...)
	if err != nil {
		return nil, err
	}
	v, err := t.F32()
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %w", name, err)
	}
	return v, finite(name, v)
}

// Floats returns a named F32 or F16 tensor of the given shape as float32 (F16 widened
// exactly); NaN and Inf are errors. half reports whether it was stored as F16.
func Floats(f *safetensors.File, name string, shape ...int) (v []float32, half bool, err error) {
	if t, ok := f.Tensor(name); ok && t.DType == safetensors.F16 {
		if _, err := Tensor(f, name, safetensors.F16, shape...); err != nil {
			return nil, false, err
		}
		bits, err := t.F16Bits()
		if err != nil {
			return nil, false, fmt.Errorf("tensor %s: %w", name, err)
		}
		v = make([]float32, len(bits))
		for i, b := range bits {
			v[i] = float16.Frombits(b).Float32()
		}
		return v, true, finite(name, v)
	}
	v, err = F32(f, name, shape...)
	return v, false, err
}

// finite returns an error naming tensor name and the first NaN or ±Inf in v, if any.
func finite(name string, v []float32) error {
	if i := quant.FirstNonFinite(v); i >= 0 {
		return fmt.Errorf("tensor %s: element %d is %v", name, i, v[i])
	}
	return nil
}

// I32 returns a named I32 tensor of the given shape.
func I32(f *safetensors.File, name string, shape ...int) ([]int32, error) {
	t, err := Tensor(f, name, safetensors.I32, shape...)
	if err != nil {
		return nil, err
	}
	v, err := t.I32()
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %w", name, err)
	}
	return v, nil
}

// SpecJSON is a quant.Spec as written in files. Axis is the channel axis of the tensor as
// stored and is written only for per-channel specs (format version 2; version 1 wrote it
// always, and for integer weights in the quantization key it gave the axis of the
// un-transposed [in, out] weight).
type SpecJSON struct {
	Bits         int    `json:"bits"`
	Scheme       string `json:"scheme"`
	Granularity  string `json:"granularity"`
	Axis         *int   `json:"axis,omitempty"`
	Packed       bool   `json:"packed,omitempty"`        // values packed into U8 bytes
	PackedBits   int    `json:"packed_bits,omitempty"`   // bits per packed value: 4 (two per byte) or 2 (four per byte)
	LogicalShape []int  `json:"logical_shape,omitempty"` // shape before packing
}

// UnmarshalJSON reads a spec. The fields that decide the arithmetic (bits, scheme,
// granularity, axis) must have their JSON types; the descriptive ones (packed, packed_bits,
// logical_shape: tensor_specs, which tinyq does not read) are kept when well typed and
// otherwise ignored, as informative values are (docs/FORMAT.md section 3).
func (j *SpecJSON) UnmarshalJSON(b []byte) error {
	var aux struct {
		Bits         int             `json:"bits"`
		Scheme       string          `json:"scheme"`
		Granularity  string          `json:"granularity"`
		Axis         *int            `json:"axis"`
		Packed       json.RawMessage `json:"packed"`
		PackedBits   json.RawMessage `json:"packed_bits"`
		LogicalShape json.RawMessage `json:"logical_shape"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*j = SpecJSON{Bits: aux.Bits, Scheme: aux.Scheme, Granularity: aux.Granularity, Axis: aux.Axis}
	Informative(aux.Packed, &j.Packed)
	Informative(aux.PackedBits, &j.PackedBits)
	Informative(aux.LogicalShape, &j.LogicalShape)
	return nil
}

// Informative decodes an informative JSON value into *dst when it has dst's type and leaves
// *dst alone otherwise (absent, null or another type): informative metadata never makes a
// file unreadable.
func Informative[T any](raw json.RawMessage, dst *T) {
	var v T
	if len(raw) > 0 && json.Unmarshal(raw, &v) == nil {
		*dst = v
	}
}

// ToSpecJSON returns the file form of s for a tensor whose channel axis is stored at axis.
func ToSpecJSON(s quant.Spec, axis int) SpecJSON {
	j := SpecJSON{Bits: s.Bits, Scheme: s.Scheme.String(), Granularity: s.Granularity.String()}
	if s.Granularity == quant.PerChannel {
		j.Axis = &axis
	}
	return j
}

// Spec parses j; the axis is set to axis (the caller's convention), not taken from the file.
func (j SpecJSON) Spec(axis int) (quant.Spec, error) {
	s := quant.Spec{Bits: j.Bits}
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
		s.Axis = axis
	default:
		return s, fmt.Errorf("unknown granularity %q", j.Granularity)
	}
	return s, s.Validate()
}

// CheckAxis reports a version-2 spec whose axis contradicts the stored tensor's channel axis
// want (per-channel) or that gives an axis at all (per-tensor). Version-1 files wrote other
// axes and are not checked.
func (j SpecJSON) CheckAxis(version, want int) error {
	if version < 2 {
		return nil
	}
	switch {
	case j.Granularity == quant.PerChannel.String() && (j.Axis == nil || *j.Axis != want):
		return fmt.Errorf("per-channel spec without axis %d (the stored tensor's channel axis)", want)
	case j.Granularity == quant.PerTensor.String() && j.Axis != nil:
		return fmt.Errorf("per-tensor spec with an axis (%d)", *j.Axis)
	}
	return nil
}

// ParamsTensors appends a quantizer's scales and zero points as <name>.scale F32 [C] and
// <name>.zero_point I32 [C].
func ParamsTensors(ts []safetensors.Tensor, name string, p quant.Params) []safetensors.Tensor {
	return append(ts,
		safetensors.FromF32(name+".scale", []int{len(p.Scales)}, p.Scales),
		safetensors.FromI32(name+".zero_point", []int{len(p.ZeroPoints)}, p.ZeroPoints))
}

// ReadParams reads <name>.scale and <name>.zero_point ([c] each) into parameters with the
// given integer range and axis (-1: per tensor), and validates them.
func ReadParams(f *safetensors.File, name string, c int, qmin, qmax int32, axis int) (quant.Params, error) {
	s, err := F32(f, name+".scale", c)
	if err != nil {
		return quant.Params{}, err
	}
	z, err := I32(f, name+".zero_point", c)
	if err != nil {
		return quant.Params{}, err
	}
	p := quant.Params{Scales: s, ZeroPoints: z, QMin: qmin, QMax: qmax, Axis: axis}
	if err := p.Validate(); err != nil {
		return quant.Params{}, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// MarshalString returns v as JSON text, for a metadata value.
func MarshalString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// Read reads and decodes a safetensors file. Its errors are *FileError of "modelfile":
// "modelfile: PATH: WHAT"; a loader that calls Read relabels them with its own package
// (WrapFile), so that the message starts with the package its caller called.
func Read(path string) (*safetensors.File, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, WrapFile("modelfile", path, err)
	}
	return f, nil
}

// Write writes f to path atomically (temp file, fsync, rename), with the SHA-256 of its
// data section in the metadata (KeyDataSHA256; f itself is not modified): every tinyq file
// is written here. It refuses, writing nothing, a file whose F32 tensors hold NaN or ±Inf:
// the readers refuse such files, so a writer must not produce one (for example over a good
// checkpoint).
func Write(path string, f *safetensors.File) error {
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.DType != safetensors.F32 {
			continue
		}
		v, err := t.F32()
		if err != nil {
			continue // WriteFile reports the invalid tensor
		}
		if err := finite(t.Name, v); err != nil {
			return fmt.Errorf("modelfile: %s not written: %w", path, err)
		}
	}
	g := *f
	g.Metadata = maps.Clone(f.Metadata)
	if g.Metadata == nil {
		g.Metadata = map[string]string{}
	}
	sum := f.DataSHA256()
	g.Metadata[KeyDataSHA256] = hex.EncodeToString(sum[:])
	if err := safetensors.WriteFile(path, &g); err != nil {
		return fmt.Errorf("modelfile: %w", err)
	}
	return nil
}
