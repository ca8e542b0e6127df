package main

import (
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"tinyq/infer"
	"tinyq/mnist"
	"tinyq/nn"
	"tinyq/ptq"
	"tinyq/qat"
	"tinyq/qkernel"
	"tinyq/quant"
	"tinyq/report"
	"tinyq/train"
)

// throughputBatch is the batch size at which inference throughput is measured and reported.
const throughputBatch = 1000

// bs1Images is how many test images the batch-1 throughput runs over, one per call.
const bs1Images = 2000

// execute runs the job described by opts.
func execute(o options, stdout, stderr io.Writer) error {
	// Output places are checked before any training, not discovered broken after it.
	if o.Save != "" {
		if err := os.MkdirAll(o.Save, 0o755); err != nil {
			return fmt.Errorf("-save: %w", err)
		}
	}
	if o.JSON != "" {
		if st, err := os.Stat(filepath.Dir(o.JSON)); err != nil || !st.IsDir() {
			return fmt.Errorf("-json %s: directory %s does not exist", o.JSON, filepath.Dir(o.JSON))
		}
	}
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
	fmt.Fprintf(stdout, "MNIST from %s: %d training, %d test images; integer kernels: %s\n", dir, trainSet.N, testSet.N, qkernel.Kernel())

	sizes := append(append([]int{trainSet.Rows * trainSet.Cols}, o.Hidden...), 10)
	base := train.Config{
		Epochs: o.Epochs, Batch: o.Batch, LR: o.LR, Seed: o.Seed,
		Log: stdout, Progress: progressWriter(o.Quiet, stderr),
	}

	var rows []report.Row
	var saved artifacts
	fp32, seconds, err := obtainFP32(o, sizes, trainData, testData, base)
	if err != nil {
		return err
	}
	fm, err := ptq.Float(fp32, infer.F32)
	if err != nil {
		return err
	}
	row, err := modelRow("fp32", fm, testData)
	if err != nil {
		return err
	}
	row.EpochSeconds = seconds
	if o.Load != "" {
		row.Note = "loaded from " + o.Load
	}
	rows = append(rows, row)
	saved.add("fp32", func(p string) error { return infer.SaveFloat(p, fm, o.trainingJSON()) })

	prows, err := runPTQ(fp32, trainData, testData, stdout, &saved, o)
	if err != nil {
		return err
	}
	rows = append(rows, prows...)

	if o.QAT {
		qrows, err := runQAT(o, sizes, fp32, trainData, testData, base, stdout, &saved)
		if err != nil {
			return err
		}
		rows = append(rows, qrows...)
	}
	if o.Save != "" {
		if err := saved.save(o.Save, stdout); err != nil {
			return err
		}
	}

	fmt.Fprintln(stdout)
	if err := report.Table(stdout, rows); err != nil {
		return err
	}
	if o.JSON != "" {
		doc := report.Document{Config: o, Kernels: report.Kernels{Int: qkernel.Kernel().String()}, Results: rows}
		if err := report.WriteJSON(o.JSON, doc); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", o.JSON)
	}
	return nil
}

// modelRow evaluates a runtime model on the whole test set and measures its inference
// throughput at batch throughputBatch.
func modelRow(name string, m infer.Model, test train.Data) (report.Row, error) {
	acc, err := infer.Evaluate(m, test.Images, test.Labels)
	if err != nil {
		return report.Row{}, fmt.Errorf("%s: %w", name, err)
	}
	sps, err := infer.Throughput(m, test.Images, throughputBatch)
	if err != nil {
		return report.Row{}, fmt.Errorf("%s: %w", name, err)
	}
	in, _ := m.Shape()
	bs1, err := infer.Throughput(m, test.Images[:min(bs1Images, test.Len())*in], 1)
	if err != nil {
		return report.Row{}, fmt.Errorf("%s: %w", name, err)
	}
	return report.Row{Name: name, Accuracy: acc, WeightBytes: m.WeightBytes(), SamplesPerSecond: sps, SamplesPerSecondBS1: bs1}, nil
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

// obtainFP32 loads the float model (-load), or trains it, saving a checkpoint after every
// epoch (-checkpoint) and continuing from one (-resume). It returns the model and the
// training seconds of each epoch.
func obtainFP32(o options, sizes []int, trainData, testData train.Data, base train.Config) (*nn.MLP, []float64, error) {
	if o.Load != "" {
		m, _, err := nn.Load(o.Load)
		if err != nil {
			return nil, nil, err
		}
		got := m.Sizes()
		if got[0] != sizes[0] || got[len(got)-1] != sizes[len(sizes)-1] {
			return nil, nil, fmt.Errorf("%s: model maps %d inputs to %d classes, MNIST needs %d to %d", o.Load, got[0], got[len(got)-1], sizes[0], sizes[len(sizes)-1])
		}
		return m, nil, nil
	}
	m, err := nn.NewMLP(sizes, rand.New(rand.NewSource(o.Seed)))
	if err != nil {
		return nil, nil, err
	}
	cfg := base
	cfg.Name = "fp32"
	tr, err := train.NewTrainer(m, cfg)
	if err != nil {
		return nil, nil, err
	}
	hist, err := tr.Run(trainData, testData, train.FloatCheckpoints(m, o.Checkpoint, o.trainingJSON(), o.Resume))
	if err != nil {
		return nil, nil, fmt.Errorf("train fp32: %w", err)
	}
	return m, hist.EpochSeconds(), nil
}

// runQAT trains one quantization-aware model per bit pair, evaluates its fake-quant
// simulation, and converts it to integers.
func runQAT(o options, sizes []int, fp32 *nn.MLP, trainData, testData train.Data, base train.Config, stdout io.Writer, saved *artifacts) ([]report.Row, error) {
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
		tc.LR = o.QATLR
		tr, err := qm.NewTrainer(tc)
		if err != nil {
			return nil, fmt.Errorf("train %s: %w", name, err)
		}
		ck := ""
		if o.Checkpoint != "" {
			ck = phaseCheckpoint(o.Checkpoint, name)
		}
		hist, err := tr.Run(trainData, testData, qm.Checkpoints(ck, o.qatTrainingJSON(), o.Resume))
		if err != nil {
			return nil, fmt.Errorf("train %s: %w", name, err)
		}
		sim, err := qm.Simulation()
		if err != nil {
			return nil, err
		}
		row, err := modelRow(name, sim, testData)
		if err != nil {
			return nil, err
		}
		row.WeightBytes = 0 // a fake-quant model is stored as float32; its integer size is in the -int row
		row.EpochSeconds = hist.EpochSeconds()
		row.Note = fmt.Sprintf("fake-quant in float32, init %s", o.QATInit)
		rows = append(rows, row)
		saved.add(name, func(p string) error { return qm.Save(p, o.trainingJSON()) })

		im, err := qm.Convert(infer.Static)
		if err != nil {
			return nil, err
		}
		irow, err := modelRow(name+"-int", im, testData)
		if err != nil {
			return nil, err
		}
		ag, err := ptq.Compare(sim, im, testData.Images)
		if err != nil {
			return nil, err
		}
		irow.Note = fmt.Sprintf("integer runtime; agrees with %s on %.2f%% of predictions; largest logit difference %.4g (%.0f output LSBs of s_in·s_w)", name, ag.Percent, ag.MaxAbs, ag.MaxLSB)
		fmt.Fprintf(stdout, "%s: %s\n", irow.Name, irow.Note)
		rows = append(rows, irow)
		saved.add(irow.Name, func(p string) error { return infer.SaveInt(p, im, o.trainingJSON()) })
	}
	return rows, nil
}

// ptqVariants are the PTQ rows of the table.
var ptqVariants = []ptq.Config{
	ptq.Spec(ptq.Static, 8, 8),
	ptq.Spec(ptq.Dynamic, 8, 8),
	ptq.Spec(ptq.Static, 4, 8),
	ptq.Spec(ptq.Static, 4, 4),
}

// runPTQ converts the trained float model: fp16, and int8/int4 with static and dynamic
// activation scales.
func runPTQ(fp32 *nn.MLP, trainData, testData train.Data, stdout io.Writer, saved *artifacts, o options) ([]report.Row, error) {
	var rows []report.Row
	if half, err := ptq.Float(fp32, infer.F16); err != nil {
		fmt.Fprintf(stdout, "fp16: skipped, the model has values beyond FP16's range (±65504)\n")
	} else {
		row, err := modelRow("fp16", half, testData)
		if err != nil {
			return nil, err
		}
		row.Note = "weights stored as IEEE half, computed in float32"
		rows = append(rows, row)
		saved.add("fp16", func(p string) error { return infer.SaveFloat(p, half, o.trainingJSON()) })
	}

	// Calibration images: the first training images; images for choosing a calibration
	// method: the last ones, up to 5,000, never those calibrated on (and never the test set).
	in := fp32.Layers[0].In
	ncal := min(ptq.DefaultCalibrationSize, trainData.Len())
	nval := min(5000, trainData.Len()-ncal)
	calib := trainData.Images[:ncal*in]
	val := trainData.Images[(trainData.Len()-nval)*in:]
	for _, cfg := range ptqVariants {
		name := "ptq-" + cfg.Name()
		c, err := ptq.Choose(fp32, cfg, calib, val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		row, err := modelRow(name, c.Model, testData)
		if err != nil {
			return nil, err
		}
		row.Note = "activation scales per row at run time"
		if cfg.Mode == ptq.Static {
			row.Note = fmt.Sprintf("calibrated on %d training images with %s", c.Calibrated, c.Model.Calibration)
			if len(c.Scores) > 0 {
				var tried []string
				for _, s := range c.Scores {
					tried = append(tried, fmt.Sprintf("%s %.4f", s.Observer, s.MSE))
				}
				row.Note += fmt.Sprintf(", the smallest logit MSE against fp32 on %d other training images (%s)", c.Validated, strings.Join(tried, ", "))
			}
		}
		rows = append(rows, row)
		im := c.Model
		saved.add(name, func(p string) error { return infer.SaveInt(p, im, o.trainingJSON()) })
	}
	return rows, nil
}
