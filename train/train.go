package train

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"time"

	"github.com/schollz/progressbar/v3"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"tinyq/internal/par"
	"tinyq/nn"
	"tinyq/quant"
)

// Data is a labelled set: Images row-major [N, features], Labels [N] class indices.
type Data struct {
	Images []float32
	Labels []uint8
}

// Len returns the number of samples.
func (d Data) Len() int { return len(d.Labels) }

// Config configures Fit. Zero values mean the documented defaults.
type Config struct {
	Epochs    int       // default 5
	Batch     int       // default 128
	Optimizer Optimizer // default Adam
	LR        float64   // default 1e-3
	Momentum  float64   // SGD only; default 0.9
	Seed      int64     // shuffling seed, 1 to MaxSeed (CheckSeed); default DefaultSeed
	EvalBatch int       // evaluation batch size, default 1000
	Classes   int       // default: the model's output size

	// Progress, if non-nil, receives a progress bar per epoch (use a terminal).
	Progress io.Writer
	// Log, if non-nil, receives one summary line per epoch.
	Log io.Writer
	// Name labels the log lines (for example "fp32", "qat-w4a4").
	Name string

	// BeforeEpoch, if set, is called before each epoch (0-based), for example to freeze
	// quantization observers.
	BeforeEpoch func(epoch int) error
	// SetTraining, if set, is called with true before an epoch's training steps and with false
	// before evaluation (for example to switch quantization observers on and off).
	SetTraining func(on bool)
	// BeforeStep, if set, is called before each training step with the number of real rows in
	// the batch (the rest is padding), for example so that observers skip the padding.
	BeforeStep func(rows int)
	// Extra, if set, is called once with the built training graph and returns further learnable
	// nodes (for example learned quantization scales) and the solver that updates them.
	Extra func(net *nn.Net) (G.Nodes, *Solver, error)

	// Distill, if set, adds a teacher's soft targets to the labels (knowledge distillation).
	Distill *Distillation
	// Schedule shapes the learning rate over the run (default ConstantLR).
	Schedule Schedule
	// Shift, if positive, augments every training image with a random translation of up to
	// Shift pixels in each direction (zero fill; torchvision's RandomAffine(translate) with
	// whole pixels), drawn per sample and epoch from Seed. Images are the model's input
	// record (Height×Width pixels). 0 trains on the images as they are.
	Shift int
}

// Teacher computes logits [rows, classes] of rows samples x [rows, in] (infer.FloatModel's
// Forward has this form).
type Teacher interface {
	Forward(x []float32, rows int, logits []float32) error
}

// Distillation trains against a teacher's soft targets as well as the labels: the loss is
// (1-Alpha)·cross-entropy with the labels plus Alpha·T²·KL(softmax(teacher/T) ‖
// softmax(logits/T)) (Hinton et al. 2015; autograd.DistillationLoss). The teacher is fixed:
// it runs once over a training set, in batches of Config.EvalBatch rows, at the start of the
// first epoch on it, and every step reads its samples' logits from that pass.
type Distillation struct {
	Teacher     Teacher
	Temperature float64 // T, default 1
	Alpha       float64 // weight of the soft targets in [0, 1]; 0 is plain cross-entropy
}

// Schedule is a learning-rate schedule.
type Schedule int

const (
	// ConstantLR keeps the learning rate at Config.LR.
	ConstantLR Schedule = iota
	// CosineLR decays it from Config.LR towards 0 over the run's steps, step k of K at
	// LR·(1+cos(π·k/K))/2 (Loshchilov & Hutter 2017, SGDR, without restarts); an Extra solver's
	// rate follows the same factor.
	CosineLR
)

// String returns "constant" or "cosine".
func (s Schedule) String() string {
	switch s {
	case ConstantLR:
		return "constant"
	case CosineLR:
		return "cosine"
	}
	return fmt.Sprintf("Schedule(%d)", int(s))
}

// ParseSchedule parses String's names, "constant" and "cosine".
func ParseSchedule(s string) (Schedule, error) {
	for _, v := range []Schedule{ConstantLR, CosineLR} {
		if s == v.String() {
			return v, nil
		}
	}
	return 0, fmt.Errorf("train: schedule %q, want constant or cosine", s)
}

func (c *Config) defaults(m *nn.MLP) {
	if c.Epochs == 0 {
		c.Epochs = 5
	}
	if c.Batch == 0 {
		c.Batch = 128
	}
	if c.Optimizer == 0 {
		c.Optimizer = Adam
	}
	if c.LR == 0 {
		c.LR = 1e-3
	}
	if c.Momentum == 0 && c.Optimizer == SGD {
		c.Momentum = 0.9
	}
	if c.EvalBatch == 0 {
		c.EvalBatch = 1000
	}
	if c.Seed == 0 {
		c.Seed = DefaultSeed
	}
	if c.Classes == 0 && len(m.Layers) > 0 {
		c.Classes = m.Layers[len(m.Layers)-1].Out
	}
	if c.Distill != nil {
		d := *c.Distill // the caller's value is not modified
		if d.Temperature == 0 {
			d.Temperature = 1
		}
		c.Distill = &d
	}
}

// MaxSeed is the largest seed that names a run of its own. tinyq draws its random numbers
// from math/rand, whose Source (rand.NewSource, rngSource.Seed) reduces a seed modulo
// 2^31-1 = 2147483647, adds 2^31-1 to a negative remainder, and replaces 0 by 89482311. The
// seeds 1 to 2^31-2 are therefore their own remainders, each a different stream, and every
// other int64 repeats one of them: 0 and 2^31-1 that of 89482311, 2^31 that of 1, -1 that
// of 2^31-2.
const MaxSeed = 1<<31 - 2

// DefaultSeed is the seed of a Config whose Seed is zero: 89482311, the seed math/rand uses
// for 0 (see MaxSeed), so that a zero Seed shuffles exactly as it always has.
const DefaultSeed = 89482311

// CheckSeed returns an error unless seed is in 1 to MaxSeed: the seeds that math/rand keeps
// apart, so that the recorded seed determines the run. Commands that take a seed check it
// here before any work.
func CheckSeed(seed int64) error {
	if seed < 1 || seed > MaxSeed {
		return fmt.Errorf("train: seed %d outside 1 to %d (math/rand reduces a seed modulo 2^31-1, so any other seed repeats the run of one of these)", seed, MaxSeed)
	}
	return nil
}

// Validate reports the first bad setting (after defaults).
func (c Config) Validate() error {
	switch {
	case c.Epochs < 0:
		return fmt.Errorf("train: epochs %d, want >= 0", c.Epochs)
	case c.Batch <= 0:
		return fmt.Errorf("train: batch %d, want > 0", c.Batch)
	case c.EvalBatch <= 0:
		return fmt.Errorf("train: eval batch %d, want > 0", c.EvalBatch)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("train: learning rate %v, want > 0", c.LR)
	case c.Shift < 0 || c.Shift > MaxShift:
		return fmt.Errorf("train: shift %d, want 0 to %d pixels", c.Shift, MaxShift)
	case c.Schedule != ConstantLR && c.Schedule != CosineLR:
		return fmt.Errorf("train: unknown schedule %d", int(c.Schedule))
	}
	if err := CheckSeed(c.Seed); err != nil {
		return err
	}
	if d := c.Distill; d != nil {
		switch {
		case d.Teacher == nil:
			return errors.New("train: distillation without a teacher")
		case !(d.Temperature > 0) || math.IsInf(d.Temperature, 0):
			return fmt.Errorf("train: distillation temperature %v, want finite and > 0", d.Temperature)
		case !(d.Alpha >= 0 && d.Alpha <= 1):
			return fmt.Errorf("train: distillation alpha %v, want in [0, 1]", d.Alpha)
		}
	}
	return nil
}

// Epoch is what one epoch measured.
type Epoch struct {
	TrainLoss    float64 // mean training loss over the epoch
	TestAccuracy float64 // percent, on the whole test set
	TestLoss     float64
	Seconds      float64 // training time, without evaluation
}

// History is the per-epoch record of a Fit.
type History struct {
	Epochs []Epoch
}

// Final returns the last epoch (zero if none).
func (h *History) Final() Epoch {
	if len(h.Epochs) == 0 {
		return Epoch{}
	}
	return h.Epochs[len(h.Epochs)-1]
}

// EpochSeconds returns the training seconds of each epoch (nil for a nil History: a model
// that was loaded, not trained).
func (h *History) EpochSeconds() []float64 {
	if h == nil {
		return nil
	}
	s := make([]float64, len(h.Epochs))
	for i, e := range h.Epochs {
		s[i] = e.Seconds
	}
	return s
}

// maxElements bounds the elements of one training buffer (a batch of inputs or targets):
// 2^31, 8 GiB of float32, beyond any machine this trains on.
const maxElements = 1 << 31

// Trainer holds a compiled training program for one model. It is the one place where
// gorgonia's training protocol (Let, RunAll, Step, Reset) is written.
type Trainer struct {
	cfg     Config
	model   *nn.MLP
	net     *nn.Net
	vm      G.VM
	y       *G.Node
	cost    *G.Node
	x, yv   []float32 // input and one-hot target buffers, [batch, in] and [batch, classes]
	tv      []float32 // the teacher's logits with Distill, [batch, classes]
	teach   []float32 // with Distill, the teacher's logits of every sample of teachOf, [N, classes]
	teachOf *float32  // &Images[0] of the training set teach belongs to
	solver  *Solver
	params  []G.ValueGrad
	extraS  *Solver
	extraLR float64 // extraS's own rate, scaled by the schedule
	extra   []G.ValueGrad
	eval    *nn.Evaluator
	rng     *rand.Rand
	order   []int
	gat     gathering   // the batch being gathered (gather)
	gatWork func(i int) // t.gatherPart, bound once
	hasBN   bool        // the model has a BatchNorm (padding rows repeat real images)
	epoch   int
	replay  int // shuffles to replay before the next epoch (after Restore)
}

// NewTrainer builds and compiles the training graph of model (with its hooks): forward,
// softmax cross-entropy, and the gradients of every parameter.
func NewTrainer(model *nn.MLP, cfg Config) (*Trainer, error) {
	if model == nil {
		return nil, errors.New("train: no model")
	}
	cfg.defaults(model)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(model.Layers) == 0 {
		return nil, errors.New("train: model has no layers")
	}
	// Buffers of Batch×width are allocated below; a width sum that overflows is refused here,
	// not by a panic in make.
	if width := model.InputSize() + cfg.Classes; cfg.Batch > maxElements/max(width, 1) {
		return nil, fmt.Errorf("train: batch %d of %d-wide samples exceeds %d elements", cfg.Batch, width, maxElements)
	}
	net, err := model.Build(cfg.Batch)
	if err != nil {
		return nil, err
	}
	if model.Layers[len(model.Layers)-1].Out != cfg.Classes {
		return nil, fmt.Errorf("train: model has %d outputs for %d classes", model.Layers[len(model.Layers)-1].Out, cfg.Classes)
	}
	g := net.Graph
	t := &Trainer{cfg: cfg, model: model, net: net, rng: rand.New(rand.NewSource(cfg.Seed))}
	for _, l := range model.Layers {
		t.hasBN = t.hasBN || l.BN != nil
	}
	if in := model.InputRecord(); cfg.Shift > 0 {
		if err := checkShift(cfg.Shift, in.Height, in.Width, model.InputSize()); err != nil {
			return nil, err
		}
	}
	t.y = G.NewMatrix(g, tensor.Float32, G.WithShape(cfg.Batch, cfg.Classes), G.WithName("y"))
	var teacher *G.Node // the teacher's logits, with Distill
	if d := cfg.Distill; d != nil {
		t.tv = make([]float32, cfg.Batch*cfg.Classes)
		teacher = G.NewMatrix(g, tensor.Float32, G.WithShape(cfg.Batch, cfg.Classes), G.WithName("teacher"))
		if t.cost, err = net.DistillationLoss(t.y, teacher, d.Temperature, d.Alpha); err != nil {
			return nil, err
		}
	} else if t.cost, err = net.Loss(t.y); err != nil {
		return nil, err
	}
	learn := append(G.Nodes(nil), net.Params...)
	var extra G.Nodes
	if cfg.Extra != nil {
		if extra, t.extraS, err = cfg.Extra(net); err != nil {
			return nil, fmt.Errorf("train: extra parameters: %w", err)
		}
		if t.extraS != nil {
			t.extraLR = t.extraS.LR
		}
		learn = append(learn, extra...)
	}
	grads, err := G.Grad(t.cost, learn...)
	if err != nil {
		return nil, fmt.Errorf("train: gradients: %w", err)
	}
	for i, n := range learn {
		p := param{value: n.Value(), grad: grads[i]}
		if i < len(net.Params) {
			t.params = append(t.params, p)
		} else {
			t.extra = append(t.extra, p)
		}
	}
	if t.vm, err = nn.Compile(g, append(G.Nodes{t.cost}, grads...)); err != nil {
		return nil, err
	}
	in := model.InputSize()
	t.x = make([]float32, cfg.Batch*in)
	t.yv = make([]float32, cfg.Batch*cfg.Classes)
	if err := G.Let(net.X, tensor.New(tensor.WithShape(cfg.Batch, in), tensor.WithBacking(t.x))); err != nil {
		return nil, fmt.Errorf("train: bind input: %w", err)
	}
	if err := G.Let(t.y, tensor.New(tensor.WithShape(cfg.Batch, cfg.Classes), tensor.WithBacking(t.yv))); err != nil {
		return nil, fmt.Errorf("train: bind target: %w", err)
	}
	if teacher != nil {
		if err := G.Let(teacher, tensor.New(tensor.WithShape(cfg.Batch, cfg.Classes), tensor.WithBacking(t.tv))); err != nil {
			return nil, fmt.Errorf("train: bind teacher: %w", err)
		}
	}
	if t.solver, err = NewSolver(cfg.Optimizer, cfg.LR, cfg.Momentum); err != nil {
		return nil, err
	}
	if t.eval, err = model.NewEvaluator(cfg.EvalBatch); err != nil {
		return nil, err
	}
	return t, nil
}

// Fit trains model in place on trainSet for cfg.Epochs epochs and evaluates it on testSet
// after each epoch. The same seed gives the same result on the same machine.
func Fit(model *nn.MLP, trainSet, testSet Data, cfg Config) (*History, error) {
	t, err := NewTrainer(model, cfg)
	if err != nil {
		return nil, err
	}
	return t.Run(trainSet, testSet, Checkpoints{})
}

// gather copies the images of samples idx (rows of in values) into the first rows of the
// batch input t.x, split over the CPUs (tinyq/internal/par): the rows are scattered over the
// 188 MB training set, so each copy waits on memory, and two cores wait half as long (about
// 90 µs a batch on one core of the benchmark machine, a tenth of a step).
func (t *Trainer) gather(images []float32, idx []int, in, lo int) {
	t.gat = gathering{images: images, idx: idx, in: in, lo: lo}
	if t.gatWork == nil {
		t.gatWork = t.gatherPart // bound once: no allocation per batch
	}
	par.Do(gatherParts, t.gatWork)
	t.gat = gathering{}
}

// gatherParts is how many parts gather splits a batch into.
const gatherParts = 4

// gathering is the batch gather in progress.
type gathering struct {
	images []float32
	idx    []int
	in     int
	lo     int // the batch's first position in the epoch's order (Shift)
}

// gatherPart copies part i of the batch.
func (t *Trainer) gatherPart(i int) {
	g := t.gat
	lo, hi := len(g.idx)*i/gatherParts, len(g.idx)*(i+1)/gatherParts
	for r := lo; r < hi; r++ {
		dst, src := t.x[r*g.in:(r+1)*g.in], g.images[g.idx[r]*g.in:(g.idx[r]+1)*g.in]
		if s := t.cfg.Shift; s > 0 {
			in := t.model.InputRecord()
			dy, dx := shiftOf(t.cfg.Seed, t.epoch, g.lo+r, s)
			shifted(dst, src, in.Height, in.Width, g.in/(in.Height*in.Width), dy, dx)
			continue
		}
		copy(dst, src)
	}
}

// Epoch runs one epoch over trainSet in a seeded random order, then evaluates on testSet.
func (t *Trainer) Epoch(trainSet, testSet Data) (Epoch, error) {
	in, classes, b := t.model.InputSize(), t.cfg.Classes, t.cfg.Batch
	n := trainSet.Len()
	if n == 0 || len(trainSet.Images) != n*in {
		return Epoch{}, fmt.Errorf("train: training set has %d values for %d samples of %d", len(trainSet.Images), n, in)
	}
	if t.cfg.BeforeEpoch != nil {
		if err := t.cfg.BeforeEpoch(t.epoch); err != nil {
			return Epoch{}, fmt.Errorf("train: epoch %d: %w", t.epoch+1, err)
		}
	}
	if len(t.order) != n {
		t.order = make([]int, n)
	}
	for ; t.replay > 0; t.replay-- { // bring the shuffling RNG to where the saved run left it
		t.rng.Shuffle(n, func(i, j int) { t.order[i], t.order[j] = t.order[j], t.order[i] })
	}
	for i := range t.order {
		t.order[i] = i
	}
	t.rng.Shuffle(n, func(i, j int) { t.order[i], t.order[j] = t.order[j], t.order[i] })

	if t.cfg.SetTraining != nil {
		t.cfg.SetTraining(true)
	}
	steps := (n + b - 1) / b
	var bar *progressbar.ProgressBar
	if t.cfg.Progress != nil {
		bar = progressbar.NewOptions(steps,
			progressbar.OptionSetWriter(t.cfg.Progress),
			progressbar.OptionSetDescription(fmt.Sprintf("%s epoch %d", t.cfg.Name, t.epoch+1)),
			progressbar.OptionShowCount(),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond))
	}
	start := time.Now()
	var teach []float32
	if t.cfg.Distill != nil {
		var err error
		if teach, err = t.teacherLogits(trainSet); err != nil {
			return Epoch{}, fmt.Errorf("train: %s epoch %d: teacher: %w", t.name(), t.epoch+1, err)
		}
	}
	var lossSum float64
	for s := 0; s < steps; s++ {
		lo, hi := s*b, min((s+1)*b, n)
		clear(t.yv)
		if teach != nil {
			for r, idx := range t.order[lo:hi] {
				copy(t.tv[r*classes:(r+1)*classes], teach[idx*classes:(idx+1)*classes])
			}
			clear(t.tv[(hi-lo)*classes:]) // padding rows: ignored with their zero targets
		}
		t.gather(trainSet.Images, t.order[lo:hi], in, lo)
		for r, idx := range t.order[lo:hi] {
			lab := int(trainSet.Labels[idx])
			if lab >= classes {
				return Epoch{}, fmt.Errorf("train: label %d of sample %d, want < %d", lab, idx, classes)
			}
			t.yv[r*classes+lab] = 1
		}
		if t.hasBN && hi-lo < b {
			// Padding rows repeat the batch's real images (their targets stay zero, ignored by
			// the loss), so that BatchNorm's batch statistics see only real images.
			for r := hi - lo; r < b; r++ {
				copy(t.x[r*in:(r+1)*in], t.x[(r%(hi-lo))*in:(r%(hi-lo)+1)*in])
			}
		} else {
			clear(t.x[(hi-lo)*in:]) // padding rows: zero input, zero target (ignored by the loss)
		}
		if t.cfg.Schedule == CosineLR {
			f := 0.5 * (1 + math.Cos(math.Pi*float64(t.epoch*steps+s)/float64(t.cfg.Epochs*steps)))
			t.solver.LR = t.cfg.LR * f
			if t.extraS != nil {
				t.extraS.LR = t.extraLR * f
			}
		}
		if t.cfg.BeforeStep != nil {
			t.cfg.BeforeStep(hi - lo)
		}
		loss, err := t.step()
		if err != nil {
			return Epoch{}, fmt.Errorf("train: %s epoch %d step %d: %w", t.name(), t.epoch+1, s+1, err)
		}
		lossSum += loss * float64(hi-lo)
		if bar != nil {
			_ = bar.Add(1)
		}
	}
	if bar != nil {
		_ = bar.Finish()
	}
	ep := Epoch{TrainLoss: lossSum / float64(n), Seconds: time.Since(start).Seconds()}
	if t.cfg.SetTraining != nil {
		t.cfg.SetTraining(false)
	}
	if err := t.checkFinite(ep); err != nil {
		return Epoch{}, fmt.Errorf("train: %s epoch %d: %w (learning rate too high?)", t.name(), t.epoch+1, err)
	}
	t.epoch++
	if testSet.Len() > 0 {
		r, err := t.eval.Evaluate(testSet.Images, testSet.Labels)
		if err != nil {
			return Epoch{}, err
		}
		ep.TestAccuracy, ep.TestLoss = r.Accuracy(), r.Loss
	}
	if t.cfg.Log != nil {
		fmt.Fprintf(t.cfg.Log, "%-10s epoch %d/%d  train loss %.4f  test acc %.2f%%  test loss %.4f  %.2fs\n",
			t.cfg.Name, t.epoch, t.cfg.Epochs, ep.TrainLoss, ep.TestAccuracy, ep.TestLoss, ep.Seconds)
	}
	return ep, nil
}

// teacherLogits returns the distillation teacher's logits of every sample of set, [N,
// classes]: computed in batches of EvalBatch rows on the first call for a set and kept for
// later epochs on the same set (the same Images slice).
func (t *Trainer) teacherLogits(set Data) ([]float32, error) {
	n, in, classes := set.Len(), t.model.InputSize(), t.cfg.Classes
	if t.teachOf == &set.Images[0] && len(t.teach) == n*classes {
		return t.teach, nil
	}
	t.teachOf = nil
	if cap(t.teach) < n*classes {
		t.teach = make([]float32, n*classes)
	}
	t.teach = t.teach[:n*classes]
	for lo := 0; lo < n; lo += t.cfg.EvalBatch {
		hi := min(lo+t.cfg.EvalBatch, n)
		if err := t.cfg.Distill.Teacher.Forward(set.Images[lo*in:hi*in], hi-lo, t.teach[lo*classes:hi*classes]); err != nil {
			return nil, err
		}
	}
	t.teachOf = &set.Images[0]
	return t.teach, nil
}

// name is the trainer's label for errors.
func (t *Trainer) name() string {
	if t.cfg.Name == "" {
		return "model"
	}
	return t.cfg.Name
}

// checkFinite reports a non-finite mean loss or learnable value after an epoch, so that no
// NaN reaches a checkpoint or the evaluation.
func (t *Trainer) checkFinite(ep Epoch) error {
	if math.IsNaN(ep.TrainLoss) || math.IsInf(ep.TrainLoss, 0) {
		return fmt.Errorf("training loss is %v", ep.TrainLoss)
	}
	for _, set := range [][]G.ValueGrad{t.params, t.extra} {
		for k, p := range set {
			v, ok := p.Value().Data().([]float32)
			if !ok {
				continue
			}
			if i := quant.FirstNonFinite(v); i >= 0 {
				return fmt.Errorf("parameter %d element %d is %v", k, i, v[i])
			}
		}
	}
	return nil
}

// step runs one batch: forward, backward, update, and returns the batch loss.
func (t *Trainer) step() (float64, error) {
	defer t.vm.Reset() // without Reset every later RunAll is a silent no-op
	if err := t.vm.RunAll(); err != nil {
		return 0, err
	}
	var loss float32
	switch v := t.cost.Value().Data().(type) {
	case float32:
		loss = v
	default:
		return 0, fmt.Errorf("loss is %T", v)
	}
	if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
		return 0, errors.New("loss is not finite (learning rate too high?)")
	}
	if err := t.solver.Step(t.params); err != nil {
		return 0, err
	}
	if t.extraS != nil {
		if err := t.extraS.Step(t.extra); err != nil {
			return 0, err
		}
	}
	return float64(loss), nil
}

// Evaluator returns the trainer's evaluator (it shares the model's weights).
func (t *Trainer) Evaluator() *nn.Evaluator { return t.eval }

// State is what a checkpoint needs besides the model's parameters to continue training
// exactly: the epochs done, the optimizer's state, and the history so far. The shuffling RNG
// position is implied by Epochs (one shuffle per epoch from the seeded RNG).
type State struct {
	Epochs  int
	Solver  SolverState
	Extra   SolverState // the Extra parameters' solver (learned scales), if any
	History []Epoch
}

// State returns a copy of the trainer's state after the epochs run so far.
func (t *Trainer) State(h *History) State {
	st := State{Epochs: t.epoch, Solver: t.solver.State()}
	if t.extraS != nil {
		st.Extra = t.extraS.State()
	}
	if h != nil {
		st.History = append([]Epoch(nil), h.Epochs...)
	}
	return st
}

// Restore continues from st: the next Epoch call is epoch st.Epochs+1, with the optimizer
// state and shuffling order an uninterrupted run would have. Call it before any Epoch.
func (t *Trainer) Restore(st State) error {
	if t.epoch != 0 {
		return errors.New("train: Restore after training started")
	}
	if st.Epochs < 0 || st.Epochs > t.cfg.Epochs {
		return fmt.Errorf("train: restore: the state has %d epochs done, this run trains %d", st.Epochs, t.cfg.Epochs)
	}
	if len(st.History) > st.Epochs {
		return fmt.Errorf("train: restore: the state has %d epochs done but %d in its history", st.Epochs, len(st.History))
	}
	if err := t.solver.SetState(st.Solver, t.params); err != nil {
		return err
	}
	if t.extraS != nil {
		if err := t.extraS.SetState(st.Extra, t.extra); err != nil {
			return fmt.Errorf("train: restore extra parameters: %w", err)
		}
	} else if st.Extra.Steps != 0 {
		return errors.New("train: restore: the state has extra parameters this trainer lacks")
	}
	t.epoch, t.replay = st.Epochs, st.Epochs
	return nil
}

// EpochsDone returns the number of epochs trained (including restored ones).
func (t *Trainer) EpochsDone() int { return t.epoch }
