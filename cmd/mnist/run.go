package main

import (
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"tinyq/mnist"
	"tinyq/modelfile"
	"tinyq/nn"
	"tinyq/ptq"
	"tinyq/qat"
	"tinyq/quant"
	"tinyq/report"
	"tinyq/train"
)

// throughputBatch is the batch size at which inference throughput is measured and reported.
const throughputBatch = 1000

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
	fmt.Fprintf(stdout, "MNIST from %s: %d training, %d test images\n", dir, trainSet.N, testSet.N)

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
	row, err := floatRow("fp32", fp32, testData, 4)
	if err != nil {
		return err
	}
	row.EpochSeconds = seconds
	if o.Load != "" {
		row.Note = "loaded from " + o.Load
	}
	rows = append(rows, row)
	saved.add("fp32", func(p string) error { return modelfile.SaveFloat(p, fp32, o.trainingJSON()) })

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
		tr, err := train.NewTrainer(qm.MLP, qm.TrainConfig(tc))
		if err != nil {
			return nil, fmt.Errorf("train %s: %w", name, err)
		}
		ck := ""
		if o.Checkpoint != "" {
			ck = phaseCheckpoint(o.Checkpoint, name)
		}
		load := func(path string) (train.State, error) {
			st, info, err := modelfile.LoadQATCheckpoint(path, qm)
			if err == nil && info.Training != o.qatTrainingJSON() {
				err = fmt.Errorf("-resume: %s was written with training settings %s, this run has %s", path, info.Training, o.qatTrainingJSON())
			}
			return st, err
		}
		save := func(path string, st train.State) error {
			return modelfile.SaveQATCheckpoint(path, qm, st, o.qatTrainingJSON())
		}
		hist, err := fitCheckpointed(tr, o, ck, false, trainData, testData, load, save, base.Log)
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
		saved.add(name, func(p string) error { return modelfile.SaveQAT(p, qm, o.trainingJSON()) })

		// The same model through the one convert path and the integer runtime.
		plan := ptq.Plan{}
		for i := range qm.Layers {
			plan.Inputs = append(plan.Inputs, qm.Inputs[i].Params())
			plan.Weights = append(plan.Weights, qm.Weights[i].Params())
		}
		im, err := ptq.Convert(qm.MLP, ptq.Spec(ptq.Static, b.W, b.A), plan)
		if err != nil {
			return nil, fmt.Errorf("convert %s: %w", name, err)
		}
		irow, err := intRow(name+"-int", im, testData)
		if err != nil {
			return nil, err
		}
		agree, diff, lsb, err := agreement(qm.MLP, im, testData)
		if err != nil {
			return nil, err
		}
		irow.Note = fmt.Sprintf("integer runtime; agrees with %s on %.2f%% of predictions; largest logit difference %.4g (%.0f output LSBs of s_in·s_w)", name, agree, diff, lsb)
		fmt.Fprintf(stdout, "%s: %s\n", irow.Name, irow.Note)
		rows = append(rows, irow)
		saved.add(irow.Name, func(p string) error { return modelfile.SaveInt(p, im, o.trainingJSON()) })
	}
	return rows, nil
}

// calibrationImages is how many training images PTQ calibrates on (never test images).
const calibrationImages = ptq.DefaultCalibrationSize

// runPTQ converts the trained float model: fp16, and int8/int4 with static and dynamic
// activation scales.
func runPTQ(fp32 *nn.MLP, trainData, testData train.Data, stdout io.Writer, saved *artifacts, o options) ([]report.Row, error) {
	var rows []report.Row
	if half := ptq.Float16(fp32); half.Validate() != nil {
		fmt.Fprintf(stdout, "fp16: skipped, the model has values beyond FP16's range (±65504)\n")
	} else {
		row, err := floatRow("fp16", half, testData, 2)
		if err != nil {
			return nil, err
		}
		row.Note = "weights stored as IEEE half, computed in float32"
		rows = append(rows, row)
	}

	in := fp32.Layers[0].In
	ncal := min(calibrationImages, trainData.Len())
	calib := trainData.Images[:ncal*in]
	// Images for choosing a calibration method at low bit widths: the last training images,
	// not those calibrated on (and never the test set), up to 5,000. The method whose integer
	// model's logits are closest to the float model's wins: a label-free measure of the
	// quantization error (the float model classifies its own training images almost
	// perfectly, so accuracy on them cannot tell methods apart).
	nval := min(5000, trainData.Len()-ncal)
	val := trainData.Images[(trainData.Len()-nval)*in:]

	variants := []struct {
		name string
		cfg  ptq.Config
	}{
		{"ptq-w8a8-static", ptq.Spec(ptq.Static, 8, 8)},
		{"ptq-w8-dynamic", ptq.Spec(ptq.Dynamic, 8, 8)},
		{"ptq-w4a8-static", ptq.Spec(ptq.Static, 4, 8)},
		{"ptq-w4a4-static", ptq.Spec(ptq.Static, 4, 4)},
	}
	for _, v := range variants {
		var im *ptq.Model
		var err error
		note := ""
		switch v.cfg.Mode {
		case ptq.Dynamic:
			if im, err = ptq.Convert(fp32, v.cfg, ptq.Plan{}); err != nil {
				return nil, fmt.Errorf("%s: %w", v.name, err)
			}
			note = "activation scales per row at run time"
		default:
			kinds := []quant.ObserverKind{quant.MinMaxObserver}
			if (v.cfg.Weight.Bits < 8 || v.cfg.Activation.Bits < 8) && nval > 0 {
				kinds = []quant.ObserverKind{quant.MinMaxObserver, quant.PercentileObserver, quant.MSEObserver}
			}
			best := math.Inf(1)
			var tried []string
			for _, k := range kinds {
				cfg := v.cfg
				cfg.Observer = quant.ObserverConfig{Kind: k}
				ranges, err := ptq.Calibrate(fp32, calib, cfg.Activation, cfg.Observer)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", v.name, err)
				}
				cand, err := ptq.Convert(fp32, cfg, ptq.Plan{Inputs: ranges})
				if err != nil {
					return nil, fmt.Errorf("%s: %w", v.name, err)
				}
				if len(kinds) == 1 {
					im = cand
					break
				}
				mse, err := cand.LogitMSE(fp32, val)
				if err != nil {
					return nil, err
				}
				tried = append(tried, fmt.Sprintf("%s %.4f", k, mse))
				if mse < best {
					best, im = mse, cand
				}
			}
			note = fmt.Sprintf("calibrated on %d training images with %s", ncal, im.Config.Observer.Kind)
			if len(kinds) > 1 {
				note += fmt.Sprintf(", the smallest logit MSE against fp32 on %d other training images (%s)", nval, strings.Join(tried, ", "))
			}
		}
		row, err := intRow(v.name, im, testData)
		if err != nil {
			return nil, err
		}
		row.Note = note
		rows = append(rows, row)
		saved.add(v.name, func(p string) error { return modelfile.SaveInt(p, im, o.trainingJSON()) })
	}
	return rows, nil
}

// intRow evaluates an integer model and measures its throughput at batch throughputBatch.
func intRow(name string, im *ptq.Model, test train.Data) (report.Row, error) {
	acc, err := im.Evaluate(test.Images, test.Labels)
	if err != nil {
		return report.Row{}, err
	}
	in := im.Layers[0].In
	logits := make([]float32, throughputBatch*im.Layers[len(im.Layers)-1].Out)
	sps, err := throughput(func(x []float32, rows int) error {
		return im.Forward(x, rows, logits[:rows*im.Layers[len(im.Layers)-1].Out])
	}, test.Images, in)
	if err != nil {
		return report.Row{}, err
	}
	return report.Row{Name: name, Accuracy: acc, WeightBytes: im.WeightBytes(), SamplesPerSecond: sps}, nil
}

// agreement compares the fake-quant float simulation of a QAT model with its integer
// conversion on every test image: the percentage of equal predictions, and the largest
// logit difference, absolute and in units of the last layer's output LSB (its accumulator
// scale s_in·s_w, the step between logits the integer model can produce).
func agreement(sim *nn.MLP, im *ptq.Model, test train.Data) (pct, worstAbs, worstLSB float64, err error) {
	ev, err := sim.NewEvaluator(throughputBatch)
	if err != nil {
		return 0, 0, 0, err
	}
	in := im.Layers[0].In
	last := im.Layers[len(im.Layers)-1]
	out := last.Out
	n := test.Len()
	ilog := make([]float32, throughputBatch*out)
	same := 0
	for lo := 0; lo < n; lo += throughputBatch {
		hi := min(lo+throughputBatch, n)
		fl, err := ev.Forward(test.Images[lo*in:hi*in], hi-lo)
		if err != nil {
			return 0, 0, 0, err
		}
		il := ilog[:(hi-lo)*out]
		if err := im.Forward(test.Images[lo*in:hi*in], hi-lo, il); err != nil {
			return 0, 0, 0, err
		}
		for r := 0; r < hi-lo; r++ {
			if nn.Argmax(fl[r*out:(r+1)*out]) == nn.Argmax(il[r*out:(r+1)*out]) {
				same++
			}
			for o := 0; o < out; o++ {
				d := math.Abs(float64(fl[r*out+o] - il[r*out+o]))
				worstAbs = math.Max(worstAbs, d)
				worstLSB = math.Max(worstLSB, d/float64(last.LogitScale[o]))
			}
		}
	}
	return 100 * float64(same) / float64(n), worstAbs, worstLSB, nil
}
