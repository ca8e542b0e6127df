package modelfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"tinyq/arch"
	"tinyq/quant"
	"tinyq/safetensors"
)

// The modes of an integer file ("mode" in its quantization record).
const (
	ModeStatic  = "static"  // activation scales calibrated offline, stored per layer
	ModeDynamic = "dynamic" // activations quantized per row at run time
)

// IntQuant is the quantization record of an integer file (metadata key "quantization"),
// parsed and checked.
type IntQuant struct {
	Mode string // ModeStatic or ModeDynamic
	// Weight is every weight's spec: symmetric, per tensor or per channel along axis 0 of
	// the stored [out, in] weight. With LayerBits its Bits is the widest layer's.
	Weight quant.Spec
	// Activation is every layer input's spec in static mode (affine, per tensor; with
	// LayerBits, the widest); zero in dynamic mode.
	Activation quant.Spec
	// Calibration says how the activation ranges were chosen; informative (version 1 called
	// it observer).
	Calibration string
	// LayerBits (format_version 3) are per-layer widths, each entry of "layer_bits" the pair
	// [weight bits, activation bits]; nil for a uniform model.
	LayerBits []quant.Widths
}

// intJSON is IntQuant as written.
type intJSON struct {
	Mode        string    `json:"mode"`
	Weight      SpecJSON  `json:"weight"`
	Activation  *SpecJSON `json:"activation,omitempty"` // static only (version 1: always)
	Calibration string    `json:"calibration,omitempty"`
	Observer    string    `json:"observer,omitempty"` // version 1's name of calibration
	// LayerBits (version 3) are per-layer widths; weight and activation then carry the
	// widest, and each tensor's spec its own.
	LayerBits []quant.Widths `json:"layer_bits,omitempty"`
}

// LayerWeight returns layer i's weight spec.
func (q IntQuant) LayerWeight(i int) quant.Spec {
	s := q.Weight
	if q.LayerBits != nil {
		s.Bits = q.LayerBits[i].Weight
	}
	return s
}

// LayerActivation returns layer i's input spec (static mode).
func (q IntQuant) LayerActivation(i int) quant.Spec {
	s := q.Activation
	if q.LayerBits != nil {
		s.Bits = q.LayerBits[i].Activation
	}
	return s
}

// Static reports whether the record is of a static model.
func (q IntQuant) Static() bool { return q.Mode == ModeStatic }

// Version returns the format version a file with this record is written with: MixedVersion
// with per-layer widths, else BaseVersion.
func (q IntQuant) Version() int {
	if q.LayerBits != nil {
		return MixedVersion
	}
	return BaseVersion
}

// String returns the record as written: weight and activation carry the widest layer's
// widths when LayerBits is set.
func (q IntQuant) String() (string, error) {
	w, a := q.Weight, q.Activation
	if q.LayerBits != nil {
		w.Bits, a.Bits = 0, 0
		for _, b := range q.LayerBits {
			w.Bits, a.Bits = max(w.Bits, b.Weight), max(a.Bits, b.Activation)
		}
	}
	ij := intJSON{Mode: q.Mode, Weight: ToSpecJSON(w, 0), Calibration: q.Calibration, LayerBits: q.LayerBits}
	if q.Static() {
		aj := ToSpecJSON(a, 0)
		ij.Activation = &aj
	}
	return MarshalString(ij)
}

// ParseIntQuant parses and checks the quantization record of an integer file of the given
// format version and number of layers: a known mode; symmetric weights (axis 0, from
// version 2); in static mode an affine per-tensor activation spec; layer_bits only from
// version 3, one exact pair per layer, each a valid width. Calibration and observer are
// informative: kept when they are strings, never type-checked.
func ParseIntQuant(s string, version, layers int) (IntQuant, error) {
	var q IntQuant
	var ij struct {
		Mode        string          `json:"mode"`
		Weight      SpecJSON        `json:"weight"`
		Activation  *SpecJSON       `json:"activation"`
		Calibration json.RawMessage `json:"calibration"`
		Observer    json.RawMessage `json:"observer"`
		LayerBits   [][]int         `json:"layer_bits"`
	}
	fail := func(format string, a ...any) (IntQuant, error) {
		return IntQuant{}, fmt.Errorf("quantization: "+format, a...)
	}
	if err := json.Unmarshal([]byte(s), &ij); err != nil {
		return fail("%w", err)
	}
	if ij.Mode != ModeStatic && ij.Mode != ModeDynamic {
		return fail("mode %q, want %s or %s", ij.Mode, ModeStatic, ModeDynamic)
	}
	q.Mode = ij.Mode
	var err error
	q.Weight, err = ij.Weight.Spec(0)
	if err == nil {
		err = ij.Weight.CheckAxis(version, 0) // weights are stored [out, in]
	}
	if err != nil {
		return fail("weight: %w", err)
	}
	if q.Weight.Scheme != quant.Symmetric {
		return fail("weight scheme %v, want symmetric", q.Weight.Scheme)
	}
	if ij.LayerBits != nil {
		if version < MixedVersion {
			return fail("layer_bits in a format_version %d file (per-layer widths are version %d)", version, MixedVersion)
		}
		if len(ij.LayerBits) != layers {
			return fail("%d layer_bits for %d layers", len(ij.LayerBits), layers)
		}
		q.LayerBits = make([]quant.Widths, len(ij.LayerBits))
		for i, b := range ij.LayerBits {
			if len(b) != 2 {
				return fail("layer_bits entry %d is %v, want a pair [weight bits, activation bits]", i+1, b)
			}
			q.LayerBits[i] = quant.Widths{Weight: b[0], Activation: b[1]}
		}
	}
	if q.Static() {
		if ij.Activation == nil {
			return fail("static model without an activation spec")
		}
		q.Activation, err = ij.Activation.Spec(0)
		if err == nil {
			err = ij.Activation.CheckAxis(version, 0)
		}
		if err != nil {
			return fail("activation: %w", err)
		}
		if q.Activation.Scheme != quant.Affine || q.Activation.Granularity != quant.PerTensor {
			return fail("activation %v, want affine per-tensor", q.Activation)
		}
	}
	if q.LayerBits != nil {
		if !q.Static() {
			return fail("per-layer widths need static mode")
		}
		for i := range q.LayerBits {
			if err := q.LayerWeight(i).Validate(); err != nil {
				return fail("layer_bits entry %d: weights: %w", i+1, err)
			}
			if err := q.LayerActivation(i).Validate(); err != nil {
				return fail("layer_bits entry %d: activations: %w", i+1, err)
			}
		}
	}
	Informative(ij.Calibration, &q.Calibration)
	if q.Calibration == "" {
		Informative(ij.Observer, &q.Calibration)
	}
	return q, nil
}

// IntLayer is what an integer file holds for one layer fc<i>.
type IntLayer struct {
	// Weights are the quantized weights [out, in], row-major: fc<i>.w, I8 [out, in] or U8
	// bytes packed as quant.PackingFor says (two int4 or four int2 per byte, low bits first).
	Weights []byte
	// WeightScales are fc<i>.w.scale, F32 [out] per channel or [1] per tensor (and
	// fc<i>.w.zero_point, I32 of zeros).
	WeightScales []float32
	// Static: fc<i>.b, I32 [out] at scale InScale·WeightScales[o], and the input's
	// quantization fc<i>.in.scale F32 [1], fc<i>.in.zero_point I32 [1] and fc<i>.in.qrange
	// I32 [2] (InQMin, InQMax).
	Bias                 []int32
	InScale              float32
	InZP, InQMin, InQMax int32
	// Dynamic: fc<i>.b, F32 [out].
	BiasF []float32
}

// IntFile is an integer model file (kind "int").
type IntFile struct {
	// Info is the file's header: Arch, Input and Training are written; Version and Kind are
	// set by DecodeInt.
	Info   Info
	Quant  IntQuant
	Layers []IntLayer
}

// DecodeInt reads an integer file: its header, its quantization record (ParseIntQuant) and
// every layer's tensors, checked against the architecture and the widths (weight scales
// valid, weight zero points 0).
func DecodeInt(f *safetensors.File) (IntFile, error) {
	info, err := ReadInfo(f, Int)
	if err != nil {
		return IntFile{}, err
	}
	us, err := info.Units()
	if err != nil {
		return IntFile{}, err
	}
	if err := noBatchNorm(us); err != nil {
		return IntFile{}, err
	}
	q, err := ParseIntQuant(f.Metadata[KeyQuant], info.Version, len(us))
	if err != nil {
		return IntFile{}, err
	}
	m := IntFile{Info: info, Quant: q}
	for i, u := range us {
		n := LayerName(i)
		in, out := u.Fan()
		var l IntLayer
		ws := q.LayerWeight(i)
		pk, err := quant.PackingFor(ws.Bits)
		if err != nil {
			return IntFile{}, err
		}
		if pk == quant.PackedInt8 {
			t, err := Tensor(f, n+".w", safetensors.I8, IntShape(u)...)
			if err != nil {
				return IntFile{}, err
			}
			l.Weights = append([]byte(nil), t.Data...)
		} else {
			t, err := Tensor(f, n+".w", safetensors.U8, pk.Len(in*out))
			if err != nil {
				return IntFile{}, err
			}
			if l.Weights, err = t.U8(); err != nil {
				return IntFile{}, err
			}
		}
		c := 1
		if ws.Granularity == quant.PerChannel {
			c = out
		}
		wmin, wmax := ws.QRange()
		wp, err := ReadParams(f, n+".w", c, wmin, wmax, 0)
		if err != nil {
			return IntFile{}, err
		}
		for _, z := range wp.ZeroPoints {
			if z != 0 {
				return IntFile{}, fmt.Errorf("tensor %s.w.zero_point: non-zero zero point %d for symmetric weights", n, z)
			}
		}
		l.WeightScales = wp.Scales
		if !q.Static() {
			if l.BiasF, err = F32(f, n+".b", out); err != nil {
				return IntFile{}, err
			}
			m.Layers = append(m.Layers, l)
			continue
		}
		if l.Bias, err = I32(f, n+".b", out); err != nil {
			return IntFile{}, err
		}
		s, err := F32(f, n+".in.scale", 1)
		if err != nil {
			return IntFile{}, err
		}
		z, err := I32(f, n+".in.zero_point", 1)
		if err != nil {
			return IntFile{}, err
		}
		r, err := I32(f, n+".in.qrange", 2)
		if err != nil {
			return IntFile{}, err
		}
		l.InScale, l.InZP, l.InQMin, l.InQMax = s[0], z[0], r[0], r[1]
		m.Layers = append(m.Layers, l)
	}
	return m, nil
}

// Encode returns m as an integer file: the header (format version m.Quant.Version()), the
// quantization record, tensor_specs (each tensor's spec, packing and logical shape;
// informative) and every layer's tensors.
func (m IntFile) Encode() (*safetensors.File, error) {
	a, q := m.Info.Arch, m.Quant
	if !m.Info.IsNet() && (len(a.Sizes) != a.Layers()+1 || len(m.Layers) != a.Layers()) {
		return nil, fmt.Errorf("%d layers for an architecture of %d sizes and %d activations", len(m.Layers), len(a.Sizes), len(a.Activations))
	}
	us, err := m.Info.Units()
	if err != nil {
		return nil, err
	}
	if len(us) != len(m.Layers) {
		return nil, fmt.Errorf("%d layers for an architecture of %d weighted layers", len(m.Layers), len(us))
	}
	if err := noBatchNorm(us); err != nil {
		return nil, err
	}
	if q.LayerBits != nil && len(q.LayerBits) != len(m.Layers) {
		return nil, fmt.Errorf("%d layer_bits for %d layers", len(q.LayerBits), len(m.Layers))
	}
	md, err := header(Int, m.Info)
	if err != nil {
		return nil, err
	}
	md[KeyVersion] = strconv.Itoa(max(q.Version(), versionOf(m.Info)))
	if md[KeyQuant], err = q.String(); err != nil {
		return nil, err
	}
	specs := map[string]SpecJSON{}
	var ts []safetensors.Tensor
	for i, l := range m.Layers {
		n := LayerName(i)
		in, out := us[i].Fan()
		ws := ToSpecJSON(q.LayerWeight(i), 0)
		pk, err := quant.PackingFor(q.LayerWeight(i).Bits)
		if err != nil {
			return nil, err
		}
		if len(l.Weights) != pk.Len(in*out) {
			return nil, fmt.Errorf("layer %s: %d weight bytes, want %d", n, len(l.Weights), pk.Len(in*out))
		}
		ws.LogicalShape = IntShape(us[i])
		if pk == quant.PackedInt8 {
			ts = append(ts, safetensors.Tensor{Name: n + ".w", DType: safetensors.I8, Shape: IntShape(us[i]), Data: bytes.Clone(l.Weights)})
		} else {
			ws.Packed, ws.PackedBits = true, pk.ValueBits()
			ts = append(ts, safetensors.FromU8(n+".w", []int{len(l.Weights)}, l.Weights))
		}
		specs[n+".w"] = ws
		ts = ParamsTensors(ts, n+".w", quant.Params{Scales: l.WeightScales, ZeroPoints: make([]int32, len(l.WeightScales))})
		if !q.Static() {
			ts = append(ts, safetensors.FromF32(n+".b", []int{out}, l.BiasF))
			continue
		}
		specs[n+".in"] = ToSpecJSON(q.LayerActivation(i), 0)
		ts = append(ts, safetensors.FromI32(n+".b", []int{out}, l.Bias))
		ts = ParamsTensors(ts, n+".in", quant.Params{Scales: []float32{l.InScale}, ZeroPoints: []int32{l.InZP}})
		ts = append(ts, safetensors.FromI32(n+".in.qrange", []int{2}, []int32{l.InQMin, l.InQMax}))
	}
	if md[KeySpecs], err = MarshalString(specs); err != nil {
		return nil, err
	}
	return &safetensors.File{Metadata: md, Tensors: ts}, nil
}

// noBatchNorm refuses a BatchNorm in an integer model's architecture: conversion folds it
// into the unit before it.
func noBatchNorm(us []arch.Unit) error {
	for i, u := range us {
		if u.BatchNorm >= 0 {
			return fmt.Errorf("%s: layer %d (batchnorm) in an integer model: fold it into layer %s at conversion", KeyNet, u.BatchNorm, LayerName(i))
		}
	}
	return nil
}

// versionOf returns the format version info needs: NetVersion for a network that is not
// an MLP, else BaseVersion.
func versionOf(info Info) int {
	if info.IsNet() {
		return NetVersion
	}
	return BaseVersion
}
