package quant

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func mustObserver(t *testing.T, spec Spec, cfg ObserverConfig) Observer {
	t.Helper()
	o, err := NewObserver(spec, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func mustParams(t *testing.T, o Observer) Params {
	t.Helper()
	p, err := o.Params()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("observer params do not validate: %v", err)
	}
	return p
}

func TestObserverKindString(t *testing.T) {
	for k, s := range map[ObserverKind]string{
		MinMaxObserver: "minmax", MovingAverageObserver: "moving-average",
		PercentileObserver: "percentile", MSEObserver: "mse", MeanAbsObserver: "meanabs",
	} {
		if k.String() != s {
			t.Errorf("%d.String() = %q, want %q", int(k), k.String(), s)
		}
		if got, err := ParseObserverKind(s); err != nil || got != k {
			t.Errorf("ParseObserverKind(%q) = %v, %v", s, got, err)
		}
	}
	if ObserverKind(9).String() != "ObserverKind(9)" {
		t.Errorf("ObserverKind(9).String() = %q", ObserverKind(9).String())
	}
	if _, err := ParseObserverKind("histogram"); err == nil {
		t.Error("ParseObserverKind(histogram): no error")
	}
}

func TestNewObserverErrors(t *testing.T) {
	perChan := Spec{Bits: 8, Scheme: Symmetric, Granularity: PerChannel, Axis: 1}
	tests := []struct {
		name string
		spec Spec
		cfg  ObserverConfig
		want string
	}{
		{"bad spec", Spec{Bits: 9, Scheme: Symmetric, Granularity: PerTensor}, ObserverConfig{}, "bits 9"},
		{"bad kind", int8Sym, ObserverConfig{Kind: 6}, "unknown observer kind 6"},
		{"momentum > 1", int8Sym, ObserverConfig{Kind: MovingAverageObserver, Momentum: 1.5}, "momentum 1.5"},
		{"negative momentum", int8Sym, ObserverConfig{Kind: MovingAverageObserver, Momentum: -0.1}, "momentum -0.1"},
		{"percentile > 100", int8Sym, ObserverConfig{Kind: PercentileObserver, Percentile: 101}, "percentile 101"},
		{"NaN percentile", int8Sym, ObserverConfig{Kind: PercentileObserver, Percentile: math.NaN()}, "percentile NaN"},
		{"negative bins", int8Sym, ObserverConfig{Kind: MSEObserver, Bins: -1}, "bins -1"},
		{"percentile per-channel", perChan, ObserverConfig{Kind: PercentileObserver}, "per-tensor specs only"},
		{"mse per-channel", perChan, ObserverConfig{Kind: MSEObserver}, "per-tensor specs only"},
	}
	for _, tt := range tests {
		_, err := NewObserver(tt.spec, tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "quant: ") {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
	// The zero config is a MinMax observer.
	if _, ok := mustObserver(t, perChan, ObserverConfig{}).(*minMaxObserver); !ok {
		t.Error("zero config is not a min/max observer")
	}
}

func TestObserverNoData(t *testing.T) {
	for k := MinMaxObserver; k <= MeanAbsObserver; k++ {
		o := mustObserver(t, int8Sym, ObserverConfig{Kind: k})
		if _, err := o.Params(); !errors.Is(err, ErrNoData) {
			t.Errorf("%v: Params before Observe: error %v, want ErrNoData", k, err)
		}
		if err := o.Observe([]float32{1, -2}, []int{2}); err != nil {
			t.Fatal(err)
		}
		mustParams(t, o)
		o.Reset()
		if _, err := o.Params(); !errors.Is(err, ErrNoData) {
			t.Errorf("%v: Params after Reset: error %v, want ErrNoData", k, err)
		}
		// A failed Observe leaves the state unchanged.
		if err := o.Observe([]float32{1, float32(math.NaN())}, []int{2}); err == nil {
			t.Errorf("%v: NaN: no error", k)
		}
		if err := o.Observe([]float32{1}, []int{2}); err == nil {
			t.Errorf("%v: shape mismatch: no error", k)
		}
		if _, err := o.Params(); !errors.Is(err, ErrNoData) {
			t.Errorf("%v: Params after failed Observe: error %v, want ErrNoData", k, err)
		}
	}
}

// TestMinMaxObserverConcat: observing two batches equals observing their
// concatenation, per-tensor and per-channel.
func TestMinMaxObserverConcat(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	a := make([]float32, 4*3) // [4, 3]
	b := make([]float32, 5*3) // [5, 3]
	for i := range a {
		a[i] = float32(rng.NormFloat64())
	}
	for i := range b {
		b[i] = float32(rng.NormFloat64() * 3)
	}
	ab := slices.Concat(a, b) // [9, 3]
	for _, spec := range []Spec{
		int8Sym, uint4Aff,
		{Bits: 8, Scheme: Symmetric, Granularity: PerChannel, Axis: 1},
		{Bits: 4, Scheme: Affine, Granularity: PerChannel, Axis: 1},
	} {
		o := mustObserver(t, spec, ObserverConfig{Kind: MinMaxObserver})
		if err := o.Observe(a, []int{4, 3}); err != nil {
			t.Fatal(err)
		}
		if err := o.Observe(b, []int{5, 3}); err != nil {
			t.Fatal(err)
		}
		got := mustParams(t, o)
		mins, maxs, err := MinMax(ab, []int{9, 3}, spec)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ChooseParams(spec, mins, maxs)
		if err != nil {
			t.Fatal(err)
		}
		if !paramsEqual(got, want) {
			t.Errorf("%v: two batches %+v, concatenation %+v", spec, got, want)
		}
	}
	// A per-channel observer rejects a batch with another channel count.
	o := mustObserver(t, Spec{Bits: 8, Scheme: Symmetric, Granularity: PerChannel, Axis: 1}, ObserverConfig{})
	if err := o.Observe(a, []int{4, 3}); err != nil {
		t.Fatal(err)
	}
	if err := o.Observe(a, []int{3, 4}); err == nil || !strings.Contains(err.Error(), "4 channels") {
		t.Errorf("channel mismatch: error %v", err)
	}
}

func TestMovingAverageObserver(t *testing.T) {
	// Momentum 0.25 and dyadic values keep every step exact:
	//   batch 1: min -1,  max 2   -> m = (-1, 2)             (initialises)
	//   batch 2: min -3,  max 4   -> 0.75*(-1, 2) + 0.25*(-3, 4) = (-1.5, 2.5)
	//   batch 3: min  1,  max 1   -> 0.75*(-1.5, 2.5) + 0.25*(1, 1) = (-0.875, 2.125)
	o := mustObserver(t, uint8Aff, ObserverConfig{Kind: MovingAverageObserver, Momentum: 0.25})
	steps := []struct {
		x      []float32
		lo, hi float32
	}{
		{[]float32{-1, 0, 2}, -1, 2},
		{[]float32{4, -3}, -1.5, 2.5},
		{[]float32{1, 1, 1, 1}, -0.875, 2.125},
	}
	for i, st := range steps {
		if err := o.Observe(st.x, []int{len(st.x)}); err != nil {
			t.Fatal(err)
		}
		got := mustParams(t, o)
		want, err := ChooseParams(uint8Aff, []float32{st.lo}, []float32{st.hi})
		if err != nil {
			t.Fatal(err)
		}
		if !paramsEqual(got, want) {
			t.Errorf("step %d: %+v, want params of [%v, %v] %+v", i+1, got, st.lo, st.hi, want)
		}
	}
	// Default momentum 0.01: the second batch moves max from 1 by 0.01*(101-1) = 1.
	o = mustObserver(t, Spec{Bits: 8, Scheme: Symmetric, Granularity: PerChannel, Axis: 0}, ObserverConfig{Kind: MovingAverageObserver})
	if err := o.Observe([]float32{1, -1}, []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := o.Observe([]float32{101, -1}, []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	p := mustParams(t, o)
	want := float32(float32(0.99*1)+float32(0.01*101)) / 127 // 2/127 up to float32 rounding of 0.99 and 0.01
	if p.Scales[0] != want || math.Abs(float64(p.Scales[0])-2.0/127) > 1e-7 {
		t.Errorf("default momentum: scale %v, want %v (about 2/127)", p.Scales[0], want)
	}
}

func TestPercentileObserverIgnoresOutlier(t *testing.T) {
	// 100,000 values evenly spread over [0, 1) in two batches, plus one huge
	// outlier. The 99.99th percentile is at rank 0.9999*(100001-1) = 99990,
	// far below the outlier, so the clip stays near 1.
	const n = 100000
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i) / n
	}
	x[n/2] = 1000 // outlier in the middle
	shape1, shape2 := []int{n / 2}, []int{n - n/2}
	for _, spec := range []Spec{int8Sym, uint8Aff, uint4Aff} {
		o := mustObserver(t, spec, ObserverConfig{Kind: PercentileObserver})
		if err := o.Observe(x[:n/2], shape1); err != nil {
			t.Fatal(err)
		}
		if err := o.Observe(x[n/2:], shape2); err != nil {
			t.Fatal(err)
		}
		p := mustParams(t, o)
		clip := DequantizeValue(p.QMax, p.Scales[0], p.ZeroPoints[0])
		if clip < 0.99 || clip > 1.01 {
			t.Errorf("%v: clip %v, want about 1 (outlier 1000 ignored)", spec, clip)
		}
		if spec.Scheme == Affine && p.ZeroPoints[0] != 0 {
			t.Errorf("%v: zero point %d, want 0 (min kept at observed min 0)", spec, p.ZeroPoints[0])
		}
	}
	// Percentile 100 is the max.
	o := mustObserver(t, int8Sym, ObserverConfig{Kind: PercentileObserver, Percentile: 100})
	if err := o.Observe(x, []int{n}); err != nil {
		t.Fatal(err)
	}
	if p := mustParams(t, o); p.Scales[0] != float32(1000)/127 {
		t.Errorf("percentile 100: scale %v, want 1000/127", p.Scales[0])
	}
}

func TestPercentile(t *testing.T) {
	// NumPy: np.percentile([1, 2, 3, 4], 50) = 2.5; 75 -> 3.25; 100 -> 4.
	for _, tt := range []struct{ p, want float64 }{{50, 2.5}, {75, 3.25}, {100, 4}, {1e-9, 1}} {
		if got := percentile([]float32{4, 1, 3, 2}, tt.p); math.Abs(float64(got)-tt.want) > 1e-6 {
			t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile([]float32{7}, 99.99); got != 7 {
		t.Errorf("percentile of one value = %v, want 7", got)
	}
}

// mse is the mean squared fake-quantization error of x under p.
func mse(t *testing.T, x []float32, p Params) float64 {
	t.Helper()
	fq := make([]float32, len(x))
	if err := FakeQuantize(fq, x, []int{len(x)}, p); err != nil {
		t.Fatal(err)
	}
	s := 0.0
	for i := range x {
		d := float64(x[i]) - float64(fq[i])
		s += d * d
	}
	return s / float64(len(x))
}

func TestMSEObserver(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	x := make([]float32, 50000)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	relu := make([]float32, len(x))
	for i, v := range x {
		relu[i] = max(v, 0)
	}
	for _, tt := range []struct {
		spec Spec
		x    []float32
	}{
		{int4Sym, x},
		{uint4Aff, relu},
		{uint4Aff, x},
	} {
		orig := slices.Clone(tt.x)
		mo := mustObserver(t, tt.spec, ObserverConfig{Kind: MSEObserver})
		mm := mustObserver(t, tt.spec, ObserverConfig{Kind: MinMaxObserver})
		for _, o := range []Observer{mo, mm} {
			if err := o.Observe(tt.x, []int{len(tt.x)}); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(tt.x, orig) {
			t.Fatal("input modified")
		}
		pm, pmm := mustParams(t, mo), mustParams(t, mm)
		clip := DequantizeValue(pm.QMax, pm.Scales[0], pm.ZeroPoints[0])
		maxClip := DequantizeValue(pmm.QMax, pmm.Scales[0], pmm.ZeroPoints[0])
		if !(clip < 0.9*maxClip) {
			t.Errorf("%v: MSE clip %v, want well below the max %v", tt.spec, clip, maxClip)
		}
		e, emm := mse(t, tt.x, pm), mse(t, tt.x, pmm)
		if !(e < emm) {
			t.Errorf("%v: MSE observer error %g, want < min/max error %g", tt.spec, e, emm)
		}
		t.Logf("%v: clip %.3f (max %.3f), MSE %.3g vs min/max %.3g", tt.spec, clip, maxClip, e, emm)
	}
	// A constant zero tensor gives MinScale, not a division by zero.
	o := mustObserver(t, int4Sym, ObserverConfig{Kind: MSEObserver})
	if err := o.Observe(make([]float32, 10), []int{10}); err != nil {
		t.Fatal(err)
	}
	if p := mustParams(t, o); p.Scales[0] != MinScale {
		t.Errorf("zero tensor: scale %v, want MinScale", p.Scales[0])
	}
}

// TestObserversDoNotModifyInput runs every observer kind on one batch and
// checks the batch bit for bit afterwards.
func TestObserversDoNotModifyInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	x := make([]float32, 6*5)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	orig := slices.Clone(x)
	for k := MinMaxObserver; k <= MeanAbsObserver; k++ {
		for _, spec := range []Spec{int8Sym, uint4Aff, {Bits: 8, Scheme: Symmetric, Granularity: PerChannel, Axis: 1}} {
			o, err := NewObserver(spec, ObserverConfig{Kind: k})
			if err != nil {
				continue // percentile and MSE are per-tensor only
			}
			for range 2 {
				if err := o.Observe(x, []int{6, 5}); err != nil {
					t.Fatal(err)
				}
			}
			mustParams(t, o)
			for i := range x {
				if math.Float32bits(x[i]) != math.Float32bits(orig[i]) {
					t.Fatalf("%v %v: input modified at %d", k, spec, i)
				}
			}
		}
	}
}

// TestSampleObserverReservoir exercises the bounded sample with a small
// capacity: the sample never grows past it, min and max stay exact, and the
// result is deterministic (two observers, and one after Reset, agree).
func TestSampleObserverReservoir(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	x := make([]float32, 10000)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	x[1234] = -0.5
	x[9876] = 2
	run := func(o *sampleObserver) Params {
		for i := 0; i < len(x); i += 1000 {
			if err := o.Observe(x[i:i+1000], []int{1000}); err != nil {
				t.Fatal(err)
			}
		}
		return mustParams(t, o)
	}
	newObs := func() *sampleObserver {
		o := mustObserver(t, uint8Aff, ObserverConfig{Kind: PercentileObserver, Percentile: 99}).(*sampleObserver)
		o.capacity = 500
		return o
	}
	o1, o2 := newObs(), newObs()
	p1, p2 := run(o1), run(o2)
	if !paramsEqual(p1, p2) {
		t.Errorf("not deterministic: %+v vs %+v", p1, p2)
	}
	if len(o1.sample) != 500 || o1.seen != 10000 || o1.min != -0.5 || o1.max != 2 {
		t.Errorf("sample %d seen %d min %v max %v, want 500 10000 -0.5 2", len(o1.sample), o1.seen, o1.min, o1.max)
	}
	o1.Reset()
	if p3 := run(o1); !paramsEqual(p1, p3) {
		t.Errorf("not deterministic after Reset: %+v vs %+v", p1, p3)
	}
	// The 99th percentile of a uniform [0, 1) sample of 500 is about 0.99.
	hi := DequantizeValue(p1.QMax, p1.Scales[0], p1.ZeroPoints[0])
	if hi < 0.95 || hi > 1.05 {
		t.Errorf("99th percentile from the reservoir: %v, want about 0.99", hi)
	}
}

// TestRangeStateRestores: an observer restored from another's range continues exactly as the
// original would.
func TestRangeStateRestores(t *testing.T) {
	spec := Spec{Bits: 8, Scheme: Affine, Granularity: PerTensor}
	a, err := NewObserver(spec, ObserverConfig{Kind: MovingAverageObserver, Momentum: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range [][]float32{{0, 1, 2}, {-1, 3}} {
		if err := a.Observe(x, []int{len(x)}); err != nil {
			t.Fatal(err)
		}
	}
	rs, ok := a.(RangeState)
	if !ok {
		t.Fatal("moving-average observer does not implement RangeState")
	}
	mins, maxs, ok := rs.Range()
	if !ok {
		t.Fatal("no range after two batches")
	}
	b, _ := NewObserver(spec, ObserverConfig{Kind: MovingAverageObserver, Momentum: 0.25})
	if err := b.(RangeState).SetRange(mins, maxs); err != nil {
		t.Fatal(err)
	}
	for _, o := range []Observer{a, b} {
		if err := o.Observe([]float32{5, -2}, []int{2}); err != nil {
			t.Fatal(err)
		}
	}
	pa, _ := a.Params()
	pb, _ := b.Params()
	if pa.Scales[0] != pb.Scales[0] || pa.ZeroPoints[0] != pb.ZeroPoints[0] {
		t.Fatalf("restored observer gives %v/%d, original %v/%d", pb.Scales[0], pb.ZeroPoints[0], pa.Scales[0], pa.ZeroPoints[0])
	}
	if err := b.(RangeState).SetRange([]float32{1}, []float32{0}); err == nil {
		t.Fatal("SetRange accepted min > max")
	}
	if _, isRange := mustObserver(t, spec, ObserverConfig{Kind: PercentileObserver}).(RangeState); isRange {
		t.Fatal("percentile observer claims a range-only state")
	}
}

// TestRangeStateSummary checks RangeState's promise: an observer that implements it reaches
// the same state and Params from a tensor as from a tensor holding only that tensor's
// per-channel minima and maxima; and exactly the min/max kinds implement it.
func TestRangeStateSummary(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	specs := []Spec{
		{Bits: 8, Scheme: Affine, Granularity: PerTensor},
		{Bits: 4, Scheme: Symmetric, Granularity: PerChannel, Axis: 1},
		{Bits: 3, Scheme: Affine, Granularity: PerChannel, Axis: 0},
	}
	for _, spec := range specs {
		for kind := MinMaxObserver; kind <= MeanAbsObserver; kind++ {
			if spec.Granularity == PerChannel && kind >= PercentileObserver {
				continue // per-tensor only
			}
			full := mustObserver(t, spec, ObserverConfig{Kind: kind})
			_, isRange := full.(RangeState)
			if want := kind == MinMaxObserver || kind == MovingAverageObserver; isRange != want {
				t.Fatalf("%v: implements RangeState %t, want %t", kind, isRange, want)
			}
			if !isRange {
				continue
			}
			summary := mustObserver(t, spec, ObserverConfig{Kind: kind})
			shape := []int{5, 4}
			for range 3 {
				x := make([]float32, 20)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				mins, maxs, err := MinMax(x, shape, spec)
				if err != nil {
					t.Fatal(err)
				}
				// The summary tensor: [2] per-tensor, [1, chans, 2] or [chans, 2] per channel.
				s := make([]float32, 0, 2*len(mins))
				for c := range mins {
					s = append(s, mins[c], maxs[c])
				}
				sShape := []int{2}
				if spec.Granularity == PerChannel {
					sShape = append(slices.Repeat([]int{1}, spec.Axis), len(mins), 2)
				}
				if err := full.Observe(x, shape); err != nil {
					t.Fatal(err)
				}
				if err := summary.Observe(s, sShape); err != nil {
					t.Fatal(err)
				}
				if pf, ps := mustParams(t, full), mustParams(t, summary); !paramsEqual(pf, ps) {
					t.Fatalf("%v %v: params %+v from the tensor, %+v from its range", kind, spec, pf, ps)
				}
			}
		}
	}
}

// TestChooseRange: the allocation-free one-range choice equals ChooseParams, and refuses
// what it refuses.
func TestChooseRange(t *testing.T) {
	specs := []Spec{{Bits: 8, Scheme: Affine, Granularity: PerTensor}, {Bits: 4, Scheme: Symmetric, Granularity: PerTensor}, {Bits: 2, Scheme: Affine, Granularity: PerTensor}}
	ranges := [][2]float32{{0, 0}, {0, 1}, {-1, 3}, {-2.5, -0.5}, {0.3, 0.30001}, {-1e30, 1e30}}
	for _, s := range specs {
		for _, r := range ranges {
			p, err := ChooseParams(s, []float32{r[0]}, []float32{r[1]})
			scale, zp, err2 := ChooseRange(s, r[0], r[1])
			if (err == nil) != (err2 == nil) {
				t.Fatalf("%v %v: ChooseParams error %v, ChooseRange error %v", s, r, err, err2)
			}
			if err == nil && (p.Scales[0] != scale || p.ZeroPoints[0] != zp) {
				t.Fatalf("%v %v: ChooseRange %v %d, ChooseParams %v %d", s, r, scale, zp, p.Scales[0], p.ZeroPoints[0])
			}
		}
	}
	nan := float32(math.NaN())
	for _, r := range [][2]float32{{1, 0}, {nan, 1}, {0, float32(math.Inf(1))}} {
		if _, _, err := ChooseRange(specs[0], r[0], r[1]); err == nil {
			t.Errorf("range %v accepted", r)
		}
	}
}

// TestMeanAbsObserverPaperInit checks the LSQ paper's initial step size 2·mean|x|/sqrt(Qp)
// exactly on small tensors, per channel and per tensor, over two batches.
func TestMeanAbsObserverPaperInit(t *testing.T) {
	// A [3, 2] weight, channels along axis 1: column 0 holds 1, -3, 2 (mean|x| 2), column 1
	// holds 0.5, 0.5, -0.5 (mean|x| 0.5).
	w := []float32{1, 0.5, -3, 0.5, 2, -0.5}
	ternary := Spec{Bits: 2, Scheme: Symmetric, Granularity: PerChannel, Axis: 1} // q in [-1, 1]: Qp 1
	o := mustObserver(t, ternary, ObserverConfig{Kind: MeanAbsObserver})
	if err := o.Observe(w, []int{3, 2}); err != nil {
		t.Fatal(err)
	}
	p := mustParams(t, o)
	// 2·2/sqrt(1) and 2·0.5/sqrt(1), exact in float32.
	if !slices.Equal(p.Scales, []float32{4, 1}) || !slices.Equal(p.ZeroPoints, []int32{0, 0}) || p.Axis != 1 {
		t.Errorf("2-bit per-channel params %+v, want scales [4 1], zero points [0 0], axis 1", p)
	}
	int4 := Spec{Bits: 4, Scheme: Symmetric, Granularity: PerTensor} // q in [-7, 7]: Qp 7
	o = mustObserver(t, int4, ObserverConfig{Kind: MeanAbsObserver})
	if err := o.Observe(w, []int{3, 2}); err != nil {
		t.Fatal(err)
	}
	// mean|w| = 7.5/6 = 1.25; a second batch {-0.25, 0.25} makes Σ|x| 8, n 8: mean 1.
	if err := o.Observe([]float32{-0.25, 0.25}, []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	if p := mustParams(t, o); p.Scales[0] != float32(2*1/math.Sqrt(7)) || p.Axis != -1 {
		t.Errorf("4-bit per-tensor params %+v, want scale %v", p, float32(2/math.Sqrt(7)))
	}
	// Affine 2-bit activations after a ReLU: q in [0, 3], zero point qmin = 0, Qp 3.
	a := []float32{0, 0, 3, 1} // mean|x| 1
	o = mustObserver(t, Spec{Bits: 2, Scheme: Affine, Granularity: PerTensor}, ObserverConfig{Kind: MeanAbsObserver})
	if err := o.Observe(a, []int{2, 2}); err != nil {
		t.Fatal(err)
	}
	if p := mustParams(t, o); p.Scales[0] != float32(2/math.Sqrt(3)) || p.ZeroPoints[0] != 0 {
		t.Errorf("2-bit affine params %+v, want scale %v, zero point 0", p, float32(2/math.Sqrt(3)))
	}
	// A negative minimum moves the affine zero point: -1 at scale 2/sqrt(3)·1.25 ≈ 1.44 is
	// -0.69 steps, rounded to -1: zero point 1.
	o.Reset()
	if err := o.Observe([]float32{-1, 0, 3, 1}, []int{2, 2}); err != nil {
		t.Fatal(err)
	}
	if p := mustParams(t, o); p.ZeroPoints[0] != 1 {
		t.Errorf("affine params with a negative minimum %+v, want zero point 1", p)
	}
	// Per channel, a later batch with another channel count is refused.
	o = mustObserver(t, ternary, ObserverConfig{Kind: MeanAbsObserver})
	if err := o.Observe(w, []int{3, 2}); err != nil {
		t.Fatal(err)
	}
	if err := o.Observe(w, []int{2, 3}); err == nil {
		t.Error("a batch with 3 channels after one with 2: no error")
	}
}
