package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"tinyq/quant"
)

// options are the parsed, validated flags.
type options struct {
	Epochs     int       `json:"epochs"`
	Batch      int       `json:"batch"`
	LR         float64   `json:"lr"`
	Hidden     []int     `json:"hidden"`
	Seed       int64     `json:"seed"`
	DataDir    string    `json:"data_dir,omitempty"`
	TrainLimit int       `json:"train_limit,omitempty"`
	QAT        bool      `json:"qat"`
	Bits       []bitPair `json:"bits,omitempty"`
	LSQ        bool      `json:"lsq,omitempty"`
	QATInit    string    `json:"qat_init,omitempty"`
	Observer   string    `json:"observer,omitempty"`
	Freeze     int       `json:"freeze_observers_after,omitempty"`
	QATLR      float64   `json:"qat_lr,omitempty"`
	Save       string    `json:"-"`
	Load       string    `json:"load,omitempty"`
	Checkpoint string    `json:"-"`
	Resume     bool      `json:"resume,omitempty"`
	Quiet      bool      `json:"-"`
	JSON       string    `json:"-"`
	Study      string    `json:"-"`
	StudyQuick bool      `json:"-"`

	loadedTraining string // with -load: the training record of the loaded file
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
	fs.Int64Var(&o.Seed, "seed", 1, "seed for initialisation and shuffling")
	fs.StringVar(&o.DataDir, "data", "", "MNIST directory (default: $TINYQ_MNIST_DIR, then the GoMNIST module in the Go module cache)")
	fs.IntVar(&o.TrainLimit, "train-limit", 0, "use only the first N training images (0: all 60,000)")
	fs.BoolVar(&o.QAT, "qat", false, "also train quantization-aware models (see -bits)")
	fs.StringVar(&bits, "bits", "8,4", "QAT bit widths: a comma list of N (weights and activations N bits) or W/A (e.g. 4/8)")
	fs.BoolVar(&o.LSQ, "lsq", false, "QAT learns its scales (LSQ) instead of observing ranges")
	fs.StringVar(&o.QATInit, "qat-init", "fp32", "QAT starting point: fp32 (fine-tune the trained float model) or scratch")
	fs.StringVar(&o.Observer, "observer", "moving-average", "QAT activation observer: minmax, moving-average, percentile, mse")
	fs.Float64Var(&o.QATLR, "qat-lr", 0, "QAT learning rate (0: -lr/10 when fine-tuning from fp32, -lr from scratch)")
	fs.IntVar(&o.Freeze, "freeze-observers", 0, "QAT: freeze ranges after this many epochs (0: never)")
	fs.StringVar(&o.Save, "save", "", "write every model of the run to this directory as NAME.safetensors")
	fs.StringVar(&o.Load, "load", "", "load the FP32 model from this safetensors file instead of training it")
	fs.StringVar(&o.Checkpoint, "checkpoint", "", "save FP32 training state to this file after every epoch")
	fs.BoolVar(&o.Resume, "resume", false, "continue FP32 training from -checkpoint")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress bars")
	fs.StringVar(&o.JSON, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&o.Study, "study", "", "run the quantization study instead: PTQ sweep, QAT, per-layer sensitivity, mixed precision; writes DIR/report.md, DIR/study.json and figures, and resumes an unfinished DIR")
	fs.BoolVar(&o.StudyQuick, "study-quick", false, "with -study: the few-minute subset (bits 8, 4, 2; QAT 1 epoch; no LSQ)")
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
	var err error
	if o.Hidden, err = parseSizes(hidden); err != nil {
		return o, usagef("-hidden %q: %v", hidden, err)
	}
	if o.Bits, err = parseBits(bits); err != nil {
		return o, usagef("-bits %q: %v", bits, err)
	}
	if o.QATInit != "fp32" && o.QATInit != "scratch" {
		return o, usagef("-qat-init %q: want fp32 or scratch", o.QATInit)
	}
	if _, err := quant.ParseObserverKind(o.Observer); err != nil {
		return o, usagef("-observer %q: want minmax, moving-average, percentile or mse", o.Observer)
	}
	if o.QATLR < 0 || o.QATLR > 10 || o.QATLR != o.QATLR {
		return o, usagef("-qat-lr %v: want 0 (default) or a number in (0, 10]", o.QATLR)
	}
	if o.QATLR == 0 {
		o.QATLR = o.LR
		if o.QATInit == "fp32" {
			o.QATLR = o.LR / 10
		}
	}
	if o.Resume && o.Checkpoint == "" {
		return o, usagef("-resume needs -checkpoint FILE")
	}
	if o.QAT && o.Checkpoint != "" && o.Observer != "minmax" && o.Observer != "moving-average" {
		return o, usagef("-checkpoint with -qat needs -observer minmax or moving-average (a %s observer's histogram is not checkpointed)", o.Observer)
	}
	if o.Load != "" && (o.Resume || o.Checkpoint != "") {
		return o, usagef("-load trains no FP32 model: it cannot go with -checkpoint or -resume")
	}
	if o.StudyQuick && o.Study == "" {
		return o, usagef("-study-quick needs -study DIR")
	}
	if o.Study != "" {
		// The study has its own grid and outputs: flags of the table run would be ignored.
		var bad string
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "qat", "bits", "lsq", "qat-init", "observer", "freeze-observers", "save", "json", "checkpoint", "resume":
				if bad == "" {
					bad = f.Name
				}
			}
		})
		if bad != "" {
			return o, usagef("-%s with -study: the study chooses its own quantization and writes its own files; drop -%s", bad, bad)
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
		var bad string
		fs.Visit(func(f *flag.Flag) {
			if ignored[f.Name] && bad == "" {
				bad = f.Name
			}
		})
		if bad != "" {
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
	return o, nil
}

// bitPair is a weight and activation bit width.
type bitPair struct {
	W int `json:"w"`
	A int `json:"a"`
}

func (b bitPair) name() string { return fmt.Sprintf("w%da%d", b.W, b.A) }

// parseBits parses "8,4" (W8A8 and W4A4) or "4/8" (4-bit weights, 8-bit activations).
func parseBits(s string) ([]bitPair, error) {
	var out []bitPair
	seen := map[bitPair]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		w, a, pair := strings.Cut(f, "/")
		if !pair {
			a = w
		}
		wb, err1 := strconv.Atoi(w)
		ab, err2 := strconv.Atoi(a)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%q is not N or W/A", f)
		}
		for _, b := range []int{wb, ab} {
			if b < quant.MinBits || b > quant.MaxBits {
				return nil, fmt.Errorf("%d bits outside %d..%d", b, quant.MinBits, quant.MaxBits)
			}
		}
		p := bitPair{wb, ab}
		if seen[p] {
			return nil, fmt.Errorf("%s listed twice", p.name())
		}
		seen[p] = true
		out = append(out, p)
	}
	return out, nil
}

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
