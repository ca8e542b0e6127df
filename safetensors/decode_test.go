package safetensors_test

import (
	"encoding/binary"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"tinyq/safetensors"
)

// f32x1 is the header entry of a one-element F32 tensor at [begin, begin+4].
func f32x1(name string, begin int) string {
	return `"` + name + `":{"dtype":"F32","shape":[1],"data_offsets":[` + strconv.Itoa(begin) + `,` + strconv.Itoa(begin+4) + `]}`
}

func withLength(n uint64, size int) []byte {
	b := make([]byte, size)
	binary.LittleEndian.PutUint64(b, n)
	return b
}

// TestDecodeErrors feeds Decode one malformed file per rule of the format and checks
// that the *FormatError names the problem.
func TestDecodeErrors(t *testing.T) {
	four := make([]byte, 4)
	for _, tc := range []struct {
		name   string
		data   []byte
		want   string // the whole message, or a part of it
		tensor string // FormatError.Tensor
	}{
		// The 8-byte length.
		{"empty file", nil, "safetensors: file too short: 0 bytes, want at least 8 for the header length", ""},
		{"short file", []byte{1, 2, 3}, "safetensors: file too short: 3 bytes, want at least 8 for the header length", ""},
		{"length past end", withLength(99999, 120), "safetensors: header length 99999 past end of file (size 120)", ""},
		{"length one past end", raw(`{}`, nil)[:9], "safetensors: header length 2 past end of file (size 9)", ""},
		{"length over 100 MB", withLength(100_000_001, 16), "safetensors: header length 100000001 exceeds the limit of 100000000", ""},
		{"length 2^64-1", withLength(1<<64-1, 16), "safetensors: header length 18446744073709551615 exceeds the limit", ""},

		// The header as JSON.
		{"empty header", raw(``, nil), "safetensors: invalid JSON header: unexpected EOF", ""},
		{"blank header", raw(`        `, nil), "safetensors: invalid JSON header: unexpected EOF", ""},
		{"not UTF-8", raw(`{"a`+"\xff"+`":1}`, nil), "safetensors: header is not valid UTF-8", ""},
		{"truncated JSON", raw(`{"w":`, nil), "safetensors: invalid JSON header: unexpected EOF", ""},
		{"missing colon", raw(`{"w" {}}`, nil), "safetensors: invalid JSON header: invalid character '{' after object key", ""},
		{"trailing comma", raw(`{"__metadata__":{},}`, nil), "safetensors: invalid JSON header: invalid character '}'", ""},
		{"bare word", raw(`{"__metadata__":{"a":nope}}`, nil), "safetensors: invalid JSON header: invalid character 'o' in literal null", ""},
		{"data after object", raw(`{} {}`, nil), "safetensors: invalid JSON header: data after the top-level object at offset 2", ""},
		{"NUL padding", raw("{}\x00", nil), "safetensors: invalid JSON header: data after the top-level object", ""},
		{"array", raw(`[]`, nil), "safetensors: header is an array, want a JSON object", ""},
		{"string", raw(`"x"`, nil), "safetensors: header is a string, want a JSON object", ""},
		{"null", raw(`null`, nil), "safetensors: header is null, want a JSON object", ""},
		{"duplicate tensor", raw(`{`+f32x1("w", 0)+`,`+f32x1("w", 0)+`}`, four), `safetensors: key "w" appears twice in the header`, ""},
		{"duplicate metadata", raw(`{"__metadata__":{},"__metadata__":{}}`, nil), `safetensors: key "__metadata__" appears twice in the header`, ""},

		// __metadata__.
		{"metadata array", raw(`{"__metadata__":["a"]}`, nil), "safetensors: __metadata__ is an array, want an object of strings", ""},
		{"metadata string", raw(`{"__metadata__":"a"}`, nil), "safetensors: __metadata__ is a string, want an object of strings", ""},
		{"metadata number value", raw(`{"__metadata__":{"a":1}}`, nil), `safetensors: __metadata__ value of key "a" is a number, want a string`, ""},
		{"metadata null value", raw(`{"__metadata__":{"a":null}}`, nil), `safetensors: __metadata__ value of key "a" is null, want a string`, ""},
		{"metadata object value", raw(`{"__metadata__":{"a":{}}}`, nil), `safetensors: __metadata__ value of key "a" is an object, want a string`, ""},
		{"metadata duplicate key", raw(`{"__metadata__":{"a":"1","a":"2"}}`, nil), `safetensors: __metadata__ key "a" appears twice`, ""},

		// Tensor entries: fields.
		{"entry array", raw(`{"w":[]}`, nil), `safetensors: tensor "w": entry is an array, want an object with dtype, shape and data_offsets`, "w"},
		{"entry number", raw(`{"w":3}`, nil), `safetensors: tensor "w": entry is a number, want an object`, "w"},
		{"missing dtype", raw(`{"w":{"shape":[],"data_offsets":[0,0]}}`, nil), `safetensors: tensor "w": missing field "dtype"`, "w"},
		{"missing shape", raw(`{"w":{"dtype":"U8","data_offsets":[0,0]}}`, nil), `safetensors: tensor "w": missing field "shape"`, "w"},
		{"missing offsets", raw(`{"w":{"dtype":"U8","shape":[]}}`, nil), `safetensors: tensor "w": missing field "data_offsets"`, "w"},
		{"unknown field", raw(`{"w":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"strides":[1]}}`, nil), `safetensors: tensor "w": unknown field "strides"`, "w"},
		{"duplicate field", raw(`{"w":{"dtype":"U8","dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, nil), `safetensors: tensor "w": field "dtype" appears twice`, "w"},
		{"dtype number", raw(`{"w":{"dtype":4,"shape":[0],"data_offsets":[0,0]}}`, nil), `safetensors: tensor "w": dtype is a number, want a string`, "w"},
		{"unknown dtype", raw(`{"w":{"dtype":"F33","shape":[0],"data_offsets":[0,0]}}`, nil), `safetensors: tensor "w": unknown dtype "F33"`, "w"},
		{"lower-case dtype", raw(`{"w":{"dtype":"f32","shape":[0],"data_offsets":[0,0]}}`, nil), `safetensors: tensor "w": unknown dtype "f32"`, "w"},
		{"sub-byte dtype", raw(`{"w":{"dtype":"F4","shape":[0],"data_offsets":[0,0]}}`, nil), `safetensors: tensor "w": unknown dtype "F4"`, "w"},
		{"shape string", raw(`{"w":{"dtype":"U8","shape":"2","data_offsets":[0,2]}}`, nil), `safetensors: tensor "w": shape is a string, want an array of integers`, "w"},
		{"shape null", raw(`{"w":{"dtype":"U8","shape":null,"data_offsets":[0,2]}}`, nil), `safetensors: tensor "w": shape is null, want an array of integers`, "w"},
		{"shape of strings", raw(`{"w":{"dtype":"U8","shape":["2"],"data_offsets":[0,2]}}`, nil), `safetensors: tensor "w": shape holds a string, want integers`, "w"},
		{"shape nested", raw(`{"w":{"dtype":"U8","shape":[[2]],"data_offsets":[0,2]}}`, nil), `safetensors: tensor "w": shape holds an array, want integers`, "w"},
		{"shape fraction", raw(`{"w":{"dtype":"U8","shape":[2.0],"data_offsets":[0,2]}}`, nil), `safetensors: tensor "w": shape holds 2.0, want integers`, "w"},
		{"shape exponent", raw(`{"w":{"dtype":"U8","shape":[2e0],"data_offsets":[0,2]}}`, nil), `safetensors: tensor "w": shape holds 2e0, want integers`, "w"},
		{"offsets object", raw(`{"w":{"dtype":"U8","shape":[2],"data_offsets":{}}}`, nil), `safetensors: tensor "w": data_offsets is an object, want an array of integers`, "w"},
		{"offsets one", raw(`{"w":{"dtype":"U8","shape":[2],"data_offsets":[2]}}`, nil), `safetensors: tensor "w": data_offsets has 1 elements, want 2`, "w"},
		{"offsets three", raw(`{"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2,2]}}`, nil), `safetensors: tensor "w": data_offsets has 3 elements, want 2`, "w"},

		// Tensor entries: values.
		{"negative dim", raw(`{"w":{"dtype":"U8","shape":[2,-1],"data_offsets":[0,0]}}`, nil), `safetensors: tensor "w": shape holds negative -1`, "w"},
		{"negative offset", raw(`{"w":{"dtype":"U8","shape":[0],"data_offsets":[-4,0]}}`, nil), `safetensors: tensor "w": data_offsets holds negative -4`, "w"},
		{"huge negative", raw(`{"w":{"dtype":"U8","shape":[-99999999999999999999],"data_offsets":[0,0]}}`, nil), `safetensors: tensor "w": shape holds negative -99999999999999999999`, "w"},
		{"dim overflows int", raw(`{"w":{"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,0]}}`, nil), `safetensors: tensor "w": shape holds 9223372036854775808, which overflows an int`, "w"},
		{"offset overflows int", raw(`{"w":{"dtype":"U8","shape":[0],"data_offsets":[0,18446744073709551616]}}`, nil), `safetensors: tensor "w": data_offsets holds 18446744073709551616, which overflows an int`, "w"},
		{"product overflows", raw(`{"w":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil), `safetensors: tensor "w": byte length of shape [4294967296 4294967296] of U8 overflows`, "w"},
		{"product overflows before 0", raw(`{"w":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}`, nil), `byte length of shape [4294967296 4294967296 0] of U8 overflows`, "w"},
		{"bytes overflow", raw(`{"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}}`, nil), `safetensors: tensor "w": byte length of shape [4611686018427387904] of F32 overflows`, "w"},
		{"begin after end", raw(`{"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}`, four), `safetensors: tensor "w": data_offsets [4, 0] end before they begin`, "w"},
		{"end past buffer", raw(`{"w":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}`, four), `safetensors: tensor "w": data_offsets [0, 8] past end of data (size 4)`, "w"},
		{"huge end", raw(`{"w":{"dtype":"U8","shape":[1000000000000],"data_offsets":[0,1000000000000]}}`, four), `data_offsets [0, 1000000000000] past end of data (size 4)`, "w"},
		{"too few bytes", raw(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, four), `safetensors: tensor "w": data_offsets [0, 4] hold 4 bytes, want 8 (shape [2] of F32)`, "w"},
		{"too many bytes", raw(`{"w":{"dtype":"F32","shape":[],"data_offsets":[0,8]}}`, make([]byte, 8)), `safetensors: tensor "w": data_offsets [0, 8] hold 8 bytes, want 4 (shape [] of F32)`, "w"},

		// Coverage of the buffer.
		{"overlap", raw(`{`+f32x1("a", 0)+`,`+f32x1("b", 2)+`}`, make([]byte, 6)), `safetensors: tensor "b": data_offsets [2, 6] overlap those of tensor "a" [0, 4]`, "b"},
		{"same offsets", raw(`{`+f32x1("a", 0)+`,`+f32x1("b", 0)+`}`, four), `safetensors: tensor "b": data_offsets [0, 4] overlap those of tensor "a" [0, 4]`, "b"},
		{"empty inside another", raw(`{`+f32x1("a", 0)+`,"e":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}`, four), `safetensors: tensor "e": data_offsets [2, 2] overlap those of tensor "a" [0, 4]`, "e"},
		{"gap", raw(`{`+f32x1("a", 0)+`,`+f32x1("b", 8)+`}`, make([]byte, 12)), `safetensors: tensor "b": data_offsets [8, 12] leave a gap: bytes [4, 8) belong to no tensor`, "b"},
		{"gap at start", raw(`{`+f32x1("a", 4)+`}`, make([]byte, 8)), `safetensors: tensor "a": data_offsets [4, 8] leave a gap: bytes [0, 4) belong to no tensor`, "a"},
		{"trailing bytes", raw(`{`+f32x1("a", 0)+`}`, make([]byte, 6)), `safetensors: trailing data: bytes [4, 6) belong to no tensor`, ""},
		{"bytes but no tensors", raw(`{}`, []byte{0}), `safetensors: trailing data: bytes [0, 1) belong to no tensor`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := safetensors.Decode(tc.data)
			var fe *safetensors.FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("Decode = %v, %v; want a *FormatError", f, err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "safetensors: ") || !strings.Contains(msg, tc.want) {
				t.Errorf("error = %q\n      want it to contain %q", msg, tc.want)
			}
			if fe.Tensor != tc.tensor || fe.File != "" {
				t.Errorf("Tensor = %q, File = %q; want %q, \"\"", fe.Tensor, fe.File, tc.tensor)
			}
		})
	}
}

// TestDecodeValid lists unusual files that are valid.
func TestDecodeValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want safetensors.File
	}{
		{"empty object", raw(`{}`, nil), safetensors.File{}},
		{"padded with spaces", raw(`{}      `, nil), safetensors.File{}},
		{"whitespace around", raw(" \t\r\n{ } \n", nil), safetensors.File{}},
		{"null metadata", raw(`{"__metadata__":null}`, nil), safetensors.File{}},
		{"empty metadata", raw(`{"__metadata__":{}}`, nil), safetensors.File{Metadata: map[string]string{}}},
		{"metadata last", raw(`{`+f32x1("w", 0)+`,"__metadata__":{"k":"v"}}`, []byte{0, 0, 0x80, 0x3f}),
			safetensors.File{Metadata: map[string]string{"k": "v"}, Tensors: []safetensors.Tensor{safetensors.FromF32("w", []int{1}, []float32{1})}}},
		{"fields in any order", raw(`{"w":{"data_offsets":[0,1],"shape":[],"dtype":"I8"}}`, []byte{0xff}),
			safetensors.File{Tensors: []safetensors.Tensor{safetensors.FromI8("w", nil, []int8{-1})}}},
		{"data not in name order", raw(`{`+f32x1("a", 4)+`,`+f32x1("b", 0)+`}`, []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40}),
			safetensors.File{Tensors: []safetensors.Tensor{safetensors.FromF32("a", []int{1}, []float32{2}), safetensors.FromF32("b", []int{1}, []float32{1})}}},
		{"empty tensors share offsets", raw(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"F64","shape":[3,0],"data_offsets":[0,0]},"c":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"d":{"dtype":"U8","shape":[0],"data_offsets":[1,1]}}`, []byte{7}),
			safetensors.File{Tensors: []safetensors.Tensor{
				{Name: "a", DType: safetensors.U8, Shape: []int{0}}, {Name: "b", DType: safetensors.F64, Shape: []int{3, 0}},
				safetensors.FromU8("c", []int{1}, []uint8{7}), {Name: "d", DType: safetensors.U8, Shape: []int{0}}}}},
		{"zero before huge dims", raw(`{"a":{"dtype":"U8","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}`, nil),
			safetensors.File{Tensors: []safetensors.Tensor{{Name: "a", DType: safetensors.U8, Shape: []int{0, 1 << 32, 1 << 32}}}}},
		{"negative zero", raw(`{"a":{"dtype":"U8","shape":[-0],"data_offsets":[0,-0]}}`, nil),
			safetensors.File{Tensors: []safetensors.Tensor{{Name: "a", DType: safetensors.U8, Shape: []int{0}}}}},
		{"escaped names", raw(`{"\u00e9\n":{"dtype":"U8","shape":[],"data_offsets":[0,1]},"__metadata__":{"\"":"\ud83d\ude00"}}`, []byte{1}),
			safetensors.File{Metadata: map[string]string{`"`: "😀"}, Tensors: []safetensors.Tensor{safetensors.FromU8("é\n", nil, []uint8{1})}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := safetensors.Decode(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(f, &tc.want); d != "" {
				t.Error(d)
			}
		})
	}
}

// TestDecodeAllocations checks that Decode allocates in proportion to its input, not to
// the sizes a header claims. Bounds: 1 MiB of slack for a small input (the JSON decoder's
// buffers and per-token allocations), and 2×len(data) more for a large one (one copy of
// the buffer, plus the header, which is small here).
func TestDecodeAllocations(t *testing.T) {
	big := make([]byte, 8<<20)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"huge length", withLength(100_000_000, 64)},
		{"huge shape", raw(`{"w":{"dtype":"F64","shape":[1000000000000],"data_offsets":[0,8000000000000]}}`, nil)},
		{"huge offsets", raw(`{"w":{"dtype":"U8","shape":[0],"data_offsets":[9000000000000000000,9000000000000000000]}}`, nil)},
		{"8 MiB tensor", raw(`{"w":{"dtype":"U8","shape":[8388608],"data_offsets":[0,8388608]}}`, big)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, _ = safetensors.Decode(tc.data)
			runtime.ReadMemStats(&after)
			t.Logf("%d bytes in, %d bytes allocated", len(tc.data), after.TotalAlloc-before.TotalAlloc)
			if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(2*len(tc.data)+1<<20); got > limit {
				t.Errorf("Decode of %d bytes allocated %d bytes, want at most %d", len(tc.data), got, limit)
			}
		})
	}
}
