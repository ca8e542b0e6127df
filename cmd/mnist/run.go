package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"tinyq/infer"
	"tinyq/internal/atomicfile"
	"tinyq/mnist"
	"tinyq/modelfile"
	"tinyq/nn"
	"tinyq/onnx"
	"tinyq/qat"
	"tinyq/report"
	"tinyq/train"
)

// execute runs the job described by opts.
func execute(o options, rawStdout, stderr io.Writer) error {
	// The table and notes go to stdout, whose failure (a closed pipe) must not stop the run
	// (report.Lenient); with -json - stdout carries the JSON alone, the table goes to stderr.
	human := rawStdout
	if o.JSON == "-" {
		human = stderr
	}
	stdout := report.Lenient(human)
	// Output places are proven writable before any training, not discovered broken after it
	// (an output that is another place's file is a usage error).
	if err := atomicfile.CheckPlaces(o.places()); err != nil {
		if ce := (*atomicfile.ConflictError)(nil); errors.As(err, &ce) {
			return usageError{err.Error()}
		}
		return err
	}
	dir, err := mnist.Locate(o.DataDir)
	if err != nil {
		return err
	}
	trainData, testData, _, err := train.MNIST(dir, o.TrainLimit)
	if err != nil {
		return err
	}
	if n := trainData.Len(); o.Batch > n {
		fmt.Fprintf(stdout, "note: -batch %d is more than the %d training images; using -batch %d\n", o.Batch, n, n)
		o.Batch = n
	}
	what := "-arch " + o.Arch
	if o.Arch == "" {
		what = "-hidden " + strings.Trim(strings.ReplaceAll(fmt.Sprint(o.Hidden), " ", ","), "[]")
	}
	if err := checkMemory(o.net, o.Batch, what); o.Load == "" && err != nil { // a loaded model is checked with -qat
		return err
	}
	fmt.Fprintf(stdout, "MNIST from %s: %d training, %d test images; kernels: %s\n", dir, trainData.Len(), testData.Len(), report.ActiveKernels())

	base := train.Config{
		Epochs: o.Epochs, Batch: o.Batch, LR: o.LR, Seed: o.Seed, Shift: o.Shift,
		Log: stdout, Progress: report.Progress(o.Quiet, stderr),
	}
	base.Schedule = train.RecipeFor(o.net).Schedule
	if o.Study != "" {
		return runStudy(o, trainData, testData, base, stdout, stderr)
	}

	var rows []report.Row
	var saved modelfile.Set
	var warnings []string
	warn := func(w string) {
		warnings = append(warnings, w)
		fmt.Fprintln(stderr, "mnist: warning:", w)
	}
	fp32, hist, err := obtainFP32(&o, trainData, testData, base)
	if err != nil {
		return err
	}
	// QAT fine-tunes as the FP32 recipe of the model's architecture says (a loaded file's).
	base.LR, base.Shift, base.Schedule = o.LR, o.Shift, train.RecipeFor(o.net).Schedule
	if w := train.Divergence("fp32", hist); w != "" {
		warn(w)
	}
	// The FP32 model in the runtime, made once: evaluated, saved, quantized (PTQ) and the
	// distillation teacher.
	fm, err := fp32.FloatModel()
	if err != nil {
		return err
	}
	// Every model of the run reads its input as the FP32 model's record says (a loaded file's
	// may differ from pixel/255): evaluation, calibration and QAT get the data that way, and
	// the conversions carry the record into every saved file.
	for _, d := range []train.Data{trainData, testData} {
		if err := infer.Repixel(fm, d.Images); err != nil {
			return err
		}
	}
	row, err := report.Measure("fp32", fm, testData.Images, testData.Labels)
	if err != nil {
		return err
	}
	row.EpochSeconds = hist.EpochSeconds() // nil when loaded
	if o.Load != "" {
		row.Note = "loaded from " + o.Load
	}
	rows = append(rows, row)
	saved.Add("fp32", func(p string) error { return infer.SaveFloat(p, fm, o.trainingJSON()) })

	// The standard PTQ table, calibrated on the training images.
	prows, err := report.PTQ(fm, trainData.Images, testData.Images, testData.Labels, &saved, o.trainingJSON(), func(name, why string) {
		fmt.Fprintf(stdout, "%s: skipped, %s\n", name, why)
	})
	if err != nil {
		return err
	}
	rows = append(rows, prows...)

	if o.QAT {
		b := qat.Base{Model: fp32, Float: fm, History: hist, Training: o.trainingJSON(), Train: base}
		qrows, err := runQAT(o, b, trainData, testData, stdout, &saved, warn)
		if err != nil {
			return err
		}
		rows = append(rows, qrows...)
	}

	// Results first, each output independent of the others: the table, the JSON, then the
	// models; a failure is named and the rest is still written.
	fmt.Fprintln(stdout)
	doc := report.Document{Config: o, Kernels: report.ActiveKernels(), Results: rows, Warnings: warnings}
	failed := report.Publish(stdout, doc, report.Output{JSON: o.JSON, Stdout: rawStdout, Dir: o.Save, Run: o}, &saved)
	if len(failed) > 0 {
		return fmt.Errorf("%d output(s) not written: %s", len(failed), strings.Join(failed, "; "))
	}
	return nil
}

// loadFP32 reads -load: a tinyq float, QAT or checkpoint file, or a float ONNX model
// (.onnx; it records no training).
func loadFP32(path string) (*nn.MLP, modelfile.Info, error) {
	if !strings.HasSuffix(strings.ToLower(path), ".onnx") {
		return nn.Load(path)
	}
	fm, err := onnx.Load(path)
	if err != nil {
		return nil, modelfile.Info{}, err
	}
	m, err := nn.FromFloatModel(fm)
	return m, modelfile.Info{}, err
}

// obtainFP32 loads the float model (-load), or trains it, saving a checkpoint after every
// epoch (-checkpoint) and continuing from one (-resume). It returns the model and its
// training history (nil when loaded). With -load, o is updated to record what the file holds.
func obtainFP32(o *options, trainData, testData train.Data, base train.Config) (*nn.MLP, *train.History, error) {
	if o.Load != "" {
		m, info, err := loadFP32(o.Load)
		if err != nil {
			return nil, nil, fmt.Errorf("-load: %w", err)
		}
		in := m.InputRecord()
		if err := mnist.CheckModel(m.InputSize(), m.Classes(), in.Width, in.Height); err != nil {
			return nil, nil, fmt.Errorf("-load %s: %w", o.Load, err)
		}
		def := modelfile.DefaultInput(m.InputSize())
		if o.Study != "" && in != def {
			return nil, nil, fmt.Errorf("-load %s: the model reads pixel/%v, and -study evaluates on pixel/%v only; use the table run (without -study) for this model", o.Load, in.PixelDivisor, def.PixelDivisor)
		}
		// Record what the file holds, not flags that did not shape it.
		o.net, o.Hidden, o.Arch = m.Architecture(), nil, m.Architecture().String()
		if got := m.Sizes(); got != nil {
			o.Hidden, o.Arch = got[1:len(got)-1], ""
		}
		o.loadedTraining = info.Training
		if o.FreezeBN != nil && !o.net.HasBatchNorm() {
			return nil, nil, usagef("-freeze-bn %d: %s has no BatchNorm layer (mnist -save writes BatchNorm folded into the convolutions); drop -freeze-bn", *o.FreezeBN, o.Load)
		}
		o.applyRecipe()
		if err := checkMemory(o.net, o.Batch, "-load "+o.Load); o.QAT && err != nil { // only QAT trains it
			return nil, nil, err
		}
		return m, nil, nil
	}
	return train.TrainFP32(o.net, base, trainData, testData, o.Checkpoint, o.trainingJSON(), o.Resume)
}

// runQAT trains one quantization-aware model per -bits target from the FP32 model b
// (qat.Options.Phase), evaluates its fake-quant simulation, and converts it to integers.
func runQAT(o options, b qat.Base, trainData, testData train.Data, stdout io.Writer, saved *modelfile.Set, warn func(string)) ([]report.Row, error) {
	var rows []report.Row
	for _, t := range o.Bits {
		ph, err := o.qat.Phase(t, b)
		if err != nil {
			return nil, fmt.Errorf("-bits: %w", err)
		}
		name := ph.Train.Name
		res, err := qat.Run(ph, trainData, testData)
		if w := res.Divergence(); w != "" {
			warn(w)
		}
		if err != nil {
			return nil, err
		}
		row, irow, err := report.QAT(name, res.Simulation, res.Int, res.History.EpochSeconds(), "fake-quant in float32, init "+o.QATInit, testData.Images, testData.Labels)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "%s: %s\n", irow.Name, irow.Note)
		rows = append(rows, row, irow)
		if !t.PerLayer() { // t.ModelNames: a mixed model is saved as integers only
			saved.Add(name, func(p string) error { return res.Model.Save(p, o.trainingJSON()) })
		}
		saved.Add(irow.Name, func(p string) error { return infer.SaveInt(p, res.Int, o.trainingJSON()) })
	}
	return rows, nil
}
