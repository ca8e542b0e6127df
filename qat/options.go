package qat

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"

	"tinyq/infer"
	"tinyq/modelfile"
	"tinyq/nn"
	"tinyq/quant"
	"tinyq/train"
)

// Target is the widths one QAT model learns: one entry for every layer, or one per layer (a
// mixed-precision model, trained with the recipe of its narrowest widths, DefaultLayers).
type Target []quant.Widths

// ParseTargets parses a comma list of targets, each as quant.ParseLayerWidths reads it: "8,4"
// (W8A8 and W4A4), "4/8" (4-bit weights, 8-bit activations), "2/8+2/8+4/8" (fc1, fc2 and fc3
// at their own widths). A target listed twice is refused.
func ParseTargets(s string) ([]Target, error) {
	var out []Target
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		ws, err := quant.ParseLayerWidths(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		t := Target(ws)
		if seen[t.Name()] {
			return nil, fmt.Errorf("qat: %s listed twice", t.Name())
		}
		seen[t.Name()] = true
		out = append(out, t)
	}
	return out, nil
}

// PerLayer reports whether t gives each layer its own widths.
func (t Target) PerLayer() bool { return len(t) > 1 }

// Narrowest returns the narrowest weight and activation widths of t: those that choose the
// recipe.
func (t Target) Narrowest() quant.Widths { return quant.Narrowest(t) }

// Name is "w4a8", or per layer "w2a8-w2a8-w4a8" (quant.LayerWidthsName); the phase is named
// "qat-" + Name.
func (t Target) Name() string { return quant.LayerWidthsName(t) }

// Recipe returns tinyq's recipe for t: Default at its widths, or per layer DefaultLayers.
func (t Target) Recipe() Recipe {
	if t.PerLayer() {
		return DefaultLayers(t)
	}
	return Default(t[0].Weight, t[0].Activation)
}

// MarshalJSON writes {"w": W, "a": A} with the narrowest widths, and per layer also
// "layers": [[W, A], ...] (the form cmd/mnist's results and manifests record).
func (t Target) MarshalJSON() ([]byte, error) {
	n := t.Narrowest()
	v := struct {
		W      int            `json:"w"`
		A      int            `json:"a"`
		Layers []quant.Widths `json:"layers,omitempty"`
	}{W: n.Weight, A: n.Activation}
	if t.PerLayer() {
		v.Layers = []quant.Widths(t)
	}
	return json.Marshal(v)
}

// Options are the choices of a QAT run beyond its targets (cmd/mnist's QAT flags, typed):
// departures from the recipe (Choices) and the settings every phase shares.
type Options struct {
	Choices
	Observer             quant.ObserverKind // every phase's activation observer
	LSQInit              LSQInit            // how learned scales start
	LearnInput           bool               // learned scales include the network input's (else Config.FixInputScale)
	FreezeObserversAfter int                // Config.FreezeObserversAfter
	// Distill adds the base model's soft targets at temperature DistillT, weighted
	// DistillAlpha (train.Distillation); both are recorded even when Distill is off.
	Distill                bool
	DistillT, DistillAlpha float64
	// Checkpoint, if not "", is the FP32 checkpoint file; each phase checkpoints to
	// PhaseCheckpoint(Checkpoint, its name). Resume continues the phases from theirs.
	Checkpoint string
	Resume     bool
}

// Base is the trained float model a QAT run fine-tunes (or, FromScratch, whose shape and
// input record a new model takes), and how it was trained.
type Base struct {
	Model    *nn.MLP
	Float    *infer.FloatModel // Model in the float runtime: the distillation teacher
	History  *train.History    // its training history (nil when loaded): its epochs are part of its identity
	Training string            // its training record, as its file holds it
	// Train is the FP32 training configuration (epochs, batch, rate, seed, logs): each phase
	// trains with it under its own name, rate and schedule, and FromScratch starts from a
	// model initialised with its Seed.
	Train train.Config
}

// Recipe returns t's recipe for a base trained with base (ForBase) with o's choices
// (Choices.Apply), and the QAT learning rate.
func (o Options) Recipe(t Target, base train.Config) (Recipe, float64) {
	return o.Choices.Apply(t.Recipe().ForBase(base.Schedule), base.LR)
}

// Phase returns the QAT phase that trains t from b (Run runs it), named "qat-" + t.Name():
// the recipe with o's choices, observer, LSQ start, input scale and observer freezing; a new
// model of b's architecture and input record FromScratch; distillation from b.Float; its checkpoint
// and training record (Training). A per-layer t must give every layer of b its widths.
func (o Options) Phase(t Target, b Base) (Phase, error) {
	if t.PerLayer() && len(t) != len(b.Model.Layers) {
		return Phase{}, fmt.Errorf("qat: %s gives %d layers their widths, the model has %d", t.Name(), len(t), len(b.Model.Layers))
	}
	r, lr := o.Recipe(t, b.Train)
	cfg := r.Config
	cfg.Observer = quant.ObserverConfig{Kind: o.Observer}
	cfg.LSQInit = o.LSQInit
	cfg.FixInputScale = !o.LearnInput
	cfg.FreezeObserversAfter = o.FreezeObserversAfter
	start := b.Model
	if o.FromScratch {
		var err error
		if start, err = nn.New(b.Model.Architecture(), rand.New(rand.NewSource(b.Train.Seed))); err != nil {
			return Phase{}, err
		}
		start.Input = b.Model.Input // trained on the data as the base model reads it
	}
	tc := b.Train
	tc.Name = "qat-" + t.Name()
	tc.LR, tc.Schedule = lr, r.Schedule
	if o.Distill {
		tc.Distill = &train.Distillation{Teacher: b.Float, Temperature: o.DistillT, Alpha: o.DistillAlpha}
	}
	ph := Phase{Start: start, Config: cfg, Train: tc, Resume: o.Resume, Training: o.Training(t, b)}
	if o.Checkpoint != "" {
		ph.Checkpoint = PhaseCheckpoint(o.Checkpoint, tc.Name)
	}
	return ph, nil
}

// Training returns the training record of t's phase checkpoints (modelfile.QATTraining): b's
// record, the QAT settings (FreezeBNAfter only for a model with BatchNorm), and when fine-tuning (not FromScratch) b's identity
// (modelfile.BaseIdentity of its History's epochs and Fingerprint), so that a phase is never resumed on
// top of another FP32 model.
func (o Options) Training(t Target, b Base) string {
	r, lr := o.Recipe(t, b.Train)
	q := modelfile.QATTraining{
		FP32: json.RawMessage(b.Training), LR: lr, Init: "fp32", Observer: o.Observer.String(),
		LSQ: r.Config.LearnScales, LSQInit: o.LSQInit.String(), Distill: o.Distill, DistillT: o.DistillT, DistillAlpha: o.DistillAlpha,
		Schedule: r.Schedule.String(), LearnInput: o.LearnInput,
	}
	for _, l := range b.Model.Layers {
		if l.BN != nil {
			q.FreezeBNAfter = r.Config.FreezeBNAfter // what the phase's checkpoints hold depends on it
		}
	}
	if o.FromScratch {
		q.Init = "scratch"
	} else {
		epochs := 0
		if b.History != nil {
			epochs = len(b.History.Epochs)
		}
		q.FP32Model = modelfile.BaseIdentity(epochs, Fingerprint(b.Model))
	}
	return q.String()
}

// ModelNames are the names of the models trained for t that cmd/mnist saves: "qat-" + Name
// (the QAT file, which holds one width for all layers, so not per layer) and its integer
// conversion, + "-int".
func (t Target) ModelNames() []string {
	n := "qat-" + t.Name()
	if t.PerLayer() {
		return []string{n + "-int"}
	}
	return []string{n, n + "-int"}
}

// Checkpoints are the checkpoint files of the phases of targets (PhaseCheckpoint), or none
// without Checkpoint.
func (o Options) Checkpoints(targets []Target) []string {
	var ps []string
	for _, t := range targets {
		if o.Checkpoint != "" {
			ps = append(ps, PhaseCheckpoint(o.Checkpoint, "qat-"+t.Name()))
		}
	}
	return ps
}

// PhaseCheckpoint is the checkpoint file of the QAT phase named phase, next to the FP32
// checkpoint path: ck.safetensors -> ck.qat-w4a4.safetensors.
func PhaseCheckpoint(path, phase string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "." + phase + ext
}

// Fingerprint is the SHA-256, in hex, of m's parameters (modelfile.Fingerprint of each
// layer's weights then biases): the identity of a trained model.
func Fingerprint(m *nn.MLP) string {
	var params [][]float32
	for _, l := range m.Layers {
		params = append(params, l.Weights(), l.Bias())
	}
	return modelfile.Fingerprint(params...)
}
