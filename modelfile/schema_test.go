package modelfile_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"tinyq/modelfile"
	"tinyq/quant"
	"tinyq/safetensors"
)

// The schemas are tested here with files made by modelfile alone: the round trips of models
// built by the training stack and read by the runtime are crosstest's.

// arch322 is the 3-2-2 architecture of docs/FORMAT.md section 9.
var arch322 = modelfile.Arch{Sizes: []int{3, 2, 2}, Activations: []string{"relu", "identity"}}

// floatFile322 is a float file of arch322 whose values are exact in float16 too.
func floatFile322(half bool) modelfile.FloatFile {
	return modelfile.FloatFile{
		Info: modelfile.Info{Arch: arch322, Input: modelfile.DefaultInput(3), Training: `{"seed":1}`},
		Params: modelfile.FloatParams{
			Weights: [][]float32{{0.5, -1, 0.25, 2, -0.75, 1.5}, {1, -0.5, -2, 0.75}},
			Biases:  [][]float32{{0.125, -0.25}, {0, 0.5}},
			Half:    half,
		},
	}
}

// perTensor and perChannel are quantization parameters of the given range.
func perTensor(s float32, zp, qmin, qmax int32) quant.Params {
	return quant.Params{Scales: []float32{s}, ZeroPoints: []int32{zp}, QMin: qmin, QMax: qmax, Axis: -1}
}

func perChannel(axis int, qmin, qmax int32, s ...float32) quant.Params {
	return quant.Params{Scales: s, ZeroPoints: make([]int32, len(s)), QMin: qmin, QMax: qmax, Axis: axis}
}

var (
	w8 = quant.Spec{Bits: 8, Scheme: quant.Symmetric, Granularity: quant.PerChannel}
	w4 = quant.Spec{Bits: 4, Scheme: quant.Symmetric, Granularity: quant.PerChannel}
	a8 = quant.Spec{Bits: 8, Scheme: quant.Affine, Granularity: quant.PerTensor}
)

// intFile322 is an integer file of arch322: W4A8 static (packed weights), W8 dynamic, or
// mixed (layer_bits [[2,8],[8,8]]).
func intFile322(kind string) modelfile.IntFile {
	m := modelfile.IntFile{Info: modelfile.Info{Arch: arch322, Input: modelfile.DefaultInput(3), Training: "t"}}
	switch kind {
	case "w4a8":
		m.Quant = modelfile.IntQuant{Mode: modelfile.ModeStatic, Weight: w4, Activation: a8, Calibration: "minmax"}
		m.Layers = []modelfile.IntLayer{
			{Weights: []byte{0x1f, 0x7e, 0x92}, WeightScales: []float32{0.25, 0.5}, Bias: []int32{5, -7}, InScale: 1.0 / 255, InQMin: 0, InQMax: 255},
			{Weights: []byte{0x3d, 0xa1}, WeightScales: []float32{0.125, 0.0625}, Bias: []int32{0, 9}, InScale: 0.02, InZP: 3, InQMin: 0, InQMax: 255},
		}
	case "w8-dynamic":
		m.Quant = modelfile.IntQuant{Mode: modelfile.ModeDynamic, Weight: w8}
		m.Layers = []modelfile.IntLayer{
			{Weights: []byte{1, 2, 3, 0x81, 5, 6}, WeightScales: []float32{0.25, 0.5}, BiasF: []float32{0.125, -0.25}},
			{Weights: []byte{7, 8, 9, 10}, WeightScales: []float32{0.125, 0.0625}, BiasF: []float32{0, 0.5}},
		}
	case "mixed":
		m.Quant = modelfile.IntQuant{Mode: modelfile.ModeStatic, Weight: w8, Activation: a8,
			LayerBits: []quant.Widths{{Weight: 2, Activation: 8}, {Weight: 8, Activation: 8}}}
		m.Layers = []modelfile.IntLayer{
			{Weights: []byte{0x1b, 0x02}, WeightScales: []float32{0.25, 0.5}, Bias: []int32{5, -7}, InScale: 1.0 / 255, InQMin: 0, InQMax: 255},
			{Weights: []byte{1, 2, 3, 4}, WeightScales: []float32{0.125, 0.0625}, Bias: []int32{0, 9}, InScale: 0.02, InZP: 3, InQMin: 0, InQMax: 255},
		}
	}
	return m
}

// qatFile322 is a W4A8 QAT file of arch322 with learned scales.
func qatFile322() modelfile.QATFile {
	return modelfile.QATFile{
		FloatFile: floatFile322(false),
		Quant: modelfile.QATQuant{Weight: quant.Spec{Bits: 4, Scheme: quant.Symmetric, Granularity: quant.PerChannel, Axis: 1}, Activation: a8,
			Observer: "moving-average", FreezeObserversAfter: 2, LearnScales: true, LSQInit: "meanabs", FixInputScale: true},
		Weights: []quant.Params{perChannel(1, -7, 7, 0.25, 0.5), perChannel(1, -7, 7, 0.125, 0.0625)},
		Inputs:  []quant.Params{perTensor(1.0/255, 0, 0, 255), perTensor(0.02, 3, 0, 255)},
	}
}

// state is a training state of two epochs with Adam moments for arch322's parameters.
func state() (modelfile.TrainState, modelfile.Moments) {
	st := modelfile.TrainState{Epochs: 2, Optimizer: modelfile.OptimizerAdam, Steps: 8, ExtraSteps: 8,
		History: []modelfile.EpochRecord{{TrainLoss: 1, TestAccuracy: 50, TestLoss: 0.5, Seconds: 0.25}, {TrainLoss: 0.5, TestAccuracy: 75, TestLoss: 0.25, Seconds: 0.5}}}
	var m modelfile.Moments
	for _, n := range []int{6, 2, 4, 2} {
		mv, vv := make([]float32, n), make([]float32, n)
		for i := range mv {
			mv[i], vv[i] = float32(i)*0.5-1, float32(i)*0.25
		}
		m.M, m.V = append(m.M, mv), append(m.V, vv)
	}
	return st, m
}

// roundTrip writes f with modelfile.Write and reads it back.
func roundTrip(t *testing.T, f *safetensors.File) *safetensors.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.safetensors")
	if err := modelfile.Write(p, f); err != nil {
		t.Fatal(err)
	}
	g, err := modelfile.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestSchemasRoundTrip: every schema encoded, written, read and decoded gives back what was
// encoded, with the header's version and kind.
func TestSchemasRoundTrip(t *testing.T) {
	for _, half := range []bool{false, true} {
		want := floatFile322(half)
		f, err := want.Encode(modelfile.Float)
		if err != nil {
			t.Fatal(err)
		}
		got, err := modelfile.DecodeFloat(roundTrip(t, f), modelfile.Float)
		if err != nil {
			t.Fatal(err)
		}
		want.Info.Version, want.Info.Kind = modelfile.BaseVersion, modelfile.Float
		if !reflect.DeepEqual(got, want) {
			t.Errorf("float (half %t): %+v, want %+v", half, got, want)
		}
	}
	for _, kind := range []string{"w4a8", "w8-dynamic", "mixed"} {
		want := intFile322(kind)
		f, err := want.Encode()
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		got, err := modelfile.DecodeInt(roundTrip(t, f))
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		want.Info.Version, want.Info.Kind = want.Quant.Version(), modelfile.Int
		if kind == "mixed" {
			want.Quant.Weight.Bits = 8 // the widest layer's, as written
		}
		if want.Quant.Weight.Granularity == quant.PerChannel {
			want.Quant.Weight.Axis = 0
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("int %s:\n%+v, want\n%+v", kind, got, want)
		}
	}
	want := qatFile322()
	f, err := want.Encode(modelfile.QAT)
	if err != nil {
		t.Fatal(err)
	}
	got, err := modelfile.DecodeQAT(roundTrip(t, f), modelfile.QAT)
	if err != nil {
		t.Fatal(err)
	}
	want.Info.Version, want.Info.Kind = modelfile.BaseVersion, modelfile.QAT
	if !reflect.DeepEqual(got, want) {
		t.Errorf("qat:\n%+v, want\n%+v", got, want)
	}
	st, mom := state()
	ck := modelfile.CheckpointFile{FloatFile: floatFile322(false), State: st, Solver: mom}
	ck.State.ExtraSteps = 0
	if f, err = ck.Encode(); err != nil {
		t.Fatal(err)
	}
	gck, err := modelfile.DecodeCheckpoint(roundTrip(t, f))
	if err != nil {
		t.Fatal(err)
	}
	ck.Info.Version, ck.Info.Kind = modelfile.BaseVersion, modelfile.Checkpoint
	if !reflect.DeepEqual(gck, ck) {
		t.Errorf("checkpoint:\n%+v, want\n%+v", gck, ck)
	}
	extra := modelfile.Moments{M: [][]float32{{0.5}, {1, 2}}, V: [][]float32{{0.25}, {0, 3}}}
	qck := modelfile.QATCheckpointFile{QATFile: qatFile322(), State: st, Solver: mom, Extra: extra,
		Ranges: []modelfile.ObserverRange{{Site: "fc2.in", Min: []float32{-1}, Max: []float32{2}}}}
	if f, err = qck.Encode(); err != nil {
		t.Fatal(err)
	}
	gq, err := modelfile.DecodeQATCheckpoint(roundTrip(t, f), []int{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	qck.Info.Version, qck.Info.Kind = modelfile.BaseVersion, modelfile.QATCheckpoint
	if !reflect.DeepEqual(gq, qck) {
		t.Errorf("qat checkpoint:\n%+v, want\n%+v", gq, qck)
	}
}

// TestIntQuantWritten: the integer quantization record is written as tinyq always wrote it
// (field order, the widest widths with layer_bits, no activation in dynamic mode), and with
// layer_bits the file is format version 3.
func TestIntQuantWritten(t *testing.T) {
	for kind, want := range map[string]string{
		"w4a8":       `{"mode":"static","weight":{"bits":4,"scheme":"symmetric","granularity":"per-channel","axis":0},"activation":{"bits":8,"scheme":"affine","granularity":"per-tensor"},"calibration":"minmax"}`,
		"w8-dynamic": `{"mode":"dynamic","weight":{"bits":8,"scheme":"symmetric","granularity":"per-channel","axis":0}}`,
		"mixed":      `{"mode":"static","weight":{"bits":8,"scheme":"symmetric","granularity":"per-channel","axis":0},"activation":{"bits":8,"scheme":"affine","granularity":"per-tensor"},"layer_bits":[[2,8],[8,8]]}`,
	} {
		f, err := intFile322(kind).Encode()
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Metadata[modelfile.KeyQuant]; got != want {
			t.Errorf("%s: quantization %s, want %s", kind, got, want)
		}
		if v, want := f.Metadata[modelfile.KeyVersion], map[bool]string{true: "3", false: "2"}[kind == "mixed"]; v != want {
			t.Errorf("%s: format_version %s, want %s", kind, v, want)
		}
	}
}

// TestParseIntQuant: each malformed integer quantization record is refused with a message
// naming the problem; informative fields never are.
func TestParseIntQuant(t *testing.T) {
	const w = `"weight":{"bits":8,"scheme":"symmetric","granularity":"per-channel","axis":0}`
	const a = `"activation":{"bits":8,"scheme":"affine","granularity":"per-tensor"}`
	for _, c := range []struct {
		name, s string
		version int
		want    string // "" for valid
	}{
		{"static", `{"mode":"static",` + w + `,` + a + `}`, 2, ""},
		{"dynamic", `{"mode":"dynamic",` + w + `}`, 2, ""},
		{"calibration 7", `{"mode":"dynamic",` + w + `,"calibration":7,"observer":[1]}`, 2, ""},
		{"mixed", `{"mode":"static",` + w + `,` + a + `,"layer_bits":[[2,8],[8,4]]}`, 3, ""},
		{"not json", `{"mode":`, 2, "quantization: "},
		{"mode", `{"mode":"fast",` + w + `}`, 2, `mode "fast", want static or dynamic`},
		{"affine weights", `{"mode":"dynamic","weight":{"bits":8,"scheme":"affine","granularity":"per-tensor"}}`, 2, "weight scheme"},
		{"weight axis 1", `{"mode":"dynamic","weight":{"bits":8,"scheme":"symmetric","granularity":"per-channel","axis":1}}`, 2, "without axis 0"},
		{"weight axis 1, version 1", `{"mode":"dynamic","weight":{"bits":8,"scheme":"symmetric","granularity":"per-channel","axis":1}}`, 1, ""},
		{"static without activation", `{"mode":"static",` + w + `}`, 2, "static model without an activation spec"},
		{"symmetric activation", `{"mode":"static",` + w + `,"activation":{"bits":8,"scheme":"symmetric","granularity":"per-tensor"}}`, 2, "want affine per-tensor"},
		{"layer_bits in version 2", `{"mode":"static",` + w + `,` + a + `,"layer_bits":[[2,8],[8,8]]}`, 2, "layer_bits in a format_version 2 file"},
		{"layer_bits count", `{"mode":"static",` + w + `,` + a + `,"layer_bits":[[2,8]]}`, 3, "1 layer_bits for 2 layers"},
		{"layer_bits triple", `{"mode":"static",` + w + `,` + a + `,"layer_bits":[[2,8,5],[8,8]]}`, 3, "layer_bits entry 1 is [2 8 5], want a pair"},
		{"layer_bits width 9", `{"mode":"static",` + w + `,` + a + `,"layer_bits":[[2,8],[9,8]]}`, 3, "layer_bits entry 2: weights"},
		{"layer_bits dynamic", `{"mode":"dynamic",` + w + `,"layer_bits":[[2,8],[8,8]]}`, 3, "per-layer widths need static mode"},
	} {
		q, err := modelfile.ParseIntQuant(c.s, c.version, 2)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v (%+v), want an error with %q", c.name, err, q, c.want)
		}
	}
	q, err := modelfile.ParseIntQuant(`{"mode":"static",`+w+`,`+a+`,"observer":"mse"}`, 1, 2)
	if err != nil || q.Calibration != "mse" {
		t.Errorf("version 1 observer: calibration %q, %v; want mse", q.Calibration, err)
	}
}

// TestQATQuantReadings: a QAT record's settings are checked by the strict reading (training
// continues with them) and informative in the runtime's (DecodeQAT); the specs are checked
// by both.
func TestQATQuantReadings(t *testing.T) {
	f, err := qatFile322().Encode(modelfile.QAT)
	if err != nil {
		t.Fatal(err)
	}
	good := f.Metadata[modelfile.KeyQuant]
	for _, c := range []struct {
		name, old, new  string
		strict, lenient string // the errors wanted ("" valid)
	}{
		{"freeze x", `"freeze_observers_after":2`, `"freeze_observers_after":"x"`, "freeze_observers_after", ""},
		{"observer 1", `"observer":"moving-average"`, `"observer":1`, "observer", ""},
		{"weight axis 0", `"axis":1`, `"axis":0`, "without axis 1", "without axis 1"},
		{"affine weights", `"scheme":"symmetric"`, `"scheme":"affine"`, "want symmetric weights", "want symmetric weights"},
	} {
		s := strings.Replace(good, c.old, c.new, 1)
		if s == good {
			t.Fatalf("%s: %q not in %s", c.name, c.old, good)
		}
		_, err := modelfile.ParseQATQuant(s, modelfile.BaseVersion)
		if err == nil || !strings.Contains(err.Error(), c.strict) {
			t.Errorf("%s: strict reading %v, want %q", c.name, err, c.strict)
		}
		f.Metadata[modelfile.KeyQuant] = s
		_, err = modelfile.DecodeQAT(roundTrip(t, f), modelfile.QAT)
		if (c.lenient == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.lenient)) {
			t.Errorf("%s: runtime reading %v, want %q", c.name, err, c.lenient)
		}
	}
	q, err := modelfile.ParseQATQuant(good, modelfile.BaseVersion)
	if err != nil || !reflect.DeepEqual(q, qatFile322().Quant) {
		t.Errorf("strict reading %+v, %v; want %+v", q, err, qatFile322().Quant)
	}
}

// TestParseTrainState: inconsistent or out-of-range training state records are refused.
func TestParseTrainState(t *testing.T) {
	st, _ := state()
	good, err := st.String()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := modelfile.ParseTrainState(good); err != nil || !reflect.DeepEqual(got, st) {
		t.Fatalf("%s: %+v, %v", good, got, err)
	}
	for _, c := range []struct{ name, old, new, want string }{
		{"epochs", `"epochs":2`, `"epochs":3`, "inconsistent"},
		{"steps", `"steps":8`, `"steps":1`, "inconsistent"},
		{"negative loss", `"TrainLoss":1`, `"TrainLoss":-1`, "history entry 1"},
		{"accuracy 101", `"TestAccuracy":75`, `"TestAccuracy":101`, "history entry 2"},
		{"optimizer", `"adam"`, `"adamw"`, `optimizer "adamw", want adam or sgd`},
		{"epochs string", `"epochs":2`, `"epochs":"2"`, "train_state: "},
	} {
		s := strings.Replace(good, c.old, c.new, 1)
		if s == good {
			t.Fatalf("%s: %q not in %s", c.name, c.old, good)
		}
		if _, err := modelfile.ParseTrainState(s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// TestCheckpointTensorsChecked: moments no optimizer produces (a negative second moment),
// missing moments, and an observer range with min > max are refused when read.
func TestCheckpointTensorsChecked(t *testing.T) {
	st, mom := state()
	st.ExtraSteps = 0
	mom.V[1] = []float32{0, -1}
	if err := mom.Check("opt"); err == nil || !strings.Contains(err.Error(), "tensor opt.v.1: element 1 is -1") {
		t.Errorf("negative second moment: %v", err)
	}
	f, err := modelfile.CheckpointFile{FloatFile: floatFile322(false), State: st, Solver: mom}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := modelfile.DecodeCheckpoint(roundTrip(t, f)); err == nil || !strings.Contains(err.Error(), "opt.v.1") {
		t.Errorf("checkpoint with a negative second moment: %v", err)
	}
	_, mom = state()
	mom.V = nil // Adam, but no second moments stored
	if f, err = (modelfile.CheckpointFile{FloatFile: floatFile322(false), State: st, Solver: mom}).Encode(); err != nil {
		t.Fatal(err)
	}
	if _, err := modelfile.DecodeCheckpoint(roundTrip(t, f)); err == nil || !strings.Contains(err.Error(), "tensor opt.v.0 missing") {
		t.Errorf("Adam checkpoint without second moments: %v", err)
	}
	_, mom = state()
	qck := modelfile.QATCheckpointFile{QATFile: qatFile322(), State: st, Solver: mom,
		Ranges: []modelfile.ObserverRange{{Site: "fc1.w", Min: []float32{0, 1}, Max: []float32{1, 0.5}}}}
	if f, err = qck.Encode(); err != nil {
		t.Fatal(err)
	}
	if _, err := modelfile.DecodeQATCheckpoint(roundTrip(t, f), nil); err == nil || !strings.Contains(err.Error(), "fc1.w: observer range 1: min 1 > max 0.5") {
		t.Errorf("observer range min > max: %v", err)
	}
}

// TestEncodeRefusesInconsistent: an encoder refuses content that does not fit its
// architecture, rather than writing a file no reader accepts.
func TestEncodeRefusesInconsistent(t *testing.T) {
	ff := floatFile322(false)
	ff.Params.Biases[1] = ff.Params.Biases[1][:1]
	if _, err := ff.Encode(modelfile.Float); err == nil || !strings.Contains(err.Error(), "layer fc2: 4 weights and 1 biases for 2x2") {
		t.Errorf("float with a short bias: %v", err)
	}
	m := intFile322("w4a8")
	m.Layers[0].Weights = m.Layers[0].Weights[:2]
	if _, err := m.Encode(); err == nil || !strings.Contains(err.Error(), "layer fc1: 2 weight bytes, want 3") {
		t.Errorf("int with short packed weights: %v", err)
	}
	q := qatFile322()
	q.Inputs = q.Inputs[:1]
	if _, err := q.Encode(modelfile.QAT); err == nil || !strings.Contains(err.Error(), "2 weight and 1 input parameters for 2 layers") {
		t.Errorf("qat without the second input's parameters: %v", err)
	}
}
