package quant

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

var (
	int8Sym  = Spec{Bits: 8, Scheme: Symmetric, Granularity: PerTensor}
	int4Sym  = Spec{Bits: 4, Scheme: Symmetric, Granularity: PerTensor}
	uint8Aff = Spec{Bits: 8, Scheme: Affine, Granularity: PerTensor}
	uint4Aff = Spec{Bits: 4, Scheme: Affine, Granularity: PerTensor}
)

func inf32(sign int) float32 { return float32(math.Inf(sign)) }
func nan32() float32         { return float32(math.NaN()) }

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		spec Spec
		want string // "" for valid, else the error message
	}{
		{int8Sym, ""},
		{Spec{Bits: 2, Scheme: Affine, Granularity: PerChannel, Axis: 3}, ""},
		{Spec{Bits: 4, Scheme: Symmetric, Granularity: PerTensor, Axis: -5}, ""}, // axis ignored
		{Spec{Bits: 9, Scheme: Symmetric, Granularity: PerTensor}, "quant: bits 9 outside 2..8"},
		{Spec{Bits: 1, Scheme: Symmetric, Granularity: PerTensor}, "quant: bits 1 outside 2..8"},
		{Spec{Bits: 8, Scheme: 0, Granularity: PerTensor}, "quant: unknown scheme 0"},
		{Spec{Bits: 8, Scheme: 3, Granularity: PerTensor}, "quant: unknown scheme 3"},
		{Spec{Bits: 8, Scheme: Affine, Granularity: 0}, "quant: unknown granularity 0"},
		{Spec{Bits: 8, Scheme: Affine, Granularity: PerChannel, Axis: -1}, "quant: negative per-channel axis -1"},
	}
	for _, tt := range tests {
		err := tt.spec.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%+v: unexpected error %v", tt.spec, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want):
			t.Errorf("%+v: error %v, want %q", tt.spec, err, tt.want)
		}
	}
}

func TestSpecQRangeString(t *testing.T) {
	tests := []struct {
		spec       Spec
		qmin, qmax int32
		str        string
	}{
		{int8Sym, -127, 127, "int8 symmetric per-tensor"},
		{int4Sym, -7, 7, "int4 symmetric per-tensor"},
		{Spec{Bits: 2, Scheme: Symmetric, Granularity: PerTensor}, -1, 1, "int2 symmetric per-tensor"},
		{uint8Aff, 0, 255, "uint8 affine per-tensor"},
		{uint4Aff, 0, 15, "uint4 affine per-tensor"},
		{Spec{Bits: 8, Scheme: Symmetric, Granularity: PerChannel, Axis: 1}, -127, 127, "int8 symmetric per-channel(axis 1)"},
		{Spec{Bits: 9, Scheme: Symmetric, Granularity: PerTensor}, 0, 0, "int9 symmetric per-tensor"},
		{Spec{Bits: 8, Scheme: 7, Granularity: 9}, 0, 0, "bits8 Scheme(7) Granularity(9)"},
	}
	for _, tt := range tests {
		qmin, qmax := tt.spec.QRange()
		if qmin != tt.qmin || qmax != tt.qmax {
			t.Errorf("%v: QRange = [%d, %d], want [%d, %d]", tt.spec, qmin, qmax, tt.qmin, tt.qmax)
		}
		if got := tt.spec.String(); got != tt.str {
			t.Errorf("String = %q, want %q", got, tt.str)
		}
	}
}

func TestQuantizeValue(t *testing.T) {
	tests := []struct {
		x          float32
		scale      float32
		zp         int32
		qmin, qmax int32
		want       int32
	}{
		// Ties at scale 1 go to even.
		{2.5, 1, 0, -127, 127, 2},
		{3.5, 1, 0, -127, 127, 4},
		{-2.5, 1, 0, -127, 127, -2},
		{-3.5, 1, 0, -127, 127, -4},
		{0.5, 1, 0, -127, 127, 0},
		{-0.5, 1, 0, -127, 127, 0},
		{1.5, 1, 0, -127, 127, 2},
		{-1.5, 1, 0, -127, 127, -2},
		{2.4999998, 1, 0, -127, 127, 2},
		{2.5000002, 1, 0, -127, 127, 3},
		// Ties at power-of-two scales (x/scale exact in float32).
		{1.25, 0.5, 0, -127, 127, 2},
		{0.75, 0.5, 0, -127, 127, 2},
		{0.625, 0.25, 0, -127, 127, 2},
		{-0.625, 0.25, 0, -127, 127, -2},
		// int8 symmetric edges and clamping.
		{127, 1, 0, -127, 127, 127},
		{127.4, 1, 0, -127, 127, 127},
		{127.5, 1, 0, -127, 127, 127}, // rounds to 128, clamps
		{200, 1, 0, -127, 127, 127},
		{-127, 1, 0, -127, 127, -127},
		{-128, 1, 0, -127, 127, -127}, // -128 is not in the symmetric range
		{-1e30, 1, 0, -127, 127, -127},
		{inf32(1), 1, 0, -127, 127, 127},
		{inf32(-1), 1, 0, -127, 127, -127},
		{nan32(), 1, 0, -127, 127, 0}, // NaN quantizes like 0
		{1e30, MinScale, 0, -127, 127, 127},
		// int4 symmetric edges.
		{7, 1, 0, -7, 7, 7},
		{6.5, 1, 0, -7, 7, 6},
		{7.5, 1, 0, -7, 7, 7},
		{-7, 1, 0, -7, 7, -7},
		{-7.5, 1, 0, -7, 7, -7},
		{-8, 1, 0, -7, 7, -7},
		// uint4 affine, zero point 3: real range [-3, 12].
		{0, 1, 3, 0, 15, 3},
		{-3, 1, 3, 0, 15, 0},
		{-3.5, 1, 3, 0, 15, 0}, // -4+3 = -1, clamps
		{12, 1, 3, 0, 15, 15},
		{12.5, 1, 3, 0, 15, 15}, // 12+3
		{13, 1, 3, 0, 15, 15},   // 16, clamps
		{1.5, 1, 3, 0, 15, 5},   // 2+3
		{nan32(), 1, 3, 0, 15, 3},
		// uint8 affine, zero point 128: real range [-128, 127].
		{-128, 1, 128, 0, 255, 0},
		{-129, 1, 128, 0, 255, 0},
		{127, 1, 128, 0, 255, 255},
		{127.5, 1, 128, 0, 255, 255}, // 128+128 = 256, clamps
		{0, 1, 128, 0, 255, 128},
		{0.5, 1, 128, 0, 255, 128},
		// uint8 affine with zero point 0: negatives clamp to 0.
		{-0.4, 1, 0, 0, 255, 0},
		{255, 1, 0, 0, 255, 255},
		{256, 1, 0, 0, 255, 255},
	}
	for _, tt := range tests {
		got := QuantizeValue(tt.x, tt.scale, tt.zp, tt.qmin, tt.qmax)
		if got != tt.want {
			t.Errorf("QuantizeValue(%v, scale %v, zp %d, [%d, %d]) = %d, want %d",
				tt.x, tt.scale, tt.zp, tt.qmin, tt.qmax, got, tt.want)
		}
		inRange := InRange(tt.x, tt.scale, tt.zp, tt.qmin, tt.qmax)
		r := math.RoundToEven(float64(tt.x/tt.scale)) + float64(tt.zp)
		if want := r >= float64(tt.qmin) && r <= float64(tt.qmax); inRange != want {
			t.Errorf("InRange(%v, ...) = %v, want %v", tt.x, inRange, want)
		}
		fq := FakeQuantizeValue(tt.x, tt.scale, tt.zp, tt.qmin, tt.qmax)
		if tt.x != tt.x {
			if fq == fq {
				t.Errorf("FakeQuantizeValue(NaN) = %v, want NaN", fq)
			}
			continue
		}
		if want := DequantizeValue(tt.want, tt.scale, tt.zp); math.Float32bits(fq) != math.Float32bits(want) {
			t.Errorf("FakeQuantizeValue(%v, ...) = %v, want %v", tt.x, fq, want)
		}
	}
}

func TestDequantizeValue(t *testing.T) {
	tests := []struct {
		q, zp int32
		scale float32
		want  float32
	}{
		{127, 0, 0.5, 63.5},
		{-127, 0, 0.25, -31.75},
		{0, 64, 0.5, -32},
		{255, 64, 0.5, 95.5},
		{64, 64, 4.0 / 255, 0}, // 0.0 is exact at the zero point
		{math.MaxInt32, math.MinInt32, 1, float32(math.MaxUint32)}, // q-zp does not overflow
	}
	for _, tt := range tests {
		if got := DequantizeValue(tt.q, tt.scale, tt.zp); got != tt.want {
			t.Errorf("DequantizeValue(%d, %v, %d) = %v, want %v", tt.q, tt.scale, tt.zp, got, tt.want)
		}
	}
}

func TestChooseParams(t *testing.T) {
	tests := []struct {
		name       string
		spec       Spec
		mins, maxs []float32
		want       Params
	}{
		{"int8 sym", int8Sym, []float32{-1}, []float32{0.5},
			Params{Scales: []float32{float32(1) / 127}, ZeroPoints: []int32{0}, QMin: -127, QMax: 127, Axis: -1}},
		{"int8 sym max wins", int8Sym, []float32{-0.5}, []float32{2},
			Params{Scales: []float32{float32(2) / 127}, ZeroPoints: []int32{0}, QMin: -127, QMax: 127, Axis: -1}},
		{"int8 sym all negative", int8Sym, []float32{-3}, []float32{-1},
			Params{Scales: []float32{float32(3) / 127}, ZeroPoints: []int32{0}, QMin: -127, QMax: 127, Axis: -1}},
		{"int4 sym", int4Sym, []float32{-0.5}, []float32{3.5}, // 3.5/7 = 0.5 exactly
			Params{Scales: []float32{0.5}, ZeroPoints: []int32{0}, QMin: -7, QMax: 7, Axis: -1}},
		// scale = 4/255; min/scale = -63.749996 in float32, rounds to -64; zp = 0-(-64) = 64.
		{"uint8 affine [-1,3]", uint8Aff, []float32{-1}, []float32{3},
			Params{Scales: []float32{float32(4) / 255}, ZeroPoints: []int32{64}, QMin: 0, QMax: 255, Axis: -1}},
		// Range widened to [0, 2]: zp 0.
		{"uint8 affine positive", uint8Aff, []float32{0.5}, []float32{2},
			Params{Scales: []float32{float32(2) / 255}, ZeroPoints: []int32{0}, QMin: 0, QMax: 255, Axis: -1}},
		// Range widened to [-2, 0]: min/scale = -255, zp = 255.
		{"uint8 affine negative", uint8Aff, []float32{-2}, []float32{-1},
			Params{Scales: []float32{float32(2) / 255}, ZeroPoints: []int32{255}, QMin: 0, QMax: 255, Axis: -1}},
		// scale = 3/15 = 0.2 (float32 0.2 is 0.200000003); -1/scale = -5 after rounding to float32; zp 5.
		{"uint4 affine [-1,2]", uint4Aff, []float32{-1}, []float32{2},
			Params{Scales: []float32{float32(3) / 15}, ZeroPoints: []int32{5}, QMin: 0, QMax: 15, Axis: -1}},
		// min/scale = -1/(16/15) = -0.9375, rounds to -1: zp 1.
		{"uint4 affine [-1,15]", uint4Aff, []float32{-1}, []float32{15},
			Params{Scales: []float32{float32(16) / 15}, ZeroPoints: []int32{1}, QMin: 0, QMax: 15, Axis: -1}},
		{"zero range sym", int8Sym, []float32{0}, []float32{0},
			Params{Scales: []float32{MinScale}, ZeroPoints: []int32{0}, QMin: -127, QMax: 127, Axis: -1}},
		{"zero range affine", uint8Aff, []float32{0}, []float32{0},
			Params{Scales: []float32{MinScale}, ZeroPoints: []int32{0}, QMin: 0, QMax: 255, Axis: -1}},
		{"tiny range raised to MinScale", int8Sym, []float32{-1e-9}, []float32{1e-9},
			Params{Scales: []float32{MinScale}, ZeroPoints: []int32{0}, QMin: -127, QMax: 127, Axis: -1}},
		{"per-channel sym", Spec{Bits: 8, Scheme: Symmetric, Granularity: PerChannel, Axis: 1},
			[]float32{-1, 0, 0}, []float32{1, 2, 0},
			Params{Scales: []float32{float32(1) / 127, float32(2) / 127, MinScale}, ZeroPoints: []int32{0, 0, 0}, QMin: -127, QMax: 127, Axis: 1}},
		{"per-channel affine", Spec{Bits: 4, Scheme: Affine, Granularity: PerChannel, Axis: 0},
			[]float32{-1, 0}, []float32{2, 15},
			Params{Scales: []float32{float32(3) / 15, 1}, ZeroPoints: []int32{5, 0}, QMin: 0, QMax: 15, Axis: 0}},
	}
	for _, tt := range tests {
		mins, maxs := slices.Clone(tt.mins), slices.Clone(tt.maxs)
		got, err := ChooseParams(tt.spec, mins, maxs)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !paramsEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%s: result does not validate: %v", tt.name, err)
		}
		if !slices.Equal(mins, tt.mins) || !slices.Equal(maxs, tt.maxs) {
			t.Errorf("%s: inputs modified", tt.name)
		}
	}
}

// TestAffineZeroExact checks that 0.0 survives affine fake quantization
// exactly for many ranges.
func TestAffineZeroExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		lo := float32(-rng.Float64() * 10)
		hi := float32(rng.Float64() * 10)
		for _, spec := range []Spec{uint8Aff, uint4Aff} {
			p, err := ChooseParams(spec, []float32{lo}, []float32{hi})
			if err != nil {
				t.Fatal(err)
			}
			if fq := FakeQuantizeValue(0, p.Scales[0], p.ZeroPoints[0], p.QMin, p.QMax); fq != 0 {
				t.Fatalf("%v [%v, %v]: fq(0) = %v, want 0", spec, lo, hi, fq)
			}
		}
	}
}

func TestChooseParamsErrors(t *testing.T) {
	perChan := Spec{Bits: 8, Scheme: Symmetric, Granularity: PerChannel, Axis: 0}
	tests := []struct {
		name       string
		spec       Spec
		mins, maxs []float32
		want       string // substring of the error
	}{
		{"bad spec", Spec{Bits: 9, Scheme: Symmetric, Granularity: PerTensor}, []float32{0}, []float32{1}, "bits 9"},
		{"len mismatch", perChan, []float32{0, 1}, []float32{1}, "2 mins for 1 maxs"},
		{"empty", perChan, nil, nil, "no ranges"},
		{"per-tensor two ranges", int8Sym, []float32{0, 0}, []float32{1, 1}, "want 1"},
		{"NaN min", int8Sym, []float32{nan32()}, []float32{1}, "mins[0] is NaN"},
		{"Inf max", uint8Aff, []float32{0}, []float32{inf32(1)}, "maxs[0] is +Inf"},
		{"-Inf max channel 1", perChan, []float32{0, 0}, []float32{1, inf32(-1)}, "maxs[1] is -Inf"},
		{"min > max", int8Sym, []float32{2}, []float32{1}, "min 2 > max 1"},
		{"too wide", uint8Aff, []float32{-3e38}, []float32{3e38}, "too wide"},
	}
	for _, tt := range tests {
		_, err := ChooseParams(tt.spec, tt.mins, tt.maxs)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "quant: ") {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
	_, err := ChooseParams(int8Sym, []float32{nan32()}, []float32{1})
	var nf *NonFiniteError
	if !errors.As(err, &nf) || nf.What != "mins" || nf.Index != 0 {
		t.Errorf("NaN min: error %#v, want *NonFiniteError for mins[0]", err)
	}
}

func TestParamsValidate(t *testing.T) {
	ok := Params{Scales: []float32{1}, ZeroPoints: []int32{0}, QMin: -127, QMax: 127, Axis: -1}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		p    Params
		want string
	}{
		{"empty range", Params{Scales: []float32{1}, ZeroPoints: []int32{0}, QMin: 0, QMax: 0, Axis: -1}, "empty integer range"},
		{"no scales", Params{QMin: 0, QMax: 15, Axis: -1}, "no scales"},
		{"len mismatch", Params{Scales: []float32{1, 1}, ZeroPoints: []int32{0}, QMin: 0, QMax: 15, Axis: 0}, "1 zero points for 2 scales"},
		{"per-tensor two scales", Params{Scales: []float32{1, 1}, ZeroPoints: []int32{0, 0}, QMin: 0, QMax: 15, Axis: -1}, "want 1"},
		{"bad axis", Params{Scales: []float32{1}, ZeroPoints: []int32{0}, QMin: 0, QMax: 15, Axis: -2}, "axis -2"},
		{"zero scale", Params{Scales: []float32{0}, ZeroPoints: []int32{0}, QMin: 0, QMax: 15, Axis: -1}, "scale[0] = 0"},
		{"negative scale", Params{Scales: []float32{1, -1}, ZeroPoints: []int32{0, 0}, QMin: 0, QMax: 15, Axis: 0}, "scale[1] = -1"},
		{"NaN scale", Params{Scales: []float32{nan32()}, ZeroPoints: []int32{0}, QMin: 0, QMax: 15, Axis: -1}, "scale[0] = NaN"},
		{"Inf scale", Params{Scales: []float32{inf32(1)}, ZeroPoints: []int32{0}, QMin: 0, QMax: 15, Axis: -1}, "scale[0] = +Inf"},
		{"zp out of range", Params{Scales: []float32{1}, ZeroPoints: []int32{16}, QMin: 0, QMax: 15, Axis: -1}, "zero point[0] = 16 outside [0, 15]"},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestZeroTensor(t *testing.T) {
	for _, spec := range []Spec{int8Sym, int4Sym, uint8Aff, uint4Aff} {
		x := make([]float32, 10)
		shape := []int{2, 5}
		mins, maxs, err := MinMax(x, shape, spec)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ChooseParams(spec, mins, maxs)
		if err != nil {
			t.Fatal(err)
		}
		if p.Scales[0] != MinScale || p.ZeroPoints[0] != 0 {
			t.Errorf("%v: params %+v, want scale MinScale and zp 0", spec, p)
		}
		q := make([]int32, len(x))
		fq := make([]float32, len(x))
		if err := Quantize(q, x, shape, p); err != nil {
			t.Fatal(err)
		}
		if err := FakeQuantize(fq, x, shape, p); err != nil {
			t.Fatal(err)
		}
		for i := range x {
			if q[i] != 0 || fq[i] != 0 || math.Signbit(float64(fq[i])) {
				t.Errorf("%v: q[%d] = %d, fq[%d] = %v, want 0 and +0", spec, i, q[i], i, fq[i])
			}
		}
	}
}

// Weight [in=3, out=2]. Per-channel int4 symmetric ranges are chosen so every
// scale is a power of two and every expected value is exact:
//
//	     out 0   out 1
//	in 0  0.5    -3.5
//	in 1 -1.75    1.25
//	in 2  0.375   0.875
var perChanW = []float32{0.5, -3.5, -1.75, 1.25, 0.375, 0.875}

func TestPerChannel(t *testing.T) {
	shape := []int{3, 2}
	tests := []struct {
		axis   int
		scales []float32
		q      []int32
		fq     []float32
	}{
		// Axis 1 (output features): channel 0 = {0.5, -1.75, 0.375}, max|x| 1.75,
		// scale 1.75/7 = 0.25: q = 2, -7, round(1.5) = 2.
		// Channel 1 = {-3.5, 1.25, 0.875}, max|x| 3.5, scale 0.5:
		// q = -7, round(2.5) = 2, round(1.75) = 2.
		{1, []float32{0.25, 0.5}, []int32{2, -7, -7, 2, 2, 2}, []float32{0.5, -3.5, -1.75, 1, 0.5, 1}},
		// Axis 0 (rows): {0.5, -3.5} scale 0.5: 1, -7; {-1.75, 1.25} scale 0.25:
		// -7, 5; {0.375, 0.875} scale 0.125: 3, 7. All exact.
		{0, []float32{0.5, 0.25, 0.125}, []int32{1, -7, -7, 5, 3, 7}, []float32{0.5, -3.5, -1.75, 1.25, 0.375, 0.875}},
	}
	for _, tt := range tests {
		spec := Spec{Bits: 4, Scheme: Symmetric, Granularity: PerChannel, Axis: tt.axis}
		w := slices.Clone(perChanW)
		mins, maxs, err := MinMax(w, shape, spec)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ChooseParams(spec, mins, maxs)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.Scales, tt.scales) || p.Axis != tt.axis || len(p.ZeroPoints) != len(tt.scales) {
			t.Errorf("axis %d: params %+v, want scales %v", tt.axis, p, tt.scales)
		}
		q := make([]int32, len(w))
		if err := Quantize(q, w, shape, p); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(q, tt.q) {
			t.Errorf("axis %d: q = %v, want %v", tt.axis, q, tt.q)
		}
		deq := make([]float32, len(w))
		if err := Dequantize(deq, q, shape, p); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(deq, tt.fq) {
			t.Errorf("axis %d: dequantized %v, want %v", tt.axis, deq, tt.fq)
		}
		fq := make([]float32, len(w))
		if err := FakeQuantize(fq, w, shape, p); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(fq, tt.fq) {
			t.Errorf("axis %d: fake-quantized %v, want %v", tt.axis, fq, tt.fq)
		}
		if !slices.Equal(w, perChanW) {
			t.Errorf("axis %d: input modified", tt.axis)
		}
		// In place.
		if err := FakeQuantize(w, w, shape, p); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(w, tt.fq) {
			t.Errorf("axis %d: in-place fake-quantized %v, want %v", tt.axis, w, tt.fq)
		}
	}
}

// TestTensorMatchesScalar checks that the tensor kernels equal the scalar
// definitions bit for bit, for every layout the kernels special-case, on
// data full of exact ties and out-of-range values.
func TestTensorMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	shapes := []struct {
		shape []int
		axis  int // -1: per-tensor
	}{
		{[]int{1000}, -1},
		{[]int{7, 11, 13}, -1},
		{[]int{1000}, 0},
		{[]int{20, 30}, 0},
		{[]int{20, 30}, 1},
		{[]int{4, 5, 6}, 1},
		{[]int{4, 5, 6}, 2},
		{[]int{1, 3}, 1},
	}
	for _, sh := range shapes {
		for _, spec := range []Spec{int8Sym, int4Sym, uint8Aff, uint4Aff} {
			n := 1
			for _, d := range sh.shape {
				n *= d
			}
			chans := 1
			if sh.axis >= 0 {
				chans = sh.shape[sh.axis]
				spec.Granularity, spec.Axis = PerChannel, sh.axis
			}
			qmin, qmax := spec.QRange()
			p := Params{QMin: qmin, QMax: qmax, Axis: sh.axis}
			for range chans {
				// Scales of the form m * 2^e, so x = (k + 0.5) * scale is an exact tie.
				p.Scales = append(p.Scales, float32(math.Ldexp(float64(1+rng.IntN(64)), -rng.IntN(12))))
				zp := int32(0)
				if spec.Scheme == Affine {
					zp = qmin + rng.Int32N(qmax-qmin+1)
				}
				p.ZeroPoints = append(p.ZeroPoints, zp)
			}
			x := make([]float32, n)
			for i := range x {
				s := p.Scales[0]
				if chans > 1 {
					s = p.Scales[channelOf(i, sh.shape, sh.axis)]
				}
				k := float32(rng.IntN(2*int(qmax)+40) - int(qmax) - 20)
				switch rng.IntN(3) {
				case 0:
					x[i] = (k + 0.5) * s // exact tie
				case 1:
					x[i] = k * s
				default:
					x[i] = float32(rng.NormFloat64()) * s * float32(qmax)
				}
			}
			q := make([]int32, n)
			fq := make([]float32, n)
			deq := make([]float32, n)
			if err := Quantize(q, x, sh.shape, p); err != nil {
				t.Fatal(err)
			}
			if err := FakeQuantize(fq, x, sh.shape, p); err != nil {
				t.Fatal(err)
			}
			if err := Dequantize(deq, q, sh.shape, p); err != nil {
				t.Fatal(err)
			}
			for i, v := range x {
				c := 0
				if chans > 1 {
					c = channelOf(i, sh.shape, sh.axis)
				}
				s, zp := p.Scales[c], p.ZeroPoints[c]
				wq := QuantizeValue(v, s, zp, qmin, qmax)
				wfq := FakeQuantizeValue(v, s, zp, qmin, qmax)
				if q[i] != wq || math.Float32bits(fq[i]) != math.Float32bits(wfq) ||
					math.Float32bits(deq[i]) != math.Float32bits(wfq) {
					t.Fatalf("%v shape %v: element %d (x %v, scale %v, zp %d): q %d fq %v deq %v, want q %d fq %v",
						spec, sh.shape, i, v, s, zp, q[i], fq[i], deq[i], wq, wfq)
				}
			}
		}
	}
}

// channelOf returns the index along axis of flat index i in a row-major shape.
func channelOf(i int, shape []int, axis int) int {
	for d := len(shape) - 1; d > axis; d-- {
		i /= shape[d]
	}
	return i % shape[axis]
}

// TestFakeQuantizeErrorBound: for x inside the representable range
// [(qmin-zp)*scale, (qmax-zp)*scale], |x - fq(x)| <= scale/2 + slack.
//
// Slack: the float32 division x/scale has relative error <= 2^-24, i.e. an
// absolute error <= |x|*2^-24 once multiplied back by scale; the float32
// product (q-zp)*scale adds <= |fq|*2^-24 <= (|x| + scale)*2^-24. Together
// they are below (|x| + scale)*2^-23. The test's own subtraction is exact in
// float64.
func TestFakeQuantizeErrorBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		bits := 2 + rng.IntN(7)
		scheme := Symmetric
		if rng.IntN(2) == 0 {
			scheme = Affine
		}
		spec := Spec{Bits: bits, Scheme: scheme, Granularity: PerTensor}
		lo := float32(-math.Exp(rng.Float64()*20 - 10))
		hi := float32(math.Exp(rng.Float64()*20 - 10))
		if rng.IntN(4) == 0 {
			lo = 0 // ReLU-like
		}
		p, err := ChooseParams(spec, []float32{lo}, []float32{hi})
		if err != nil {
			t.Fatal(err)
		}
		s, zp := p.Scales[0], p.ZeroPoints[0]
		rlo := DequantizeValue(p.QMin, s, zp)
		rhi := DequantizeValue(p.QMax, s, zp)
		for range 10 {
			x := rlo + float32(rng.Float64())*(rhi-rlo)
			x = min(max(x, rlo), rhi)
			fq := FakeQuantizeValue(x, s, zp, p.QMin, p.QMax)
			diff := math.Abs(float64(x) - float64(fq))
			slack := (math.Abs(float64(x)) + float64(s)) * 0x1p-23
			if diff > float64(s)/2+slack {
				t.Fatalf("%v range [%v, %v]: x %v fq %v: |x-fq| = %g > scale/2 + slack = %g",
					spec, lo, hi, x, fq, diff, float64(s)/2+slack)
			}
		}
	}
}

func TestTensorErrors(t *testing.T) {
	pt := Params{Scales: []float32{0.5}, ZeroPoints: []int32{0}, QMin: -127, QMax: 127, Axis: -1}
	pc := Params{Scales: []float32{0.5, 0.25}, ZeroPoints: []int32{0, 0}, QMin: -127, QMax: 127, Axis: 1}
	x := []float32{1, 2, 3, 4, 5, 6}
	tests := []struct {
		name  string
		x     []float32
		dstN  int
		shape []int
		p     Params
		want  string
	}{
		{"dst length", x, 5, []int{6}, pt, "len(dst) 5 != len(x) 6"},
		{"shape elements", x, 6, []int{2, 2}, pt, "has 4 elements, data has 6"},
		{"rank 0", x, 6, nil, pt, "rank 0"},
		{"negative dim", x, 6, []int{-2, -3}, pt, "negative dimension"},
		{"axis out of range", x, 6, []int{6}, pc, "axis 1 out of range"},
		{"channel count", x, 6, []int{2, 3}, pc, "3 channels along axis 1, params have 2"},
		{"invalid params", x, 6, []int{6}, Params{Scales: []float32{0}, ZeroPoints: []int32{0}, QMin: 0, QMax: 1, Axis: -1}, "scale[0] = 0"},
		{"NaN", []float32{1, 2, nan32(), 4, 5, 6}, 6, []int{6}, pt, "x[2] is NaN"},
		{"Inf", []float32{1, 2, 3, 4, 5, inf32(1)}, 6, []int{3, 2}, pc, "x[5] is +Inf"},
	}
	for _, tt := range tests {
		dst := make([]float32, tt.dstN)
		for i := range dst {
			dst[i] = -42
		}
		qdst := make([]int32, tt.dstN)
		err1 := FakeQuantize(dst, tt.x, tt.shape, tt.p)
		err2 := Quantize(qdst, tt.x, tt.shape, tt.p)
		for _, err := range []error{err1, err2} {
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "quant: ") {
				t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
			}
		}
		for i := range dst {
			if dst[i] != -42 || qdst[i] != 0 {
				t.Errorf("%s: dst modified on error", tt.name)
				break
			}
		}
	}
	// In place with a NaN at the end: x must be left unchanged.
	y := []float32{1.3, 2.6, nan32()}
	if err := FakeQuantize(y, y, []int{3}, pt); err == nil {
		t.Error("NaN in place: no error")
	}
	if y[0] != 1.3 || y[1] != 2.6 {
		t.Errorf("NaN in place: x modified to %v", y)
	}
	var nf *NonFiniteError
	if err := FakeQuantize(make([]float32, 3), []float32{0, inf32(-1), 0}, []int{3}, pt); !errors.As(err, &nf) || nf.Index != 1 {
		t.Errorf("error %v, want *NonFiniteError at index 1", err)
	}
	// Dequantize rejects integers outside the range.
	if err := Dequantize(make([]float32, 2), []int32{0, 128}, []int{2}, pt); err == nil || !strings.Contains(err.Error(), "q[1] = 128 outside [-127, 127]") {
		t.Errorf("Dequantize out of range: error %v", err)
	}
	if err := Dequantize(make([]float32, 1), []int32{0, 1}, []int{2}, pt); err == nil {
		t.Error("Dequantize length mismatch: no error")
	}
}

func TestEmptyTensor(t *testing.T) {
	pt := Params{Scales: []float32{0.5}, ZeroPoints: []int32{0}, QMin: -127, QMax: 127, Axis: -1}
	if err := FakeQuantize(nil, nil, []int{0}, pt); err != nil {
		t.Errorf("FakeQuantize of an empty tensor: %v", err)
	}
	if _, _, err := MinMax(nil, []int{0, 3}, int8Sym); err == nil {
		t.Error("MinMax of an empty tensor: no error")
	}
}

func TestMinMax(t *testing.T) {
	x := []float32{ // [2, 3, 2]
		1, -2, 3, 4, -5, 6,
		-7, 8, 9, -10, 11, 12,
	}
	orig := slices.Clone(x)
	shape := []int{2, 3, 2}
	tests := []struct {
		spec       Spec
		mins, maxs []float32
	}{
		{int8Sym, []float32{-10}, []float32{12}},
		{Spec{Bits: 8, Scheme: Symmetric, Granularity: PerChannel, Axis: 0}, []float32{-5, -10}, []float32{6, 12}},
		{Spec{Bits: 8, Scheme: Symmetric, Granularity: PerChannel, Axis: 1}, []float32{-7, -10, -5}, []float32{8, 9, 12}},
		{Spec{Bits: 8, Scheme: Symmetric, Granularity: PerChannel, Axis: 2}, []float32{-7, -10}, []float32{11, 12}},
	}
	for _, tt := range tests {
		mins, maxs, err := MinMax(x, shape, tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(mins, tt.mins) || !slices.Equal(maxs, tt.maxs) {
			t.Errorf("%v: got %v %v, want %v %v", tt.spec, mins, maxs, tt.mins, tt.maxs)
		}
	}
	if !slices.Equal(x, orig) {
		t.Error("input modified")
	}
	if _, _, err := MinMax(x, shape, Spec{Bits: 8, Scheme: Symmetric, Granularity: PerChannel, Axis: 3}); err == nil {
		t.Error("axis 3: no error")
	}
	if _, _, err := MinMax([]float32{1, nan32()}, []int{2}, int8Sym); err == nil {
		t.Error("NaN: no error")
	}
	if _, _, err := MinMax(x, []int{5}, int8Sym); err == nil {
		t.Error("shape mismatch: no error")
	}
}

// FuzzFakeQuantize checks, for any finite x and valid params, that the tensor
// kernel equals the scalar definition bit for bit, that q is in range and that
// inside the representable range the error is at most scale/2 plus the
// float32 slack derived in TestFakeQuantizeErrorBound.
func FuzzFakeQuantize(f *testing.F) {
	f.Add(float32(2.5), float32(1), int32(0), uint8(8), false)
	f.Add(float32(-2.5), float32(1), int32(0), uint8(4), false)
	f.Add(float32(0.5), float32(1)/127, int32(0), uint8(8), false)
	f.Add(float32(3), float32(4)/255, int32(64), uint8(8), true)
	f.Add(float32(1e30), MinScale, int32(3), uint8(4), true)
	f.Add(float32(-7.5), float32(1), int32(0), uint8(4), false)
	f.Fuzz(func(t *testing.T, x, scale float32, zp int32, bits uint8, affine bool) {
		spec := Spec{Bits: MinBits + int(bits)%(MaxBits-MinBits+1), Scheme: Symmetric, Granularity: PerTensor}
		if affine {
			spec.Scheme = Affine
		}
		qmin, qmax := spec.QRange()
		if spec.Scheme == Symmetric {
			zp = 0
		} else {
			zp = qmin + int32(uint32(zp)%uint32(qmax-qmin+1))
		}
		p := Params{Scales: []float32{scale}, ZeroPoints: []int32{zp}, QMin: qmin, QMax: qmax, Axis: -1}
		if p.Validate() != nil || !isFinite32(x) {
			return
		}
		dst := []float32{x, x}
		if err := FakeQuantize(dst, dst, []int{2}, p); err != nil {
			t.Fatal(err)
		}
		want := FakeQuantizeValue(x, scale, zp, qmin, qmax)
		if math.Float32bits(dst[0]) != math.Float32bits(want) {
			t.Fatalf("tensor %v != scalar %v", dst[0], want)
		}
		q := QuantizeValue(x, scale, zp, qmin, qmax)
		if q < qmin || q > qmax {
			t.Fatalf("q %d outside [%d, %d]", q, qmin, qmax)
		}
		rlo, rhi := DequantizeValue(qmin, scale, zp), DequantizeValue(qmax, scale, zp)
		if x >= rlo && x <= rhi && !math.IsInf(float64(rlo), 0) && !math.IsInf(float64(rhi), 0) {
			diff := math.Abs(float64(x) - float64(want))
			if bound := float64(scale)/2 + (math.Abs(float64(x))+float64(scale))*0x1p-23; diff > bound {
				t.Fatalf("x %v scale %v zp %d: |x-fq| = %g > %g", x, scale, zp, diff, bound)
			}
		}
	})
}

// benchW is a 784x256 weight (200,704 values), the first layer of an MNIST MLP.
func benchW() ([]float32, []int) {
	rng := rand.New(rand.NewPCG(7, 8))
	w := make([]float32, 784*256)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.05)
	}
	return w, []int{784, 256}
}

func BenchmarkFakeQuantize(b *testing.B) {
	w, shape := benchW()
	for _, spec := range []Spec{
		int8Sym,
		{Bits: 8, Scheme: Symmetric, Granularity: PerChannel, Axis: 1},
		{Bits: 4, Scheme: Symmetric, Granularity: PerChannel, Axis: 0},
	} {
		b.Run(spec.String(), func(b *testing.B) {
			mins, maxs, err := MinMax(w, shape, spec)
			if err != nil {
				b.Fatal(err)
			}
			p, err := ChooseParams(spec, mins, maxs)
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]float32, len(w))
			b.SetBytes(int64(4 * len(w)))
			for b.Loop() {
				if err := FakeQuantize(dst, w, shape, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// paramsEqual compares Params exactly (scales bit for bit).
func paramsEqual(a, b Params) bool {
	if a.QMin != b.QMin || a.QMax != b.QMax || a.Axis != b.Axis || !slices.Equal(a.ZeroPoints, b.ZeroPoints) ||
		len(a.Scales) != len(b.Scales) {
		return false
	}
	for i := range a.Scales {
		if math.Float32bits(a.Scales[i]) != math.Float32bits(b.Scales[i]) {
			return false
		}
	}
	return true
}

// TestQuantizeUint8MatchesValue: the slice form equals QuantizeValue bit for bit on ties,
// clamped values and random values, for several ranges and zero points.
func TestQuantizeUint8MatchesValue(t *testing.T) {
	x := []float32{0, 0.5, 1.5, 2.5, -0.5, -2.5, 1e9, -1e9, 127.5, 128.5, 3.4999998, 254.5, 255.5}
	for i := 0; i < 200; i++ {
		x = append(x, float32(i)*0.37-20)
	}
	for _, c := range []struct {
		scale          float32
		zp, qmin, qmax int32
	}{{1, 0, 0, 255}, {0.5, 3, 0, 15}, {0.25, 128, 0, 255}, {3, 0, 0, 3}} {
		dst := make([]uint8, len(x))
		if err := QuantizeUint8(dst, x, c.scale, c.zp, c.qmin, c.qmax); err != nil {
			t.Fatal(err)
		}
		for i, v := range x {
			if want := QuantizeValue(v, c.scale, c.zp, c.qmin, c.qmax); int32(dst[i]) != want {
				t.Fatalf("%+v: x=%v: %d, QuantizeValue %d", c, v, dst[i], want)
			}
		}
	}
	nan := []float32{1, float32(math.NaN())}
	if err := QuantizeUint8(make([]uint8, 2), nan, 1, 0, 0, 255); err == nil {
		t.Error("NaN accepted")
	}
	if err := QuantizeUint8(make([]uint8, 2), []float32{1, 2}, 1, 0, -1, 255); err == nil {
		t.Error("qmin -1 accepted")
	}
}

func TestSplitAxis(t *testing.T) {
	tests := []struct {
		shape               []int
		axis                int
		outer, chans, inner int
	}{
		{[]int{784, 256}, 1, 784, 256, 1},
		{[]int{784, 256}, 0, 1, 784, 256},
		{[]int{784, 256}, -1, 1, 1, 784 * 256}, // per-tensor
		{[]int{2, 3, 4, 5}, 2, 6, 4, 5},
		{[]int{7}, 0, 1, 7, 1},
		{[]int{3, 0, 2}, 2, 0, 2, 1},
		{[]int{}, -1, 1, 1, 1}, // a scalar
	}
	for _, tt := range tests {
		o, c, i, err := SplitAxis(tt.shape, tt.axis)
		if err != nil || o != tt.outer || c != tt.chans || i != tt.inner {
			t.Errorf("SplitAxis(%v, %d) = %d, %d, %d, %v; want %d, %d, %d", tt.shape, tt.axis, o, c, i, err, tt.outer, tt.chans, tt.inner)
		}
	}
	for _, tt := range []struct {
		shape []int
		axis  int
		want  string
	}{
		{[]int{2, 3}, 2, "axis 2 out of range"},
		{[]int{2, 3}, -2, "axis -2 out of range"},
		{[]int{}, 0, "axis 0 out of range"},
		{[]int{2, -3}, 0, "negative dimension"},
		{[]int{1 << 40, 1 << 40}, 1, "overflows int"},
	} {
		_, _, _, err := SplitAxis(tt.shape, tt.axis)
		if err == nil || !strings.HasPrefix(err.Error(), "quant: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("SplitAxis(%v, %d): err = %v, want quant: ...%s...", tt.shape, tt.axis, err, tt.want)
		}
	}
}

func TestRangeOf(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	tests := []struct {
		name   string
		x      []float32
		lo, hi float32
	}{
		{"plain", []float32{3, -1, 2.5, 7, 0}, -1, 7},
		{"one", []float32{-4}, -4, -4},
		{"empty", nil, inf, -inf}, // the empty range
		{"inf", []float32{1, inf, -inf}, -inf, inf},
		{"nan first", []float32{nan, 1, 2}, nan, nan},
		{"nan inside", []float32{1, nan, 2}, nan, nan},
		{"nan last", []float32{1, 2, nan}, nan, nan},
	}
	for _, tt := range tests {
		lo, hi := RangeOf(tt.x)
		same := func(a, b float32) bool { return a == b || (a != a && b != b) }
		if !same(lo, tt.lo) || !same(hi, tt.hi) {
			t.Errorf("%s: RangeOf(%v) = %v, %v; want %v, %v", tt.name, tt.x, lo, hi, tt.lo, tt.hi)
		}
	}
	// Of equal bounds the first is kept: the sign of a zero bound is that of the first zero.
	for _, tt := range []struct {
		x        []float32
		negative bool
	}{
		{[]float32{0, negZero}, false},
		{[]float32{negZero, 0}, true},
	} {
		lo, hi := RangeOf(tt.x)
		if math.Signbit(float64(lo)) != tt.negative || math.Signbit(float64(hi)) != tt.negative {
			t.Errorf("RangeOf(%v) = %v, %v: want the sign of the first zero", tt.x, lo, hi)
		}
	}
}

// BenchmarkMinMax measures the per-tensor and per-channel range of a 784x256 weight.
func BenchmarkMinMax(b *testing.B) {
	w, shape := benchW()
	for _, spec := range []Spec{
		int8Sym,
		{Bits: 8, Scheme: Symmetric, Granularity: PerChannel, Axis: 0},
	} {
		b.Run(spec.String(), func(b *testing.B) {
			b.SetBytes(int64(4 * len(w)))
			for b.Loop() {
				if _, _, err := MinMax(w, shape, spec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestMinMaxNonFinite: a NaN or ±Inf anywhere in x is a *NonFiniteError naming its first
// position, per tensor and per channel along every axis (MinMax looks for it only when a
// bound is not finite).
func TestMinMaxNonFinite(t *testing.T) {
	shape := []int{2, 3, 2}
	specs := []Spec{int8Sym}
	for axis := range 3 {
		specs = append(specs, Spec{Bits: 8, Scheme: Symmetric, Granularity: PerChannel, Axis: axis})
	}
	for _, bad := range []float32{nan32(), float32(math.Inf(1)), float32(math.Inf(-1))} {
		for _, at := range []int{0, 5, 11} {
			x := []float32{1, -2, 3, 4, -5, 6, -7, 8, 9, -10, 11, 12}
			x[at] = bad
			x[7] = float32(math.Inf(1)) // a second non-finite value after position 5
			first := min(at, 7)
			for _, spec := range specs {
				_, _, err := MinMax(x, shape, spec)
				var nf *NonFiniteError
				if !errors.As(err, &nf) || nf.Index != first {
					t.Errorf("%v, %v at %d: err = %v, want a *NonFiniteError at %d", spec, bad, at, err, first)
				}
			}
		}
	}
}

// TestScaleGrad: LSQ's scale derivative, exact values. With s = 0.5, zp = 0 and range
// [-7, 7]: x = 1.2 gives x/s = 2.4 (float32 2.4000001), round 2, so 2 - 2.4000001; x = 0.75
// gives x/s = 1.5 exactly, a tie rounded to even (2): 0.5; x = 5 gives 10, clipped: 7; x = -5
// clipped below: -7. "Not clipped" agrees with InRange.
func TestScaleGrad(t *testing.T) {
	cases := []struct {
		x    float32
		want float64
	}{
		{1.2, 2 - float64(float32(1.2)/0.5)},
		{0.75, 0.5},
		{5, 7},
		{-5, -7},
		{0, 0},
	}
	for _, c := range cases {
		if got := ScaleGrad(c.x, 0.5, 0, -7, 7); got != c.want {
			t.Errorf("ScaleGrad(%v) = %v, want %v", c.x, got, c.want)
		}
		clipped := c.want == 7 || c.want == -7
		if InRange(c.x, 0.5, 0, -7, 7) == clipped {
			t.Errorf("x %v: InRange %v, clipped %v", c.x, !clipped, clipped)
		}
	}
}
