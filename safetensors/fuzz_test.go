package safetensors_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"tinyq/safetensors"
)

// FuzzDecode checks that Decode never panics, that its only errors are *FormatErrors,
// and that a success survives a round trip: Encode accepts the result, and decoding
// that gives the same metadata and tensors; encoding again gives the same bytes (the
// encoding is canonical).
func FuzzDecode(f *testing.F) {
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add(golden[:len(golden)-1])                                         // a data byte short
	f.Add(golden[:100])                                                   // header cut
	f.Add(append(bytes.Clone(golden), 0))                                 // a trailing byte
	f.Add(bytes.Replace(golden, []byte(`"F32"`), []byte(`"F64"`), 1))     // wrong length for the dtype
	f.Add(bytes.Replace(golden, []byte(`[8,32]`), []byte(`[4,28]`), 1))   // overlap and trailing bytes
	f.Add(bytes.Replace(golden, []byte(`"bias"`), []byte(`"weight"`), 1)) // duplicate name
	corrupt := bytes.Clone(golden)
	corrupt[0]++ // header length one too long
	f.Add(corrupt)
	f.Add(raw(`{"s":{"dtype":"F16","shape":[],"data_offsets":[0,2]},"e":{"dtype":"BF16","shape":[0,3],"data_offsets":[2,2]}}`, []byte{0, 0x3c}))
	f.Add(raw(`{"__metadata__":{"a":"b","c":"\u00e9"}}`, nil))
	f.Add(raw(`{"a":{"dtype":"U8","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}`, nil))
	f.Add([]byte{})
	f.Add(make([]byte, 8))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := safetensors.Decode(data)
		if err != nil {
			var fe *safetensors.FormatError
			if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), "safetensors: ") {
				t.Fatalf("Decode error %T %v, want a *FormatError", err, err)
			}
			return
		}
		enc, err := encode(g)
		if err != nil {
			t.Fatalf("Encode(Decode(x)): %v", err)
		}
		h, err := safetensors.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(x))): %v", err)
		}
		if d := diff(h, g); d != "" {
			t.Fatalf("round trip changed the file: %s", d)
		}
		if enc2, err := encode(h); err != nil || !bytes.Equal(enc2, enc) {
			t.Fatalf("encoding is not canonical: %q then %q (%v)", enc, enc2, err)
		}
	})
}
