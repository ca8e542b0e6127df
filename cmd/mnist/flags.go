package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

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
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("mnist", flag.ContinueOnError)
	// The flag package would print its error and the whole usage; a bad flag gets one line
	// (from main), and -h the usage.
	fs.SetOutput(io.Discard)
	var o options
	var hidden, bits string
	fs.IntVar(&o.Epochs, "epochs", 5, "training epochs per model")
	fs.IntVar(&o.Batch, "batch", 128, "training batch size")
	fs.Float64Var(&o.LR, "lr", 0.001, "Adam learning rate")
	fs.StringVar(&hidden, "hidden", "256,128", "hidden layer sizes, comma separated")
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
	if fs.NArg() > 0 {
		return o, usagef("unexpected argument %q (flags only)", fs.Arg(0))
	}
	switch {
	case o.Epochs < 1:
		return o, usagef("-epochs %d: want at least 1", o.Epochs)
	case o.Batch < 1:
		return o, usagef("-batch %d: want at least 1", o.Batch)
	case !(o.LR > 0) || o.LR > 10:
		return o, usagef("-lr %v: want a number in (0, 10]", o.LR)
	case o.TrainLimit < 0:
		return o, usagef("-train-limit %d: want 0 (all) or a positive count", o.TrainLimit)
	}
	if train.CheckSeed(o.Seed) != nil {
		return o, usagef("-seed %d: want 1 to %d (math/rand reduces a seed modulo 2^31-1, so any other seed would repeat the run of one of these)", o.Seed, train.MaxSeed)
	}
	var err error
	if o.Hidden, err = parseSizes(hidden); err != nil {
		return o, usagef("-hidden %q: %v", hidden, err)
	}
	if o.Bits, err = qat.ParseTargets(bits); err != nil {
		return o, usagef("-bits %q: %v", bits, err)
	}
	for _, b := range o.Bits {
		switch {
		case !b.PerLayer():
		case o.Load == "" && len(b) != len(o.Hidden)+1:
			return o, usagef("-bits %q: %s gives %d layers their widths, the model has %d", bits, b.Name(), len(b), len(o.Hidden)+1)
		case o.Checkpoint != "":
			return o, usagef("-bits %q: per-layer widths (%s) cannot be checkpointed; drop -checkpoint", bits, b.Name())
		}
	}
	if o.QATInit != "fp32" && o.QATInit != "scratch" {
		return o, usagef("-qat-init %q: want fp32 or scratch", o.QATInit)
	}
	q := qat.Options{Choices: qat.Choices{LR: o.QATLR, FromScratch: o.QATInit == "scratch"}, LearnInput: o.LearnInput,
		FreezeObserversAfter: o.Freeze, Distill: o.Distill, DistillT: o.DistillT, DistillAlpha: o.DistillA, Checkpoint: o.Checkpoint, Resume: o.Resume}
	if o.LSQ != auto {
		on := o.LSQ == autoOn
		q.LearnScales = &on
	}
	if q.Observer, err = quant.ParseObserverKind(o.Observer); err != nil {
		return o, usagef("-observer %q: want minmax, moving-average, percentile, mse or meanabs", o.Observer)
	}
	if o.QATLR < 0 || o.QATLR > 10 || o.QATLR != o.QATLR {
		return o, usagef("-qat-lr %v: want 0 (default) or a number in (0, 10]", o.QATLR)
	}
	if q.LSQInit, err = qat.ParseLSQInit(o.LSQInit); err != nil {
		return o, usagef("-lsq-init %q: want meanabs or range", o.LSQInit)
	}
	if !(o.DistillT > 0) || o.DistillT > 100 {
		return o, usagef("-distill-t %v: want a number in (0, 100]", o.DistillT)
	}
	if !(o.DistillA >= 0 && o.DistillA <= 1) {
		return o, usagef("-distill-alpha %v: want a number in [0, 1]", o.DistillA)
	}
	if sched, err := train.ParseSchedule(o.Schedule); err == nil {
		q.Schedule = &sched
	} else if o.Schedule != "auto" {
		return o, usagef("-lr-schedule %q: want auto, constant or cosine", o.Schedule)
	}
	if o.Distill && o.QATInit != "fp32" {
		return o, usagef("-distill needs -qat-init fp32 (the teacher is the trained FP32 model)")
	}
	if o.Resume && o.Checkpoint == "" {
		return o, usagef("-resume needs -checkpoint FILE")
	}
	if o.QAT && o.Checkpoint != "" && o.Observer != "minmax" && o.Observer != "moving-average" {
		return o, usagef("-checkpoint with -qat needs -observer minmax or moving-average (a %s observer's state is not checkpointed)", o.Observer)
	}
	if o.Load != "" && (o.Resume || o.Checkpoint != "") {
		return o, usagef("-load trains no FP32 model: it cannot go with -checkpoint or -resume")
	}
	if o.StudyQuick && o.Study == "" {
		return o, usagef("-study-quick needs -study DIR")
	}
	if o.Study != "" {
		// The study has its own grid and outputs: flags of the table run would be ignored.
		tableOnly := map[string]bool{"qat": true, "save": true, "json": true, "checkpoint": true, "resume": true}
		for n := range qatOnlyFlags {
			tableOnly[n] = n != "qat-lr"
		}
		if bad := firstSet(fs, tableOnly); bad != "" {
			return o, usagef("-%s with -study: the study chooses its own quantization and writes its own files; drop -%s", bad, bad)
		}
	}
	if !o.QAT && o.Study == "" {
		// Flags that only shape the QAT models would be ignored, yet recorded: refuse them.
		// (-study runs QAT with -qat-lr and refuses the others above.)
		if bad := firstSet(fs, qatOnlyFlags); bad != "" {
			return o, usagef("-%s without -qat: it only shapes the QAT models, and none is trained; add -qat or drop -%s", bad, bad)
		}
	}
	if o.Load != "" {
		// Flags that only shape FP32 training would be ignored, yet recorded: refuse them.
		ignored := map[string]bool{"hidden": true}
		if !o.QAT && o.Study == "" {
			for _, n := range []string{"epochs", "batch", "lr", "seed"} {
				ignored[n] = true
			}
		}
		if bad := firstSet(fs, ignored); bad != "" {
			what := "the architecture comes from the file"
			if bad != "hidden" {
				what = "no model is trained without -qat"
			}
			return o, usagef("-%s with -load: %s; drop -%s", bad, what, bad)
		}
	}
	if o.Freeze < 0 {
		return o, usagef("-freeze-observers %d: want >= 0", o.Freeze)
	}
	o.qat = q
	return o, nil
}

// firstSet returns the first flag in names (where true) that was given on the command line
// (in fs's order, lexical), or "".
func firstSet(fs *flag.FlagSet, names map[string]bool) (bad string) {
	fs.Visit(func(f *flag.Flag) {
		if names[f.Name] && bad == "" {
			bad = f.Name
		}
	})
	return bad
}

// qatOnlyFlags are the flags that only shape the QAT models (runQAT and the QAT phase
// checkpoints): without -qat they would change nothing. The PTQ rows have their own fixed
// widths (ptq.TableConfigs) and calibration choice (ptq.Choose), FP32 training its constant -lr.
var qatOnlyFlags = map[string]bool{
	"bits": true, "observer": true, "lsq": true, "lsq-init": true, "lsq-learn-input": true,
	"distill": true, "distill-t": true, "distill-alpha": true, "lr-schedule": true,
	"qat-lr": true, "qat-init": true, "freeze-observers": true,
}

// lowBitsText describes qat.LowBits in the flag help.
const lowBitsText = "3 bits or fewer"

// autoBool is a boolean flag whose default, auto, depends on the bit widths: -lsq alone (or
// -lsq=true) is on, -lsq=false off.
type autoBool int

const (
	auto autoBool = iota
	autoOn
	autoOff
)

// String returns "auto", "true" or "false".
func (b *autoBool) String() string {
	switch *b {
	case autoOn:
		return "true"
	case autoOff:
		return "false"
	}
	return "auto"
}

// Set parses a boolean (strconv.ParseBool) or "auto".
func (b *autoBool) Set(s string) error {
	if s == "auto" {
		*b = auto
		return nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true, false or auto, got %q", s)
	}
	*b = autoOff
	if v {
		*b = autoOn
	}
	return nil
}

// IsBoolFlag lets the flag stand alone (-lsq).
func (b *autoBool) IsBoolFlag() bool { return true }

// MarshalText writes the flag as in String.
func (b autoBool) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// parseSizes parses "256,128" (an empty string means no hidden layer).
func parseSizes(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1<<16 {
			return nil, fmt.Errorf("want comma-separated sizes in 1..65536, got %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}
