package safetensors_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"tinyq/safetensors"
)

func TestDTypeSize(t *testing.T) {
	want := map[safetensors.DType]int{
		safetensors.BOOL: 1, safetensors.U8: 1, safetensors.I8: 1, safetensors.F8E4M3: 1, safetensors.F8E5M2: 1,
		safetensors.I16: 2, safetensors.U16: 2, safetensors.F16: 2, safetensors.BF16: 2,
		safetensors.I32: 4, safetensors.U32: 4, safetensors.F32: 4,
		safetensors.I64: 8, safetensors.U64: 8, safetensors.F64: 8,
		"": 0, "f32": 0, "F4": 0, "C64": 0,
	}
	for d, size := range want {
		if got := d.Size(); got != size {
			t.Errorf("DType(%q).Size() = %d, want %d", d, got, size)
		}
	}
	for _, d := range safetensors.DTypes {
		if _, ok := want[d]; !ok {
			t.Errorf("DTypes lists %s, untested here", d)
		}
	}
}

// TestRoundTrip encodes tensors of every dtype and of every kind of shape (matrix,
// vector, scalar, empty) and decodes them back unchanged.
func TestRoundTrip(t *testing.T) {
	shapes := [][]int{{2, 3}, {5}, {}, nil, {0}, {3, 0, 2}}
	f := &safetensors.File{Metadata: map[string]string{
		"format_version": "1",
		"odd <&>":        "quotes \" backslash \\ newline \n tab \t nul \x00 é 😀",
		"":               "empty key",
	}}
	var want []safetensors.Tensor
	for _, d := range safetensors.DTypes {
		for i, shape := range shapes {
			n, _ := safetensors.NumElements(shape)
			f.Tensors = append(f.Tensors, safetensors.Tensor{
				Name: string(d) + "/" + string(rune('a'+i)), DType: d, Shape: shape, Data: ramp(n * d.Size()),
			})
		}
	}
	want = slices.Clone(f.Tensors)
	slices.SortFunc(want, func(a, b safetensors.Tensor) int { return strings.Compare(a.Name, b.Name) })
	slices.Reverse(f.Tensors) // Encode sorts them
	before := slices.Clone(f.Tensors)

	data, err := encode(f)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(&safetensors.File{Metadata: f.Metadata, Tensors: before}, f); d != "" {
		t.Fatalf("Encode modified its input: %s", d)
	}
	g, err := safetensors.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(g, &safetensors.File{Metadata: f.Metadata, Tensors: want}); d != "" {
		t.Fatal(d)
	}
	// The result must not alias the input.
	data[len(data)-1]++
	last := g.Tensors[len(g.Tensors)-1]
	if d := diff(g, &safetensors.File{Metadata: f.Metadata, Tensors: want}); d != "" {
		t.Errorf("modifying Decode's input changed its result (%s): %s", last.Name, d)
	}
}

func TestRoundTripMetadata(t *testing.T) {
	for _, tc := range []struct {
		name string
		meta map[string]string
		has  bool // the header has a "__metadata__" key
	}{
		{"nil", nil, false},
		{"empty", map[string]string{}, true},
		{"one", map[string]string{"a": "b"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &safetensors.File{Metadata: tc.meta, Tensors: []safetensors.Tensor{safetensors.FromU8("x", []int{1}, []uint8{7})}}
			data, err := encode(f)
			if err != nil {
				t.Fatal(err)
			}
			if has := bytes.Contains(data, []byte(`"__metadata__"`)); has != tc.has {
				t.Errorf("header has __metadata__: %v, want %v", has, tc.has)
			}
			g, err := safetensors.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(g, f); d != "" {
				t.Error(d)
			}
		})
	}
}

// TestLayout checks the header order and the data layout: tensors sorted by name,
// contiguous data in that order, buffer 8-byte aligned.
func TestLayout(t *testing.T) {
	f := &safetensors.File{Tensors: []safetensors.Tensor{
		safetensors.FromU8("c", []int{3}, []uint8{7, 8, 9}),
		safetensors.FromU8("a", []int{1}, []uint8{1}),
		safetensors.FromI8("b", []int{2}, []int8{-1, 2}),
	}}
	data, err := encode(f)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(data)
	header := string(data[8 : 8+n])
	wantHeader := `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},` +
		`"b":{"dtype":"I8","shape":[2],"data_offsets":[1,3]},` +
		`"c":{"dtype":"U8","shape":[3],"data_offsets":[3,6]}}`
	if strings.TrimRight(header, " ") != wantHeader {
		t.Errorf("header = %s, want %s", header, wantHeader)
	}
	if (8+n)%8 != 0 || len(header)-len(wantHeader) >= 8 {
		t.Errorf("header of %d bytes (JSON %d): buffer starts at %d, want the next multiple of 8", n, len(wantHeader), 8+n)
	}
	if got, want := data[8+n:], []byte{1, 0xff, 2, 7, 8, 9}; !bytes.Equal(got, want) {
		t.Errorf("buffer = %v, want %v", got, want)
	}
}

func TestTypedHelpers(t *testing.T) {
	f32 := []float32{0, -0, 1.5, float32(math.Inf(-1)), math.MaxFloat32, math.SmallestNonzeroFloat32}
	i32 := []int32{math.MinInt32, -1, 0, 1, math.MaxInt32, 258}
	i8 := []int8{-128, -1, 0, 1, 127, 3}
	u8 := []uint8{0, 1, 128, 255, 4, 5}
	tensors := []safetensors.Tensor{
		safetensors.FromF32("f32", []int{2, 3}, f32),
		safetensors.FromI32("i32", []int{2, 3}, i32),
		safetensors.FromI8("i8", []int{6}, i8),
		safetensors.FromU8("u8", []int{3, 2}, u8),
	}
	// Little-endian bytes, checked by hand for one element of each.
	if got := tensors[0].Data[8:12]; !bytes.Equal(got, []byte{0, 0, 0xc0, 0x3f}) { // 1.5 = 0x3fc00000
		t.Errorf("F32 1.5 stored as %x, want 0000c03f", got)
	}
	if got := tensors[1].Data[20:24]; !bytes.Equal(got, []byte{2, 1, 0, 0}) { // 258 = 0x102
		t.Errorf("I32 258 stored as %x, want 02010000", got)
	}
	data, err := encode(&safetensors.File{Tensors: tensors})
	if err != nil {
		t.Fatal(err)
	}
	g, err := safetensors.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) *safetensors.Tensor {
		tt, ok := g.Tensor(name)
		if !ok {
			t.Fatalf("no tensor %q", name)
		}
		return tt
	}
	if v, err := get("f32").F32(); err != nil || !slices.Equal(v, f32) || math.Signbit(float64(v[1])) != math.Signbit(float64(f32[1])) {
		t.Errorf("F32() = %v, %v, want %v", v, err, f32)
	}
	if v, err := get("i32").I32(); err != nil || !slices.Equal(v, i32) {
		t.Errorf("I32() = %v, %v, want %v", v, err, i32)
	}
	if v, err := get("i8").I8(); err != nil || !slices.Equal(v, i8) {
		t.Errorf("I8() = %v, %v, want %v", v, err, i8)
	}
	if v, err := get("u8").U8(); err != nil || !slices.Equal(v, u8) {
		t.Errorf("U8() = %v, %v, want %v", v, err, u8)
	}
	if _, ok := g.Tensor("missing"); ok {
		t.Error(`Tensor("missing") found something`)
	}

	// NaN survives bit for bit: checking values is the caller's job.
	nan := math.Float32frombits(0x7fc00001)
	if v, err := (&[]safetensors.Tensor{safetensors.FromF32("n", nil, []float32{nan})}[0]).F32(); err != nil || math.Float32bits(v[0]) != 0x7fc00001 {
		t.Errorf("NaN payload lost: %v, %v", v, err)
	}

	// The helpers copy their inputs.
	shape := []int{1}
	v := []uint8{1}
	u := safetensors.FromU8("u", shape, v)
	shape[0], v[0] = 9, 9
	if u.Shape[0] != 1 || u.Data[0] != 1 {
		t.Errorf("FromU8 aliases its arguments: %v", u)
	}
}

func TestAccessorErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    safetensors.Tensor
		call func(*safetensors.Tensor) error
		want string
	}{
		{"F32 of I32", safetensors.FromI32("x", []int{1}, []int32{1}), func(t *safetensors.Tensor) error { _, err := t.F32(); return err },
			`safetensors: invalid tensor "x": dtype I32, want F32`},
		{"I32 of F32", safetensors.FromF32("x", []int{1}, []float32{1}), func(t *safetensors.Tensor) error { _, err := t.I32(); return err },
			`dtype F32, want I32`},
		{"I8 of U8", safetensors.FromU8("x", []int{1}, []uint8{1}), func(t *safetensors.Tensor) error { _, err := t.I8(); return err },
			`dtype U8, want I8`},
		{"U8 of I8", safetensors.FromI8("x", []int{1}, []int8{1}), func(t *safetensors.Tensor) error { _, err := t.U8(); return err },
			`dtype I8, want U8`},
		{"F32 short", safetensors.FromF32("x", []int{2}, []float32{1}), func(t *safetensors.Tensor) error { _, err := t.F32(); return err },
			`data has 4 bytes, want 8 (shape [2] of F32)`},
		{"F32 odd length", safetensors.Tensor{Name: "x", DType: safetensors.F32, Data: []byte{1, 2, 3}}, func(t *safetensors.Tensor) error { _, err := t.F32(); return err },
			`data has 3 bytes, want 4 (shape [] of F32)`},
		{"U8 long", safetensors.FromU8("x", []int{1}, []uint8{1, 2}), func(t *safetensors.Tensor) error { _, err := t.U8(); return err },
			`data has 2 bytes, want 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(&tc.t)
			var ie *safetensors.InvalidError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want an *InvalidError containing %q", err, tc.want)
			}
		})
	}
}

// TestValidate lists the Files that Encode refuses, and checks it writes nothing then.
func TestValidate(t *testing.T) {
	ok := safetensors.FromU8("ok", []int{1}, []uint8{1})
	for _, tc := range []struct {
		name string
		f    safetensors.File
		want string
	}{
		{"empty name", safetensors.File{Tensors: []safetensors.Tensor{ok, safetensors.FromU8("", nil, []uint8{1})}},
			`safetensors: invalid empty tensor name (tensor 1)`},
		{"reserved name", safetensors.File{Tensors: []safetensors.Tensor{safetensors.FromU8("__metadata__", nil, []uint8{1})}},
			`safetensors: invalid tensor "__metadata__": name is reserved for the metadata`},
		{"duplicate name", safetensors.File{Tensors: []safetensors.Tensor{ok, ok}},
			`safetensors: invalid tensor "ok": name used twice`},
		{"bad UTF-8 name", safetensors.File{Tensors: []safetensors.Tensor{safetensors.FromU8("a\xff", nil, []uint8{1})}},
			`safetensors: invalid tensor "a\xff": name is not valid UTF-8`},
		{"bad UTF-8 metadata key", safetensors.File{Metadata: map[string]string{"\xfe": "v"}},
			`safetensors: invalid metadata key "\xfe" is not valid UTF-8`},
		{"bad UTF-8 metadata value", safetensors.File{Metadata: map[string]string{"k": "\xfe"}},
			`safetensors: invalid metadata value "\xfe" of key "k" is not valid UTF-8`},
		{"unknown dtype", safetensors.File{Tensors: []safetensors.Tensor{{Name: "x", DType: "F33", Data: []byte{1}}}},
			`safetensors: invalid tensor "x": unknown dtype "F33"`},
		{"empty dtype", safetensors.File{Tensors: []safetensors.Tensor{{Name: "x", Data: []byte{1}}}},
			`safetensors: invalid tensor "x": unknown dtype ""`},
		{"negative dim", safetensors.File{Tensors: []safetensors.Tensor{{Name: "x", DType: safetensors.U8, Shape: []int{2, -1}}}},
			`safetensors: invalid tensor "x": negative dimension in shape [2 -1]`},
		{"overflow", safetensors.File{Tensors: []safetensors.Tensor{{Name: "x", DType: safetensors.U8, Shape: []int{1 << 32, 1 << 32}}}},
			`safetensors: invalid tensor "x": byte length of shape [4294967296 4294967296] of U8 overflows`},
		{"byte overflow", safetensors.File{Tensors: []safetensors.Tensor{{Name: "x", DType: safetensors.F64, Shape: []int{1 << 61}}}},
			`safetensors: invalid tensor "x": byte length of shape [2305843009213693952] of F64 overflows`},
		{"short data", safetensors.File{Tensors: []safetensors.Tensor{safetensors.FromF32("x", []int{2, 3}, make([]float32, 5))}},
			`safetensors: invalid tensor "x": data has 20 bytes, want 24 (shape [2 3] of F32)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, err := range []error{tc.f.Validate(), func() error {
				var buf bytes.Buffer
				err := safetensors.Encode(&buf, &tc.f)
				if buf.Len() != 0 {
					t.Errorf("Encode wrote %d bytes before failing", buf.Len())
				}
				return err
			}()} {
				var ie *safetensors.InvalidError
				if !errors.As(err, &ie) || err.Error() != tc.want {
					t.Errorf("error = %v, want an *InvalidError %q", err, tc.want)
				}
			}
		})
	}
}

func TestNumElements(t *testing.T) {
	for _, tc := range []struct {
		shape []int
		n     int
		ok    bool
	}{
		{nil, 1, true},
		{[]int{}, 1, true},
		{[]int{0}, 0, true},
		{[]int{2, 3, 4}, 24, true},
		{[]int{-1}, 0, false},
		{[]int{0, -1}, 0, false},
		{[]int{math.MaxInt}, math.MaxInt, true},
		{[]int{math.MaxInt, 2}, 0, false},
		{[]int{0, math.MaxInt, math.MaxInt}, 0, true}, // 0 first: the reference's checked fold stays at 0
		{[]int{math.MaxInt, math.MaxInt, 0}, 0, false},
	} {
		if n, ok := safetensors.NumElements(tc.shape); n != tc.n || ok != tc.ok {
			t.Errorf("NumElements(%v) = %d, %v, want %d, %v", tc.shape, n, ok, tc.n, tc.ok)
		}
	}
}

type failWriter struct{ n int } // accepts n writes, then fails

var errDiskFull = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		return 0, errDiskFull
	}
	w.n--
	return len(p), nil
}

func TestEncodeWriterError(t *testing.T) {
	f := &safetensors.File{Tensors: []safetensors.Tensor{safetensors.FromU8("x", []int{1}, []uint8{1})}}
	for n := range 3 { // fail on the length, the header, the data
		err := safetensors.Encode(&failWriter{n: n}, f)
		if !errors.Is(err, errDiskFull) || !strings.HasPrefix(err.Error(), "safetensors: ") {
			t.Errorf("failing write %d: error = %v, want one wrapping %v", n, err, errDiskFull)
		}
	}
}

// TestDataSHA256: the digest is the SHA-256 of the data buffer Encode writes (the tensors in
// name order), and of a decoded file whatever order the file stored its tensors in.
func TestDataSHA256(t *testing.T) {
	f := &safetensors.File{Tensors: []safetensors.Tensor{
		safetensors.FromU8("c", []int{3}, []uint8{7, 8, 9}),
		safetensors.FromU8("a", []int{1}, []uint8{1}),
		safetensors.FromI8("b", []int{2}, []int8{-1, 2}),
	}}
	data, err := encode(f)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(data)
	want := sha256.Sum256(data[8+n:])
	if got := f.DataSHA256(); got != want {
		t.Errorf("DataSHA256 = %x, want %x (the bytes after the header)", got, want)
	}
	// The same tensors stored c, b, a by another writer.
	other := raw(`{"c":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"b":{"dtype":"I8","shape":[2],"data_offsets":[3,5]},"a":{"dtype":"U8","shape":[1],"data_offsets":[5,6]}}`,
		[]byte{7, 8, 9, 0xff, 2, 1})
	g, err := safetensors.Decode(other)
	if err != nil {
		t.Fatal(err)
	}
	if got := g.DataSHA256(); got != want {
		t.Errorf("DataSHA256 of the file in another order = %x, want %x", got, want)
	}
	if got := (&safetensors.File{}).DataSHA256(); got != sha256.Sum256(nil) {
		t.Errorf("DataSHA256 of no tensors = %x, want the SHA-256 of nothing", got)
	}
}
