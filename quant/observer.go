package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Observer gathers statistics of the tensors it is shown and computes
// quantization parameters from them. It never modifies its input. Observers
// are not safe for concurrent use.
type Observer interface {
	// Observe records the statistics of x, row-major with the given shape.
	// On error (shape mismatch, NaN or ±Inf, empty tensor, channel count
	// different from earlier batches) the observer state is unchanged.
	Observe(x []float32, shape []int) error
	// Params returns parameters for everything observed since construction
	// or the last Reset, or ErrNoData if nothing was observed. The result
	// shares no memory with the observer.
	Params() (Params, error)
	// Reset forgets everything observed.
	Reset()
}

// ObserverKind selects how an observer turns statistics into a range.
type ObserverKind int

// RangeState is implemented by the observers whose whole state is a per-channel range
// (MinMaxObserver and MovingAverageObserver, and no other), so that a checkpoint can save and
// restore them exactly. Implementing it is a promise about Observe as well: the observer's
// parameters depend only on the per-channel minimum and maximum of each observed tensor, so
// observing a tensor holding just those minima and maxima (channel c along the same axis)
// leaves the same state and gives the same Params bit for bit. autograd's fake-quant relies
// on the promise to compute the range itself and skip the observer's pass over the data.
// Histogram observers (Percentile, MSE) need every value and do not implement it.
type RangeState interface {
	// Range returns copies of the observed per-channel minima and maxima; ok is false
	// before the first batch.
	Range() (mins, maxs []float32, ok bool)
	// SetRange replaces the observed range (a checkpoint's), as if those batches had been
	// seen. It is an error if the lengths differ or are 0, a value is not finite, or a
	// minimum exceeds its maximum.
	SetRange(mins, maxs []float32) error
}

const (
	// MinMaxObserver uses the running minimum and maximum of everything
	// observed.
	MinMaxObserver ObserverKind = iota + 1
	// MovingAverageObserver uses moving averages of the per-batch min and
	// max: the first batch initialises m, then m = (1-c)*m + c*batch with c =
	// ObserverConfig.Momentum (PyTorch's MovingAverageMinMaxObserver).
	MovingAverageObserver
	// PercentileObserver clips at a percentile of the observed values: of |x|
	// for Symmetric (range ±p), of x for the upper end of Affine with the
	// lower end kept at the observed minimum (usually 0 after a ReLU).
	// PerTensor only.
	PercentileObserver
	// MSEObserver picks, among mseCandidates clipping ranges that are
	// fractions 1/100, 2/100, ..., 1 of the observed range, the one that
	// minimises the squared fake-quantization error over the observed values
	// (evaluated on a histogram). PerTensor only.
	MSEObserver
	// MeanAbsObserver gives the initial step size of Learned Step Size
	// Quantization (Esser et al. 2019, section 2.1): per channel (or per
	// tensor),
	//
	//	scale = 2·mean|x| / sqrt(Qp)
	//
	// over every value observed since the last Reset, Qp being the largest
	// positive level: qmax for Symmetric (zero point 0), qmax-qmin for Affine.
	// An Affine zero point places the observed minimum (widened to contain 0)
	// at qmin, as ChooseParams does: qmin for non-negative data, so there
	// Qp = qmax - zp exactly. Unlike a max-based scale it clips the largest
	// values, which keeps most ternary (2-bit) weights away from 0.
	MeanAbsObserver
)

var observerKindNames = [...]string{
	MinMaxObserver:        "minmax",
	MovingAverageObserver: "moving-average",
	PercentileObserver:    "percentile",
	MSEObserver:           "mse",
	MeanAbsObserver:       "meanabs",
}

// String returns "minmax", "moving-average", "percentile", "mse" or "meanabs".
func (k ObserverKind) String() string {
	if k >= MinMaxObserver && k <= MeanAbsObserver {
		return observerKindNames[k]
	}
	return fmt.Sprintf("ObserverKind(%d)", int(k))
}

// ParseObserverKind is the inverse of ObserverKind.String.
func ParseObserverKind(s string) (ObserverKind, error) {
	for k := MinMaxObserver; k <= MeanAbsObserver; k++ {
		if observerKindNames[k] == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("quant: unknown observer kind %q, want minmax, moving-average, percentile, mse or meanabs", s)
}

// Defaults for the zero fields of ObserverConfig.
const (
	// DefaultMomentum is the averaging constant of MovingAverageObserver,
	// PyTorch's MovingAverageMinMaxObserver default averaging_constant.
	DefaultMomentum float32 = 0.01
	// DefaultPercentile is the clipping percentile of PercentileObserver.
	DefaultPercentile = 99.99
	// DefaultBins is the histogram size of MSEObserver (PyTorch's
	// HistogramObserver default).
	DefaultBins = 2048
	// MaxBins bounds ObserverConfig.Bins.
	MaxBins = 1 << 20
	// MaxSamples is how many values PercentileObserver and MSEObserver keep.
	// Up to it they keep every value; beyond it a deterministic reservoir
	// sample (Algorithm R driven by a fixed-seed PCG) of this size. 2^21
	// float32 values are 8 MiB per observer.
	MaxSamples = 1 << 21
)

// mseCandidates is the number of clipping ranges MSEObserver tries.
const mseCandidates = 100

// ObserverConfig configures NewObserver. A zero field means its documented
// default: Kind MinMaxObserver, Momentum DefaultMomentum, Percentile
// DefaultPercentile, Bins DefaultBins. Fields a kind does not use are
// validated but otherwise ignored.
type ObserverConfig struct {
	Kind       ObserverKind
	Momentum   float32 // MovingAverageObserver averaging constant, in (0, 1]
	Percentile float64 // PercentileObserver percentile, in (0, 100]
	Bins       int     // MSEObserver histogram bins, in [1, MaxBins]
}

// withDefaults validates cfg and fills its zero fields.
func (cfg ObserverConfig) withDefaults() (ObserverConfig, error) {
	if cfg.Kind == 0 {
		cfg.Kind = MinMaxObserver
	}
	if cfg.Kind < MinMaxObserver || cfg.Kind > MeanAbsObserver {
		return cfg, fmt.Errorf("quant: unknown observer kind %d", int(cfg.Kind))
	}
	if cfg.Momentum == 0 {
		cfg.Momentum = DefaultMomentum
	}
	if !(cfg.Momentum > 0 && cfg.Momentum <= 1) {
		return cfg, fmt.Errorf("quant: observer momentum %v outside (0, 1]", cfg.Momentum)
	}
	if cfg.Percentile == 0 {
		cfg.Percentile = DefaultPercentile
	}
	if !(cfg.Percentile > 0 && cfg.Percentile <= 100) {
		return cfg, fmt.Errorf("quant: observer percentile %v outside (0, 100]", cfg.Percentile)
	}
	if cfg.Bins == 0 {
		cfg.Bins = DefaultBins
	}
	if cfg.Bins < 1 || cfg.Bins > MaxBins {
		return cfg, fmt.Errorf("quant: observer bins %d outside [1, %d]", cfg.Bins, MaxBins)
	}
	return cfg, nil
}

// NewObserver returns an observer of the given kind for tensors to be
// quantized with spec. It validates spec and cfg. PercentileObserver and
// MSEObserver accept PerTensor specs only (they are for activations);
// MeanAbsObserver accepts both granularities.
func NewObserver(spec Spec, cfg ObserverConfig) (Observer, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	switch cfg.Kind {
	case MinMaxObserver:
		return &minMaxObserver{spec: spec}, nil
	case MovingAverageObserver:
		return &minMaxObserver{spec: spec, moving: true, momentum: cfg.Momentum}, nil
	case MeanAbsObserver:
		return &meanAbsObserver{spec: spec}, nil
	}
	if spec.Granularity != PerTensor {
		return nil, fmt.Errorf("quant: %v observer supports per-tensor specs only, got %v", cfg.Kind, spec)
	}
	o := &sampleObserver{spec: spec, cfg: cfg, capacity: MaxSamples}
	o.Reset()
	return o, nil
}

// minMaxObserver implements MinMaxObserver and MovingAverageObserver.
type minMaxObserver struct {
	spec       Spec
	moving     bool
	momentum   float32
	mins, maxs []float32 // nil until the first batch
}

func (o *minMaxObserver) Observe(x []float32, shape []int) error {
	mins, maxs, err := MinMax(x, shape, o.spec)
	if err != nil {
		return err
	}
	if o.mins == nil {
		o.mins, o.maxs = mins, maxs
		return nil
	}
	if len(mins) != len(o.mins) {
		return fmt.Errorf("quant: observer saw %d channels along axis %d, earlier batches had %d",
			len(mins), o.spec.Axis, len(o.mins))
	}
	c := o.momentum
	for i := range mins {
		if o.moving {
			// The explicit float32 conversions forbid fusing into an FMA, so
			// the result is the same on every platform.
			o.mins[i] = float32((1-c)*o.mins[i]) + float32(c*mins[i])
			o.maxs[i] = float32((1-c)*o.maxs[i]) + float32(c*maxs[i])
		} else {
			o.mins[i] = min(o.mins[i], mins[i])
			o.maxs[i] = max(o.maxs[i], maxs[i])
		}
	}
	return nil
}

func (o *minMaxObserver) Params() (Params, error) {
	if o.mins == nil {
		return Params{}, ErrNoData
	}
	return ChooseParams(o.spec, o.mins, o.maxs)
}

func (o *minMaxObserver) Reset() { o.mins, o.maxs = nil, nil }

// Range returns copies of the observed per-channel minima and maxima; ok is false before the
// first batch.
func (o *minMaxObserver) Range() (mins, maxs []float32, ok bool) {
	if o.mins == nil {
		return nil, nil, false
	}
	return append([]float32(nil), o.mins...), append([]float32(nil), o.maxs...), true
}

// SetRange replaces the observed range (a checkpoint's), as if those batches had been seen.
func (o *minMaxObserver) SetRange(mins, maxs []float32) error {
	if len(mins) == 0 || len(mins) != len(maxs) {
		return fmt.Errorf("quant: observer range of %d minima and %d maxima", len(mins), len(maxs))
	}
	for i := range mins {
		if err := checkFinite("observer range", []float32{mins[i], maxs[i]}); err != nil {
			return err
		}
		if mins[i] > maxs[i] {
			return fmt.Errorf("quant: observer range channel %d: min %v > max %v", i, mins[i], maxs[i])
		}
	}
	o.mins, o.maxs = append([]float32(nil), mins...), append([]float32(nil), maxs...)
	return nil
}

// sampleObserver implements PercentileObserver and MSEObserver. It keeps the
// exact min and max of everything observed and a sample of the values: all of
// them up to capacity, then a reservoir sample. The sampling generator has a
// fixed seed, so the same batches give the same Params.
type sampleObserver struct {
	spec     Spec
	cfg      ObserverConfig
	capacity int

	seen     uint64 // values observed
	min, max float32
	sample   []float32
	rng      *rand.Rand
}

// Fixed PCG seeds of the reservoir sampler (arbitrary; fixed for determinism).
const sampleSeed1, sampleSeed2 = 0x7469_6e79_71, 0x7175_616e_74

func (o *sampleObserver) Reset() {
	o.seen = 0
	o.min, o.max = 0, 0
	o.sample = o.sample[:0]
	o.rng = rand.New(rand.NewPCG(sampleSeed1, sampleSeed2))
}

func (o *sampleObserver) Observe(x []float32, shape []int) error {
	mins, maxs, err := MinMax(x, shape, o.spec) // validates shape and finiteness
	if err != nil {
		return err
	}
	if o.seen == 0 {
		o.min, o.max = mins[0], maxs[0]
	} else {
		o.min, o.max = min(o.min, mins[0]), max(o.max, maxs[0])
	}
	for _, v := range x {
		switch {
		case len(o.sample) < o.capacity:
			o.sample = append(o.sample, v)
		default:
			// Algorithm R: value number seen (0-based) replaces a random
			// slot with probability capacity/(seen+1).
			if j := o.rng.Uint64N(o.seen + 1); j < uint64(o.capacity) {
				o.sample[j] = v
			}
		}
		o.seen++
	}
	return nil
}

func (o *sampleObserver) Params() (Params, error) {
	if o.seen == 0 {
		return Params{}, ErrNoData
	}
	lo, hi := o.clipRange()
	return ChooseParams(o.spec, []float32{lo}, []float32{hi})
}

// clipRange returns the range to hand to ChooseParams.
func (o *sampleObserver) clipRange() (lo, hi float32) {
	if o.cfg.Kind == PercentileObserver {
		if o.spec.Scheme == Symmetric {
			a := make([]float32, len(o.sample))
			for i, v := range o.sample {
				a[i] = float32(math.Abs(float64(v)))
			}
			p := percentile(a, o.cfg.Percentile)
			return -p, p
		}
		a := slices.Clone(o.sample)
		return o.min, max(percentile(a, o.cfg.Percentile), o.min)
	}
	return o.mseRange()
}

// percentile returns the p-th percentile of a (0 < p <= 100) with linear
// interpolation between closest ranks (NumPy's default method). It sorts a.
func percentile(a []float32, p float64) float32 {
	slices.Sort(a)
	rank := p / 100 * float64(len(a)-1)
	i := int(rank)
	if i >= len(a)-1 {
		return a[len(a)-1]
	}
	f := rank - float64(i)
	return float32(float64(a[i]) + f*(float64(a[i+1])-float64(a[i])))
}

// mseRange searches clipping ranges r*[lo, hi] for r = k/mseCandidates,
// k = 1..mseCandidates, where [lo, hi] is the observed range (for
// Symmetric: ±max|x|; for Affine: widened to contain 0). The cost of a
// candidate is sum_b count_b * (m_b - fq(m_b))^2 over a histogram of
// cfg.Bins bins, m_b being the mean of the values in bin b (exact for
// the many exact zeros after a ReLU, unlike the bin center). Ties go to the
// wider range.
func (o *sampleObserver) mseRange() (lo, hi float32) {
	sym := o.spec.Scheme == Symmetric
	if sym {
		hi = max(-o.min, o.max) // max|x|
		lo = -hi
	} else {
		lo, hi = min(o.min, 0), max(o.max, 0)
	}
	if hi == lo {
		return lo, hi
	}
	// Histogram over [hlo, hi]; for Symmetric over |x| in [0, hi], since
	// symmetric fake-quant is odd and its error even.
	hlo := lo
	if sym {
		hlo = 0
	}
	nb := o.cfg.Bins
	width := (float64(hi) - float64(hlo)) / float64(nb)
	count := make([]float64, nb)
	sum := make([]float64, nb)
	for _, v := range o.sample {
		x := float64(v)
		if sym {
			x = math.Abs(x)
		}
		b := min(int((x-float64(hlo))/width), nb-1)
		count[b]++
		sum[b] += x
	}
	means := make([]float32, 0, nb)
	counts := make([]float64, 0, nb)
	for b := range nb {
		if count[b] > 0 {
			means = append(means, float32(sum[b]/count[b]))
			counts = append(counts, count[b])
		}
	}
	return clipSearch(o.spec, lo, hi, means, counts)
}

// clipSearch returns, among the clipping ranges r*[lo, hi] for r = k/mseCandidates,
// k = 1..mseCandidates, the one whose fake-quantization (at spec's bits and scheme, one
// scale) of the values vals, value i counted counts[i] times (nil counts: once each), has
// the least squared error. Ties go to the wider range. MSEObserver (on histogram bin means)
// and MSERanges (on a weight channel's values) share it.
func clipSearch(spec Spec, lo, hi float32, vals []float32, counts []float64) (float32, float32) {
	bestLo, bestHi := lo, hi
	bestCost := math.Inf(1)
	for k := mseCandidates; k >= 1; k-- {
		r := float32(k) / mseCandidates
		clo, chi := r*lo, r*hi
		p, err := ChooseParams(Spec{Bits: spec.Bits, Scheme: spec.Scheme, Granularity: PerTensor},
			[]float32{clo}, []float32{chi})
		if err != nil {
			continue // cannot happen for a finite range; skip the candidate
		}
		s, zp := p.Scales[0], p.ZeroPoints[0]
		cost := 0.0
		for i, m := range vals {
			d := float64(m) - float64(FakeQuantizeValue(m, s, zp, p.QMin, p.QMax))
			w := 1.0
			if counts != nil {
				w = counts[i]
			}
			cost += w * d * d
		}
		if cost < bestCost {
			bestCost, bestLo, bestHi = cost, clo, chi
		}
	}
	return bestLo, bestHi
}

// meanAbsObserver implements MeanAbsObserver: per channel, the sum of |x| and the count of
// values observed, and the minimum (for an Affine zero point).
type meanAbsObserver struct {
	spec Spec
	sums []float64 // Σ|x| per channel; nil until the first batch
	n    int64     // values per channel observed
	mins []float32
}

func (o *meanAbsObserver) Observe(x []float32, shape []int) error {
	mins, _, err := MinMax(x, shape, o.spec) // validates shape and finiteness
	if err != nil {
		return err
	}
	axis := -1
	if o.spec.Granularity == PerChannel {
		axis = o.spec.Axis
	}
	outer, chans, inner, err := SplitAxis(shape, axis)
	if err != nil {
		return err
	}
	if o.sums != nil && len(o.sums) != chans {
		return fmt.Errorf("quant: observer saw %d channels along axis %d, earlier batches had %d",
			chans, o.spec.Axis, len(o.sums))
	}
	sums := make([]float64, chans)
	for out := range outer {
		for c := range chans {
			off := (out*chans + c) * inner
			for _, v := range x[off : off+inner] {
				sums[c] += math.Abs(float64(v))
			}
		}
	}
	if o.sums == nil {
		o.sums, o.mins = sums, mins
	} else {
		for c := range sums {
			o.sums[c] += sums[c]
			o.mins[c] = min(o.mins[c], mins[c])
		}
	}
	o.n += int64(outer * inner)
	return nil
}

func (o *meanAbsObserver) Params() (Params, error) {
	if o.sums == nil {
		return Params{}, ErrNoData
	}
	qmin, qmax := o.spec.QRange()
	qp := qmax // Symmetric: zero point 0
	if o.spec.Scheme == Affine {
		qp = qmax - qmin
	}
	p := Params{Scales: make([]float32, len(o.sums)), ZeroPoints: make([]int32, len(o.sums)), QMin: qmin, QMax: qmax, Axis: -1}
	if o.spec.Granularity == PerChannel {
		p.Axis = o.spec.Axis
	}
	for c, sum := range o.sums {
		s := float32(2 * (sum / float64(o.n)) / math.Sqrt(float64(qp)))
		s = max(s, MinScale)
		p.Scales[c] = s
		if o.spec.Scheme == Affine {
			r := float64(qmin) - math.RoundToEven(float64(min(o.mins[c], 0)/s))
			p.ZeroPoints[c] = int32(min(max(r, float64(qmin)), float64(qmax)))
		}
	}
	return p, nil
}

func (o *meanAbsObserver) Reset() { o.sums, o.n, o.mins = nil, 0, nil }
