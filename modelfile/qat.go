package modelfile

import (
	"encoding/json"
	"fmt"

	"tinyq/quant"
	"tinyq/safetensors"
)

// QATQuant is the quantization record of a QAT model or QAT checkpoint (metadata key
// "quantization"): the fake-quant specs, in the training layout (weights [in, out], so a
// per-channel weight has axis 1), and the QAT settings.
type QATQuant struct {
	Weight     quant.Spec // symmetric; per tensor or per channel along axis 1
	Activation quant.Spec // affine, per tensor
	// The settings below do not change what the model computes: the runtime does not read
	// them (they are informative there, docs/FORMAT.md section 3); continuing training does.
	Observer             string // the observers' kind ("" when the model has none recorded)
	FreezeObserversAfter int    // epochs after which observers froze (0: never)
	LearnScales          bool   // scales learned (LSQ)
	LSQInit              string // where learned scales started ("" for "range", written before the option)
	FixInputScale        bool   // with learned scales, the network input's scale was not learned
}

// qatJSON is QATQuant as written.
type qatJSON struct {
	Weight        SpecJSON `json:"weight"`
	Activation    SpecJSON `json:"activation"`
	Observer      string   `json:"observer,omitempty"`
	Freeze        int      `json:"freeze_observers_after"`
	LearnScales   bool     `json:"learn_scales"`
	LSQInit       string   `json:"lsq_init,omitempty"`
	FixInputScale bool     `json:"fix_input_scale,omitempty"`
}

// String returns the record as written.
func (q QATQuant) String() (string, error) {
	return MarshalString(qatJSON{
		Weight: ToSpecJSON(q.Weight, 1), Activation: ToSpecJSON(q.Activation, 0),
		Observer: q.Observer, Freeze: q.FreezeObserversAfter, LearnScales: q.LearnScales,
		LSQInit: q.LSQInit, FixInputScale: q.FixInputScale,
	})
}

// specs parses and checks the weight and activation specs of a file of the given version.
func (j qatJSON) specs(version int) (w, a quant.Spec, err error) {
	if w, err = j.Weight.Spec(1); err == nil {
		err = j.Weight.CheckAxis(version, 1) // weights are stored [in, out]
	}
	if err != nil {
		return w, a, fmt.Errorf("quantization: weight: %w", err)
	}
	if a, err = j.Activation.Spec(0); err == nil {
		err = j.Activation.CheckAxis(version, 0)
	}
	if err != nil {
		return w, a, fmt.Errorf("quantization: activation: %w", err)
	}
	if w.Scheme != quant.Symmetric || a.Scheme != quant.Affine || a.Granularity != quant.PerTensor {
		return w, a, fmt.Errorf("quantization: weight %v and activation %v, want symmetric weights and affine per-tensor activations", w, a)
	}
	return w, a, nil
}

// ParseQATQuant parses a QAT file's quantization record strictly, for continuing training:
// every field must have its JSON type, and the specs are checked (symmetric weights, axis 1
// from version 2; affine per-tensor activations).
func ParseQATQuant(s string, version int) (QATQuant, error) {
	var j qatJSON
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		return QATQuant{}, fmt.Errorf("quantization: %w", err)
	}
	w, a, err := j.specs(version)
	if err != nil {
		return QATQuant{}, err
	}
	return QATQuant{Weight: w, Activation: a, Observer: j.Observer, FreezeObserversAfter: j.Freeze,
		LearnScales: j.LearnScales, LSQInit: j.LSQInit, FixInputScale: j.FixInputScale}, nil
}

// parseQATSpecs parses a QAT file's quantization record as the runtime reads it: only the
// specs decide the simulation; the settings are informative (kept when well typed, never an
// error).
func parseQATSpecs(s string, version int) (QATQuant, error) {
	var j struct {
		Weight        SpecJSON        `json:"weight"`
		Activation    SpecJSON        `json:"activation"`
		Observer      json.RawMessage `json:"observer"`
		Freeze        json.RawMessage `json:"freeze_observers_after"`
		LearnScales   json.RawMessage `json:"learn_scales"`
		LSQInit       json.RawMessage `json:"lsq_init"`
		FixInputScale json.RawMessage `json:"fix_input_scale"`
	}
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		return QATQuant{}, fmt.Errorf("quantization: %w", err)
	}
	w, a, err := qatJSON{Weight: j.Weight, Activation: j.Activation}.specs(version)
	if err != nil {
		return QATQuant{}, err
	}
	q := QATQuant{Weight: w, Activation: a}
	Informative(j.Observer, &q.Observer)
	Informative(j.Freeze, &q.FreezeObserversAfter)
	Informative(j.LearnScales, &q.LearnScales)
	Informative(j.LSQInit, &q.LSQInit)
	Informative(j.FixInputScale, &q.FixInputScale)
	return q, nil
}

// QATFile is a QAT model file (kind "qat"), and the start of a QAT checkpoint: the float
// model, the quantization record and every fake-quant site's parameters, fc<i>.w.scale F32
// [out] per channel or [1], fc<i>.w.zero_point I32 (zeros), fc<i>.in.scale F32 [1] and
// fc<i>.in.zero_point I32 [1].
type QATFile struct {
	FloatFile
	Quant QATQuant
	// Weights and Inputs are each layer's weight and input quantization parameters (the
	// weights' Axis 1 per channel, else -1).
	Weights, Inputs []quant.Params
}

// DecodeQAT reads a QAT file of one of kinds (QAT or QATCheckpoint) as the runtime does:
// the float model, the specs (the settings are informative: see ParseQATQuant for the strict
// reading) and every site's parameters, validated (weight zero points 0).
func DecodeQAT(f *safetensors.File, kinds ...Kind) (QATFile, error) {
	ff, err := DecodeFloat(f, kinds...)
	if err != nil {
		return QATFile{}, err
	}
	q, err := parseQATSpecs(f.Metadata[KeyQuant], ff.Info.Version)
	if err != nil {
		return QATFile{}, err
	}
	m := QATFile{FloatFile: ff, Quant: q}
	wmin, wmax := q.Weight.QRange()
	amin, amax := q.Activation.QRange()
	us, err := ff.Info.Units()
	if err != nil {
		return QATFile{}, err
	}
	for i, u := range us {
		n := LayerName(i)
		c, axis := 1, -1
		if q.Weight.Granularity == quant.PerChannel {
			_, c = u.Fan()
			axis = 1
		}
		wp, err := ReadParams(f, n+".w", c, wmin, wmax, axis)
		if err != nil {
			return QATFile{}, err
		}
		for _, z := range wp.ZeroPoints {
			if z != 0 {
				return QATFile{}, fmt.Errorf("tensor %s.w.zero_point: %d, want 0 for symmetric weights", n, z)
			}
		}
		ip, err := ReadParams(f, n+".in", 1, amin, amax, -1)
		if err != nil {
			return QATFile{}, err
		}
		m.Weights = append(m.Weights, wp)
		m.Inputs = append(m.Inputs, ip)
	}
	return m, nil
}

// Encode returns m as a file of kind (QAT, or QATCheckpoint to which the caller adds the
// training state): the float model, the quantization record, tensor_specs (informative) and
// every site's parameters.
func (m QATFile) Encode(kind Kind) (*safetensors.File, error) {
	f, err := m.FloatFile.Encode(kind)
	if err != nil {
		return nil, err
	}
	us, err := m.Info.Units()
	if err != nil {
		return nil, err
	}
	layers := len(us)
	if len(m.Weights) != layers || len(m.Inputs) != layers {
		return nil, fmt.Errorf("%d weight and %d input parameters for %d layers", len(m.Weights), len(m.Inputs), layers)
	}
	if f.Metadata[KeyQuant], err = m.Quant.String(); err != nil {
		return nil, err
	}
	specs := map[string]SpecJSON{}
	for i := range layers {
		n := LayerName(i)
		f.Tensors = ParamsTensors(f.Tensors, n+".w", m.Weights[i])
		f.Tensors = ParamsTensors(f.Tensors, n+".in", m.Inputs[i])
		specs[n+".w"] = ToSpecJSON(m.Quant.Weight, 1)
		specs[n+".in"] = ToSpecJSON(m.Quant.Activation, 0)
	}
	if f.Metadata[KeySpecs], err = MarshalString(specs); err != nil {
		return nil, err
	}
	return f, nil
}

// readObserverRange reads the observer range of the site name, [c] each, finite with
// min <= max per channel.
func readObserverRange(f *safetensors.File, name string, c int) (mins, maxs []float32, err error) {
	if mins, err = F32(f, name+".obs.min", c); err != nil {
		return nil, nil, err
	}
	if maxs, err = F32(f, name+".obs.max", c); err != nil {
		return nil, nil, err
	}
	for i := range mins {
		if mins[i] > maxs[i] {
			return nil, nil, fmt.Errorf("%s: observer range %d: min %v > max %v", name, i, mins[i], maxs[i])
		}
	}
	return mins, maxs, nil
}

// ObserverRange is a fake-quant site's observed range in a QAT checkpoint: <Site>.obs.min
// and <Site>.obs.max, F32 [c] (c the site's scales), finite with Min <= Max per channel.
type ObserverRange struct {
	Site     string // "fc1.w", "fc1.in", ...
	Min, Max []float32
}

// QATCheckpointFile is a QAT checkpoint (kind "qat-checkpoint"): a QAT file, the training
// state record, the observers' ranges (for the sites whose observers keep one) and the
// optimizers' moments: the parameters' under the prefix "opt", the learned scales' (Adam,
// one per learned-scale site) under "opt.extra".
type QATCheckpointFile struct {
	QATFile
	State         TrainState
	Ranges        []ObserverRange
	Solver, Extra Moments
}

// DecodeQATCheckpoint reads a QAT checkpoint. extraSizes are the sizes of the learned scales
// whose moments it holds under "opt.extra" (nil: none are read).
func DecodeQATCheckpoint(f *safetensors.File, extraSizes []int) (QATCheckpointFile, error) {
	qf, err := DecodeQAT(f, QATCheckpoint)
	if err != nil {
		return QATCheckpointFile{}, err
	}
	c := QATCheckpointFile{QATFile: qf}
	for i := range len(qf.Inputs) {
		for _, site := range []struct {
			name string
			p    quant.Params
		}{{LayerName(i) + ".in", qf.Inputs[i]}, {LayerName(i) + ".w", qf.Weights[i]}} {
			if _, ok := f.Tensor(site.name + ".obs.min"); !ok {
				continue
			}
			lo, hi, err := readObserverRange(f, site.name, len(site.p.Scales))
			if err != nil {
				return QATCheckpointFile{}, err
			}
			c.Ranges = append(c.Ranges, ObserverRange{Site: site.name, Min: lo, Max: hi})
		}
	}
	if c.State, err = ParseTrainState(f.Metadata[KeyState]); err != nil {
		return QATCheckpointFile{}, err
	}
	sizes, err := qf.Info.ParamSizes()
	if err != nil {
		return QATCheckpointFile{}, err
	}
	if c.Solver, err = ReadMoments(f, "opt", c.State.Optimizer, c.State.Steps, sizes); err != nil {
		return QATCheckpointFile{}, err
	}
	if extraSizes != nil {
		if c.Extra, err = ReadMoments(f, "opt.extra", OptimizerAdam, c.State.ExtraSteps, extraSizes); err != nil {
			return QATCheckpointFile{}, err
		}
	}
	return c, nil
}

// Encode returns c as a file.
func (c QATCheckpointFile) Encode() (*safetensors.File, error) {
	f, err := c.QATFile.Encode(QATCheckpoint)
	if err != nil {
		return nil, err
	}
	if f.Metadata[KeyState], err = c.State.String(); err != nil {
		return nil, err
	}
	for _, r := range c.Ranges {
		f.Tensors = append(f.Tensors,
			safetensors.FromF32(r.Site+".obs.min", []int{len(r.Min)}, r.Min),
			safetensors.FromF32(r.Site+".obs.max", []int{len(r.Max)}, r.Max))
	}
	f.Tensors = c.Solver.Tensors(f.Tensors, "opt")
	f.Tensors = c.Extra.Tensors(f.Tensors, "opt.extra")
	return f, nil
}
