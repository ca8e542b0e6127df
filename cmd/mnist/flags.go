package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"tinyq/arch"
	"tinyq/mnist"
	"tinyq/qat"
	"tinyq/quant"
	"tinyq/train"
)

// options are the parsed, validated flags.
type options struct {
	Epochs     int          `json:"epochs"`
	Batch      int          `json:"batch"`
	LR         float64      `json:"lr"`
	Hidden     []int        `json:"hidden"`
	Arch       string       `json:"arch,omitempty"` // -arch when not mlp (the network in arch's grammar)
	BN         bool         `json:"bn,omitempty"`
	Shift      int          `json:"shift,omitempty"`
	Seed       int64        `json:"seed"`
	DataDir    string       `json:"data_dir,omitempty"`
	TrainLimit int          `json:"train_limit,omitempty"`
	QAT        bool         `json:"qat"`
	Bits       []qat.Target `json:"bits,omitempty"`
	LSQ        autoBool     `json:"lsq"`
	LSQInit    string       `json:"lsq_init,omitempty"`
	Distill    bool         `json:"distill,omitempty"`
	DistillT   float64      `json:"distill_t,omitempty"`
	DistillA   float64      `json:"distill_alpha,omitempty"`
	Schedule   string       `json:"lr_schedule,omitempty"`
	LearnInput bool         `json:"lsq_learn_input,omitempty"`
	QATInit    string       `json:"qat_init,omitempty"`
	Observer   string       `json:"observer,omitempty"`
	Freeze     int          `json:"freeze_observers_after,omitempty"`
	FreezeBN   *int         `json:"freeze_bn_after,omitempty"` // -freeze-bn if given, else the recipe's
	QATLR      float64      `json:"qat_lr,omitempty"`
	Save       string       `json:"-"`
	Load       string       `json:"load,omitempty"`
	Checkpoint string       `json:"-"`
	Resume     bool         `json:"resume,omitempty"`
	Quiet      bool         `json:"-"`
	JSON       string       `json:"-"`
	Study      string       `json:"-"`
	StudyQuick bool         `json:"-"`

	loadedTraining string // with -load: the training record of the loaded file

	qat qat.Options // the QAT flags above, parsed once by parseFlags
	net arch.Arch   // the network of -arch (-hidden, -bn) on MNIST's 28x28 images

	autoShift, autoLR bool // -shift and -lr left to net's recipe (applyRecipe)
}

// applyRecipe sets -shift and -lr, where not given, from net's FP32 recipe (train.RecipeFor);
// obtainFP32 calls it again for a loaded model's architecture.
func (o *options) applyRecipe() {
	r := train.RecipeFor(o.net)
	if o.autoShift {
		o.Shift = r.Shift
	}
	if o.autoLR {
		o.LR = r.LR
	}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("mnist", flag.ContinueOnError)
	// The flag package would print its error and the whole usage; a bad flag gets one line
	// (from main), and -h the usage.
	fs.SetOutput(io.Discard)
	var o options
	var hidden, bits, archFlag string
	var freezeBN int
	fs.IntVar(&o.Epochs, "epochs", 5, "training epochs per model")
	fs.IntVar(&o.Batch, "batch", 128, "training batch size")
	fs.Float64Var(&o.LR, "lr", 0.001, "Adam learning rate (default: 0.001 for MLPs, 0.002 with a cosine schedule for networks with convolutions)")
	fs.StringVar(&hidden, "hidden", "256,128", "hidden layer sizes of -arch mlp, comma separated")
	fs.StringVar(&archFlag, "arch", "mlp", "network: mlp (dense layers of -hidden), cnn (two 5x5 convolutions with pooling, dense 128), or layers: "+arch.Grammar)
	fs.BoolVar(&o.BN, "bn", false, "BatchNorm after each convolution (folded into it for QAT, PTQ and the runtime)")
	fs.IntVar(&o.Shift, "shift", -1, "training images translated at random by up to N pixels (-1: 2 for networks with convolutions, 0 for MLPs)")
	fs.Int64Var(&o.Seed, "seed", 1, fmt.Sprintf("seed for initialisation and shuffling, 1 to %d (math/rand keeps only these apart)", train.MaxSeed))
	fs.StringVar(&o.DataDir, "data", "", "MNIST directory (default: $TINYQ_MNIST_DIR, then the GoMNIST module in the Go module cache)")
	fs.IntVar(&o.TrainLimit, "train-limit", 0, "use only the first N training images (0: all 60,000)")
	fs.BoolVar(&o.QAT, "qat", false, "also train quantization-aware models (see -bits)")
	fs.StringVar(&bits, "bits", "8,4", "QAT bit widths: a comma list of N (weights and activations N bits), W/A (e.g. 4/8), or per layer W/A+W/A+... (e.g. 2/8+2/8+4/8)")
	fs.Var(&o.LSQ, "lsq", "QAT learns its scales (LSQ) instead of observing ranges (default: at "+lowBitsText+")")
	fs.BoolVar(&o.LearnInput, "lsq-learn-input", false, "LSQ also learns the network input's scale (by default it keeps its initial value: learning it costs a backward matrix product through the first layer)")
	fs.StringVar(&o.LSQInit, "lsq-init", "meanabs", "initial LSQ scales: meanabs (the LSQ paper's 2·mean|x|/sqrt(Qp)) or range (the first batch's range)")
	fs.BoolVar(&o.Distill, "distill", false, "QAT also learns from the trained FP32 model's soft targets (knowledge distillation; needs -qat-init fp32)")
	fs.Float64Var(&o.DistillT, "distill-t", 4, "distillation temperature")
	fs.Float64Var(&o.DistillA, "distill-alpha", 0.5, "distillation: weight of the soft targets (the labels get 1 - it)")
	fs.StringVar(&o.Schedule, "lr-schedule", "auto", "QAT learning-rate schedule: constant, cosine, or auto (cosine at "+lowBitsText+", else constant)")
	fs.StringVar(&o.QATInit, "qat-init", "fp32", "QAT starting point: fp32 (fine-tune the trained float model) or scratch")
	fs.StringVar(&o.Observer, "observer", "moving-average", "QAT activation observer: minmax, moving-average, percentile, mse, meanabs")
	fs.Float64Var(&o.QATLR, "qat-lr", 0, "QAT learning rate (0: -lr from scratch or at "+lowBitsText+", else -lr/10)")
	fs.IntVar(&o.Freeze, "freeze-observers", 0, "QAT: freeze ranges after this many epochs (0: never)")
	fs.IntVar(&freezeBN, "freeze-bn", -1, "QAT of a model with BatchNorm: batch statistics update its running statistics during the first N epochs (PyTorch's ConvBn with the folded weight fake-quantized), then frozen; 0 folds it at the start, statistics frozen (-1: the recipe's)")
	fs.StringVar(&o.Save, "save", "", "write every model of the run to this directory as NAME.safetensors")
	fs.StringVar(&o.Load, "load", "", "load the FP32 model from this safetensors file instead of training it")
	fs.StringVar(&o.Checkpoint, "checkpoint", "", "save FP32 training state to this file after every epoch")
	fs.BoolVar(&o.Resume, "resume", false, "continue FP32 training from -checkpoint")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress bars")
	fs.StringVar(&o.JSON, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&o.Study, "study", "", "run the quantization study instead: PTQ sweep, QAT, per-layer sensitivity, mixed precision; writes DIR/report.md, DIR/study.json and figures, and resumes an unfinished DIR")
	fs.BoolVar(&o.StudyQuick, "study-quick", false, "with -study: the subset for a first look, about a minute (bits 8, 4, 2; QAT 1 epoch, observed scales only)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fmt.Fprintln(stderr, "usage: mnist [flags]\n\nTrains MLPs on MNIST, quantizes them and prints accuracy, size and speed.\n\nFlags:")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return o, err
		}
		return o, usageError{err.Error()}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs [6]error // parse failures, named in the checks below
	o.Hidden, errs[0] = parseSizes(hidden)
	o.net, errs[5] = arch.Named(archFlag, o.Hidden, arch.Shape{H: 28, W: 28, C: 1}, mnist.Classes, o.BN)
	if archFlag != "mlp" {
		o.Arch, o.Hidden = o.net.String(), nil
	}
	o.autoShift, o.autoLR = o.Shift < 0, !given["lr"]
	o.applyRecipe()
	o.Bits, errs[1] = qat.ParseTargets(bits)
	q := qat.Options{Choices: qat.Choices{LR: o.QATLR, FromScratch: o.QATInit == "scratch", LearnScales: o.LSQ.v}, LearnInput: o.LearnInput,
		FreezeObserversAfter: o.Freeze, Distill: o.Distill, DistillT: o.DistillT, DistillAlpha: o.DistillA, Checkpoint: o.Checkpoint, Resume: o.Resume}
	q.Observer, errs[2] = quant.ParseObserverKind(o.Observer)
	q.LSQInit, errs[3] = qat.ParseLSQInit(o.LSQInit)
	if sched, err := train.ParseSchedule(o.Schedule); err == nil {
		q.Schedule = &sched
	} else if o.Schedule != "auto" {
		errs[4] = err
	}
	// The first failing check, in this order, is the one line printed.
	for _, c := range []struct {
		bad bool
		msg string
	}{
		{fs.NArg() > 0, fmt.Sprintf("unexpected argument %q (flags only)", fs.Arg(0))},
		{o.Epochs < 1, fmt.Sprintf("-epochs %d: want at least 1", o.Epochs)},
		{o.Batch < 1, fmt.Sprintf("-batch %d: want at least 1", o.Batch)},
		{!(o.LR > 0) || o.LR > 10, fmt.Sprintf("-lr %v: want a number in (0, 10]", o.LR)},
		{o.TrainLimit < 0, fmt.Sprintf("-train-limit %d: want 0 (all) or a positive count", o.TrainLimit)},
		{train.CheckSeed(o.Seed) != nil, fmt.Sprintf("-seed %d: want 1 to %d (math/rand reduces a seed modulo 2^31-1, so any other seed would repeat the run of one of these)", o.Seed, train.MaxSeed)},
		{errs[0] != nil, fmt.Sprintf("-hidden %q: %v", hidden, errs[0])},
		{archFlag != "mlp" && given["hidden"], "-hidden sizes the layers of -arch mlp only; drop -hidden or describe the layers in -arch"},
		{archFlag == "mlp" && o.BN, "-bn puts a BatchNorm after each convolution; -arch mlp has none (use -arch cnn, or layers with conv)"},
		{errs[5] != nil && archFlag == "mlp", fmt.Sprintf("-hidden %q: %v", hidden, errs[5])},
		{errs[5] != nil, fmt.Sprintf("-arch %q: %v", archFlag, errs[5])},
		{o.Shift > train.MaxShift, fmt.Sprintf("-shift %d: want -1 (auto) or 0 to %d pixels", o.Shift, train.MaxShift)},
		{errs[1] != nil, fmt.Sprintf("-bits %q: %v", bits, errs[1])},
		{errs[1] == nil && perLayerBits(o) != "", fmt.Sprintf("-bits %q: %s", bits, perLayerBits(o))},
		{o.QATInit != "fp32" && o.QATInit != "scratch", fmt.Sprintf("-qat-init %q: want fp32 or scratch", o.QATInit)},
		{errs[2] != nil, fmt.Sprintf("-observer %q: want minmax, moving-average, percentile, mse or meanabs", o.Observer)},
		{o.QATLR < 0 || o.QATLR > 10 || o.QATLR != o.QATLR, fmt.Sprintf("-qat-lr %v: want 0 (default) or a number in (0, 10]", o.QATLR)},
		{errs[3] != nil, fmt.Sprintf("-lsq-init %q: want meanabs or range", o.LSQInit)},
		{!(o.DistillT > 0) || o.DistillT > 100, fmt.Sprintf("-distill-t %v: want a number in (0, 100]", o.DistillT)},
		{!(o.DistillA >= 0 && o.DistillA <= 1), fmt.Sprintf("-distill-alpha %v: want a number in [0, 1]", o.DistillA)},
		{errs[4] != nil, fmt.Sprintf("-lr-schedule %q: want auto, constant or cosine", o.Schedule)},
		{o.Distill && o.QATInit != "fp32", "-distill needs -qat-init fp32 (the teacher is the trained FP32 model)"},
		{o.Resume && o.Checkpoint == "", "-resume needs -checkpoint FILE"},
		{o.QAT && o.Checkpoint != "" && o.Observer != "minmax" && o.Observer != "moving-average", fmt.Sprintf("-checkpoint with -qat needs -observer minmax or moving-average (a %s observer's state is not checkpointed)", o.Observer)},
		{o.Load != "" && (o.Resume || o.Checkpoint != ""), "-load trains no FP32 model: it cannot go with -checkpoint or -resume"},
		{o.StudyQuick && o.Study == "", "-study-quick needs -study DIR"},
	} {
		if c.bad {
			return o, usageError{c.msg}
		}
	}
	// Flags that would be ignored, yet recorded, are refused (flagScopes): the table run's with
	// -study (it chooses its own quantization and writes its own files), the QAT flags without
	// -qat (-study runs QAT with -qat-lr), and with -load the FP32 training flags.
	if bad := firstSet(fs, tableRun); o.Study != "" && bad != "" {
		return o, usagef("-%s with -study: the study chooses its own quantization and writes its own files; drop -%s", bad, bad)
	}
	if bad := firstSet(fs, qatOnly); !o.QAT && o.Study == "" && bad != "" {
		return o, usagef("-%s without -qat: it only shapes the QAT models, and none is trained; add -qat or drop -%s", bad, bad)
	}
	ignored := architecture
	if !o.QAT && o.Study == "" {
		ignored |= fp32Only
	}
	if bad := firstSet(fs, ignored); o.Load != "" && bad != "" {
		what := "no model is trained without -qat"
		if flagScopes[bad] == architecture {
			what = "the architecture comes from the file"
		}
		return o, usagef("-%s with -load: %s; drop -%s", bad, what, bad)
	}
	if o.Freeze < 0 {
		return o, usagef("-freeze-observers %d: want >= 0", o.Freeze)
	}
	if freezeBN < -1 {
		return o, usagef("-freeze-bn %d: want -1 (the recipe's) or >= 0 epochs", freezeBN)
	}
	if freezeBN >= 0 {
		if o.Load == "" && !o.net.HasBatchNorm() {
			return o, usagef("-freeze-bn %d: the network has no BatchNorm (add -bn, or bn layers to -arch)", freezeBN)
		}
		o.FreezeBN, q.FreezeBNAfter = &freezeBN, &freezeBN
	}
	o.qat = q
	return o, nil
}

// perLayerBits is what is wrong with a per-layer -bits target of o, or "": one that does not
// give each layer of the -hidden model its widths, or any with -checkpoint.
func perLayerBits(o options) string {
	for _, b := range o.Bits {
		switch {
		case !b.PerLayer():
		case o.Load == "" && len(b) != len(o.Hidden)+1:
			return fmt.Sprintf("%s gives %d layers their widths, the model has %d", b.Name(), len(b), len(o.Hidden)+1)
		case o.Checkpoint != "":
			return fmt.Sprintf("per-layer widths (%s) cannot be checkpointed; drop -checkpoint", b.Name())
		}
	}
	return ""
}

// Flag scopes (flagScopes): what a flag shapes, which decides when it would be ignored.
const (
	qatOnly      = 1 << iota // only the QAT models (runQAT and the QAT phase checkpoints)
	tableRun                 // only the table run, not -study
	fp32Only                 // only FP32 training
	architecture             // the model's layers
	qatTable     = qatOnly | tableRun
)

// flagScopes are the scopes of the flags that have one. The QAT flags but -qat-lr are also
// the table run's: the study chooses its own quantization. The PTQ rows have their own fixed
// widths (ptq.TableConfigs) and calibration choice (ptq.Choose), FP32 training its constant -lr.
var flagScopes = map[string]int{
	"bits": qatTable, "observer": qatTable, "lsq": qatTable, "lsq-init": qatTable, "lsq-learn-input": qatTable,
	"distill": qatTable, "distill-t": qatTable, "distill-alpha": qatTable, "lr-schedule": qatTable, "qat-init": qatTable,
	"freeze-observers": qatTable, "freeze-bn": qatTable, "qat-lr": qatOnly, "qat": tableRun, "save": tableRun, "json": tableRun,
	"checkpoint": tableRun, "resume": tableRun, "epochs": fp32Only, "batch": fp32Only, "lr": fp32Only, "seed": fp32Only,
	"hidden": architecture, "arch": architecture, "bn": architecture, "shift": fp32Only,
}

// firstSet returns the first flag of a scope in mask that was given on the command line (in
// fs's order, lexical), or "".
func firstSet(fs *flag.FlagSet, mask int) (bad string) {
	fs.Visit(func(f *flag.Flag) {
		if flagScopes[f.Name]&mask != 0 && bad == "" {
			bad = f.Name
		}
	})
	return bad
}

// lowBitsText describes qat.LowBits in the flag help.
const lowBitsText = "3 bits or fewer"

// autoBool is a boolean flag whose default, auto (v nil), depends on the bit widths: -lsq
// alone (or -lsq=true) is on, -lsq=false off. v is qat.Choices.LearnScales.
type autoBool struct{ v *bool }

// String returns "auto", "true" or "false".
func (b *autoBool) String() string {
	if b.v == nil {
		return "auto"
	}
	return strconv.FormatBool(*b.v)
}

// Set parses a boolean (strconv.ParseBool) or "auto".
func (b *autoBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	switch {
	case s == "auto":
		b.v = nil
	case err != nil:
		return fmt.Errorf("want true, false or auto, got %q", s)
	default:
		b.v = &v
	}
	return nil
}

// IsBoolFlag lets the flag stand alone (-lsq).
func (b *autoBool) IsBoolFlag() bool { return true }

// MarshalText writes the flag as in String.
func (b autoBool) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// parseSizes parses "256,128" (an empty string means no hidden layer).
func parseSizes(s string) (out []int, err error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1<<16 {
			return nil, fmt.Errorf("want comma-separated sizes in 1..65536, got %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}
