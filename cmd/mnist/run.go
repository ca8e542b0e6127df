package main

import (
	"fmt"
	"io"
	"math/rand"
	"os"
	"time"

	"golang.org/x/term"

	"tinyq/mnist"
	"tinyq/nn"
	"tinyq/qat"
	"tinyq/quant"
	"tinyq/report"
	"tinyq/train"
)

// throughputBatch is the batch size at which inference throughput is measured and reported.
const throughputBatch = 1000

// execute runs the job described by opts.
func execute(o options, stdout, stderr io.Writer) error {
	dir, err := mnist.Locate(o.DataDir)
	if err != nil {
		return err
	}
	trainSet, testSet, err := mnist.Load(dir)
	if err != nil {
		return err
	}
	if o.TrainLimit > 0 && o.TrainLimit < trainSet.N {
		trainSet = trainSet.Slice(0, o.TrainLimit)
	}
	trainData := train.Data{Images: trainSet.Images, Labels: trainSet.Labels}
	testData := train.Data{Images: testSet.Images, Labels: testSet.Labels}
	fmt.Fprintf(stdout, "MNIST from %s: %d training, %d test images\n", dir, trainSet.N, testSet.N)

	sizes := append(append([]int{trainSet.Rows * trainSet.Cols}, o.Hidden...), 10)
	base := train.Config{
		Epochs: o.Epochs, Batch: o.Batch, LR: o.LR, Seed: o.Seed,
		Log: stdout, Progress: progressWriter(o.Quiet, stderr),
	}

	var rows []report.Row
	fp32, err := nn.NewMLP(sizes, rand.New(rand.NewSource(o.Seed)))
	if err != nil {
		return err
	}
	cfg := base
	cfg.Name = "fp32"
	hist, err := train.Fit(fp32, trainData, testData, cfg)
	if err != nil {
		return fmt.Errorf("train fp32: %w", err)
	}
	row, err := floatRow("fp32", fp32, testData, 4)
	if err != nil {
		return err
	}
	row.EpochSeconds = hist.EpochSeconds()
	rows = append(rows, row)

	if o.QAT {
		qrows, err := runQAT(o, sizes, fp32, trainData, testData, base)
		if err != nil {
			return err
		}
		rows = append(rows, qrows...)
	}

	fmt.Fprintln(stdout)
	if err := report.Table(stdout, rows); err != nil {
		return err
	}
	if o.JSON != "" {
		doc := report.Document{Config: o, Results: rows}
		if err := report.WriteJSON(o.JSON, doc); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", o.JSON)
	}
	return nil
}

// floatRow evaluates a float model on the whole test set and measures its inference
// throughput at batch throughputBatch. bytesPerParam is 4 for float32, 2 for float16.
func floatRow(name string, m *nn.MLP, test train.Data, bytesPerParam int) (report.Row, error) {
	ev, err := m.NewEvaluator(throughputBatch)
	if err != nil {
		return report.Row{}, err
	}
	res, err := ev.Evaluate(test.Images, test.Labels)
	if err != nil {
		return report.Row{}, err
	}
	sps, err := throughput(func(x []float32, rows int) error {
		_, err := ev.Forward(x, rows)
		return err
	}, test.Images, m.Layers[0].In)
	if err != nil {
		return report.Row{}, err
	}
	return report.Row{Name: name, Accuracy: res.Accuracy(), WeightBytes: m.NumParams() * bytesPerParam, SamplesPerSecond: sps}, nil
}

// throughput runs forward over the images in batches of throughputBatch, three times after a
// warm-up batch, and returns the median samples per second.
func throughput(forward func(x []float32, rows int) error, images []float32, in int) (float64, error) {
	n := len(images) / in
	pass := func() (float64, error) {
		start := time.Now()
		for lo := 0; lo < n; lo += throughputBatch {
			hi := min(lo+throughputBatch, n)
			if err := forward(images[lo*in:hi*in], hi-lo); err != nil {
				return 0, err
			}
		}
		return float64(n) / time.Since(start).Seconds(), nil
	}
	if err := forward(images[:min(throughputBatch, n)*in], min(throughputBatch, n)); err != nil {
		return 0, err
	}
	var runs []float64
	for range 3 {
		s, err := pass()
		if err != nil {
			return 0, err
		}
		runs = append(runs, s)
	}
	return report.Median(runs), nil
}

// progressWriter returns stderr for progress bars when it is a terminal and bars are wanted.
func progressWriter(quiet bool, stderr io.Writer) io.Writer {
	if quiet {
		return nil
	}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return stderr
	}
	return nil
}

// runQAT trains one quantization-aware model per bit pair and evaluates it with fake-quant.
func runQAT(o options, sizes []int, fp32 *nn.MLP, trainData, testData train.Data, base train.Config) ([]report.Row, error) {
	kind, err := quant.ParseObserverKind(o.Observer)
	if err != nil {
		return nil, err
	}
	var rows []report.Row
	for _, b := range o.Bits {
		cfg := qat.Spec(b.W, b.A)
		cfg.Observer = quant.ObserverConfig{Kind: kind}
		cfg.LearnScales = o.LSQ
		cfg.FreezeObserversAfter = o.Freeze
		start := fp32
		if o.QATInit == "scratch" {
			if start, err = nn.NewMLP(sizes, rand.New(rand.NewSource(o.Seed))); err != nil {
				return nil, err
			}
		}
		qm, err := qat.Prepare(start, cfg)
		if err != nil {
			return nil, err
		}
		name := "qat-" + b.name()
		tc := base
		tc.Name = name
		hist, err := train.Fit(qm.MLP, trainData, testData, qm.TrainConfig(tc))
		if err != nil {
			return nil, fmt.Errorf("train %s: %w", name, err)
		}
		qm.SetObserving(false)
		row, err := floatRow(name, qm.MLP, testData, 4)
		if err != nil {
			return nil, err
		}
		row.WeightBytes = 0 // a fake-quant model is stored as float32; its integer size is in the -int row
		row.EpochSeconds = hist.EpochSeconds()
		row.Note = fmt.Sprintf("fake-quant in float32, init %s", o.QATInit)
		rows = append(rows, row)
	}
	return rows, nil
}
