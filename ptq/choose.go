package ptq

import (
	"errors"
	"fmt"
	"math"

	"tinyq/infer"
	"tinyq/quant"
)

// LogitMSE returns the mean squared difference between m's logits and ref's on images
// ([n, in], preprocessed): the quantization error a choice leaves, measured without labels
// (lower is better).
func LogitMSE(ref, m infer.Model, images []float32) (float64, error) {
	want, err := Logits(ref, images)
	if err != nil {
		var nf *NonFiniteError
		if errors.As(err, &nf) {
			nf.Model = "the reference"
		}
		return 0, err
	}
	mse, _, err := LogitMSEFrom(want, m, images, nil)
	return mse, err
}

// NonFiniteError reports a logit that is NaN or ±Inf: the model's activations overflow
// float32 (huge weights, or inputs far outside what it was trained on). No error measure,
// calibration or choice can be made from such logits, so they are refused, not scored.
type NonFiniteError struct {
	Model string  // whose logits ("the float model"; "" for the model given)
	Set   string  // which images ("calibration", "validation"; "" for the images given)
	Image int     // index of the image in its set
	Class int     // index of the logit
	Value float32 // the logit
}

func (e *NonFiniteError) Error() string {
	whose, set := "", ""
	if e.Model != "" {
		whose = e.Model + "'s "
	}
	if e.Set != "" {
		set = e.Set + " "
	}
	return fmt.Sprintf("ptq: %slogit for class %d of %simage %d is %v; want finite logits (the model's activations overflow float32)", whose, e.Class, set, e.Image, e.Value)
}

// nonFinite returns a *NonFiniteError for the first NaN or ±Inf in logits ([rows, out]) of
// images first, first+1, ..., or nil.
func nonFinite(logits []float32, out, first int) error {
	if i := quant.FirstNonFinite(logits); i >= 0 {
		return &NonFiniteError{Image: first + i/out, Class: i % out, Value: logits[i]}
	}
	return nil
}

// Logits returns m's logits ([n, classes]) on images ([n, in]), computed in batches of
// infer.EvalBatch. A logit that is not finite is an error (*NonFiniteError).
func Logits(m infer.Model, images []float32) ([]float32, error) {
	in, out := m.Shape()
	n := len(images) / in
	if n == 0 || len(images) != n*in {
		return nil, fmt.Errorf("ptq: logits: %d values are not whole images of %d", len(images), in)
	}
	logits := make([]float32, n*out)
	for lo := 0; lo < n; lo += infer.EvalBatch {
		hi := min(lo+infer.EvalBatch, n)
		if err := m.Forward(images[lo*in:hi*in], hi-lo, logits[lo*out:hi*out]); err != nil {
			return nil, fmt.Errorf("ptq: logits: %w", err)
		}
		if err := nonFinite(logits[lo*out:hi*out], out, lo); err != nil {
			return nil, err
		}
	}
	return logits, nil
}

// LogitMSEFrom is LogitMSE against reference logits computed once (Logits), for scoring
// many candidates on the same images. With labels (one per image) it also returns m's
// accuracy in percent from the same forward pass (0 without). A logit of either model that
// is not finite is an error (*NonFiniteError), never a NaN or infinite MSE.
func LogitMSEFrom(ref []float32, m infer.Model, images []float32, labels []uint8) (mse, accuracy float64, err error) {
	in, out := m.Shape()
	n := len(images) / in
	if n == 0 || len(images) != n*in || len(ref) != n*out || (labels != nil && len(labels) != n) {
		return 0, 0, fmt.Errorf("ptq: logit error: %d values, %d reference logits and %d labels for images of %d and %d classes", len(images), len(ref), len(labels), in, out)
	}
	q := make([]float32, min(infer.EvalBatch, n)*out)
	var sum float64
	right := 0
	for lo := 0; lo < n; lo += infer.EvalBatch {
		hi := min(lo+infer.EvalBatch, n)
		qr := q[:(hi-lo)*out]
		if err := m.Forward(images[lo*in:hi*in], hi-lo, qr); err != nil {
			return 0, 0, fmt.Errorf("ptq: logit error: %w", err)
		}
		if err := nonFinite(qr, out, lo); err != nil {
			return 0, 0, err
		}
		if err := nonFinite(ref[lo*out:hi*out], out, lo); err != nil {
			err.(*NonFiniteError).Model = "the reference"
			return 0, 0, err
		}
		for i, v := range ref[lo*out : hi*out] {
			d := float64(v - qr[i])
			sum += d * d
		}
		if labels != nil {
			for r := 0; r < hi-lo; r++ {
				if infer.Argmax(qr[r*out:(r+1)*out]) == int(labels[lo+r]) {
					right++
				}
			}
		}
	}
	if labels != nil {
		accuracy = 100 * float64(right) / float64(n)
	}
	return sum / float64(n*out), accuracy, nil
}

// Choice is the outcome of Choose: the model it picked and what each candidate scored.
type Choice struct {
	Model *infer.IntModel
	// Scores are each tried observer's logit MSE against the float model on the validation
	// images, in the order tried (empty when only one candidate was tried).
	Scores []Score
	// Calibrated and Validated are the numbers of images used for each.
	Calibrated, Validated int
}

// Score is one candidate's logit MSE.
type Score struct {
	// Observer calibrated the activation ranges; WeightRange chose the weight ranges
	// (Config.WeightRange).
	Observer, WeightRange quant.ObserverKind
	MSE                   float64
}

// Method names the candidate: the activation observer, followed by "; weights mse" when the
// weight ranges were MSE-clipped (as the integer model's Calibration records it).
func (s Score) Method() string {
	if s.WeightRange == quant.MSEObserver {
		return s.Observer.String() + "; weights mse"
	}
	return s.Observer.String()
}

// Choose converts m with cfg, choosing how to calibrate activation ranges and, below 8 bits,
// how to range the weights. Dynamic mode needs no calibration. In Static mode with 8-bit
// weights and activations MinMax is used, as in PyTorch and TFLite. Below 8 bits (weights or
// activations) the activation observers MinMax, Percentile and MSE are each tried, and with
// weights below 8 bits each of them both with the weights' min/max and with MSE-clipped
// weight ranges (Config.WeightRange); the candidate whose integer model's logits are closest
// (mean squared error) to the float model's on val wins: a label-free measure of the
// quantization error. (The float model classifies its own training images almost perfectly,
// so accuracy on them cannot tell methods apart.) calib and val are [n, in] images; use
// training images, never the test set, and keep val apart from calib. An empty val means
// MinMax only (and cfg.WeightRange). cfg.Observer is ignored in Static mode.
func Choose(m *infer.FloatModel, cfg Config, calib, val []float32) (Choice, error) {
	if err := cfg.Validate(); err != nil {
		return Choice{}, err
	}
	if cfg.Mode == Dynamic {
		im, err := Convert(m, cfg, Plan{})
		return Choice{Model: im}, err
	}
	if err := checkModel(m); err != nil {
		return Choice{}, fmt.Errorf("ptq: choose: %w", err)
	}
	in, _ := m.Shape()
	c := Choice{Calibrated: len(calib) / in, Validated: len(val) / in}
	if c.Calibrated == 0 {
		return Choice{}, errors.New("ptq: choose: empty calibration set (want at least one image)")
	}
	kinds := []quant.ObserverKind{quant.MinMaxObserver}
	weights := []quant.ObserverKind{cfg.WeightRange}
	if n := cfg.Spec.Narrowest(); (n.Weight < 8 || n.Activation < 8) && c.Validated > 0 {
		kinds = []quant.ObserverKind{quant.MinMaxObserver, quant.PercentileObserver, quant.MSEObserver}
		if n.Weight < 8 {
			weights = []quant.ObserverKind{quant.MinMaxObserver, quant.MSEObserver}
		}
	}
	tries := len(kinds) * len(weights)
	var refLogits []float32 // the float model's logits on val, computed once
	if tries > 1 {
		var err error
		if refLogits, err = Logits(m, val); err != nil {
			var nf *NonFiniteError
			if errors.As(err, &nf) {
				nf.Model, nf.Set = "the float model", "validation"
				return Choice{}, nf
			}
			return Choice{}, fmt.Errorf("ptq: choose: %w", err)
		}
	}
	best := math.Inf(1)
	for _, k := range kinds {
		cand := cfg
		cand.Observer = quant.ObserverConfig{Kind: k}
		ranges, err := Calibrate(m, cand, calib) // the float model's: the same for any weights
		if err != nil {
			return Choice{}, err
		}
		for _, w := range weights {
			cand.WeightRange = w
			im, err := Convert(m, cand, Plan{Inputs: ranges})
			if err != nil {
				return Choice{}, err
			}
			if tries == 1 {
				c.Model = im
				break
			}
			score := Score{Observer: k, WeightRange: w}
			if score.WeightRange == 0 {
				score.WeightRange = quant.MinMaxObserver
			}
			mse, _, err := LogitMSEFrom(refLogits, im, val, nil)
			if err != nil {
				var nf *NonFiniteError
				if errors.As(err, &nf) {
					nf.Model, nf.Set = fmt.Sprintf("the %s-calibrated integer model", score.Method()), "validation"
					return Choice{}, nf
				}
				return Choice{}, err
			}
			score.MSE = mse
			c.Scores = append(c.Scores, score)
			if mse < best {
				best, c.Model = mse, im
			}
		}
	}
	if c.Model == nil { // unreachable while every score is finite; never a nil model
		return Choice{}, fmt.Errorf("ptq: choose: no calibration method scored a finite logit MSE (%v)", c.Scores)
	}
	return c, nil
}

// Agreement compares a model's float fake-quant simulation with its integer conversion.
type Agreement struct {
	// Percent of samples with the same predicted class.
	Percent float64
	// MaxAbs is the largest absolute logit difference.
	MaxAbs float64
	// MaxLSB is the largest logit difference in units of the last layer's output step, its
	// accumulator scale s_in·s_w (the step between logits the integer model can produce).
	MaxLSB float64
}

// Compare runs sim (a float simulation) and im (its integer model) on images ([n, in]) and
// measures how far they agree.
func Compare(sim infer.Model, im *infer.IntModel, images []float32) (Agreement, error) {
	in, out := im.Shape()
	if sin, sout := sim.Shape(); sin != in || sout != out {
		return Agreement{}, fmt.Errorf("ptq: compare: shapes %d -> %d and %d -> %d", sin, sout, in, out)
	}
	n := len(images) / in
	if n == 0 || len(images) != n*in {
		return Agreement{}, fmt.Errorf("ptq: compare: %d values are not whole images of %d", len(images), in)
	}
	last := im.Layers[len(im.Layers)-1]
	fl := make([]float32, min(infer.EvalBatch, n)*out)
	il := make([]float32, len(fl))
	var a Agreement
	same := 0
	for lo := 0; lo < n; lo += infer.EvalBatch {
		hi := min(lo+infer.EvalBatch, n)
		x := images[lo*in : hi*in]
		f, q := fl[:(hi-lo)*out], il[:(hi-lo)*out]
		if err := sim.Forward(x, hi-lo, f); err != nil {
			return Agreement{}, fmt.Errorf("ptq: compare: %w", err)
		}
		if err := im.Forward(x, hi-lo, q); err != nil {
			return Agreement{}, fmt.Errorf("ptq: compare: %w", err)
		}
		for r := 0; r < hi-lo; r++ {
			if infer.Argmax(f[r*out:(r+1)*out]) == infer.Argmax(q[r*out:(r+1)*out]) {
				same++
			}
			for o := 0; o < out; o++ {
				d := math.Abs(float64(f[r*out+o] - q[r*out+o]))
				a.MaxAbs = math.Max(a.MaxAbs, d)
				if last.LogitScale != nil {
					a.MaxLSB = math.Max(a.MaxLSB, d/float64(last.LogitScale[o]))
				}
			}
		}
	}
	a.Percent = 100 * float64(same) / float64(n)
	return a, nil
}
