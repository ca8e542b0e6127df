package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// options are the parsed, validated flags.
type options struct {
	Epochs     int     `json:"epochs"`
	Batch      int     `json:"batch"`
	LR         float64 `json:"lr"`
	Hidden     []int   `json:"hidden"`
	Seed       int64   `json:"seed"`
	DataDir    string  `json:"data_dir,omitempty"`
	TrainLimit int     `json:"train_limit,omitempty"`
	Quiet      bool    `json:"-"`
	JSON       string  `json:"-"`
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("mnist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var hidden string
	fs.IntVar(&o.Epochs, "epochs", 5, "training epochs per model")
	fs.IntVar(&o.Batch, "batch", 128, "training batch size")
	fs.Float64Var(&o.LR, "lr", 0.001, "Adam learning rate")
	fs.StringVar(&hidden, "hidden", "256,128", "hidden layer sizes, comma separated")
	fs.Int64Var(&o.Seed, "seed", 1, "seed for initialisation and shuffling")
	fs.StringVar(&o.DataDir, "data", "", "MNIST directory (default: $TINYQ_MNIST_DIR, then the GoMNIST module in the Go module cache)")
	fs.IntVar(&o.TrainLimit, "train-limit", 0, "use only the first N training images (0: all 60,000)")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress bars")
	fs.StringVar(&o.JSON, "json", "", "also write the results as JSON to this file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mnist [flags]\n\nTrains MLPs on MNIST, quantizes them and prints accuracy, size and speed.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
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
	return o, nil
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
