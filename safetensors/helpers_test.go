package safetensors_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"tinyq/safetensors"
)

// raw builds a file from a header given verbatim (no padding) and a buffer.
func raw(header string, buf []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, buf...)
}

// encode returns what Encode writes for f, and its error.
func encode(f *safetensors.File) ([]byte, error) {
	var buf bytes.Buffer
	err := safetensors.Encode(&buf, f)
	return buf.Bytes(), err
}

// diff describes the first difference between two files, or returns "" if they hold
// the same metadata and the same tensors in the same order. A nil and an empty map,
// shape or data are the same.
func diff(got, want *safetensors.File) string {
	if len(got.Metadata) != len(want.Metadata) || (got.Metadata == nil) != (want.Metadata == nil) {
		return fmt.Sprintf("metadata = %v, want %v", got.Metadata, want.Metadata)
	}
	for k, v := range want.Metadata {
		if g, ok := got.Metadata[k]; !ok || g != v {
			return fmt.Sprintf("metadata[%q] = %q, want %q", k, g, v)
		}
	}
	if len(got.Tensors) != len(want.Tensors) {
		return fmt.Sprintf("%d tensors, want %d", len(got.Tensors), len(want.Tensors))
	}
	for i := range want.Tensors {
		g, w := &got.Tensors[i], &want.Tensors[i]
		switch {
		case g.Name != w.Name:
			return fmt.Sprintf("tensor %d: name %q, want %q", i, g.Name, w.Name)
		case g.DType != w.DType:
			return fmt.Sprintf("tensor %q: dtype %s, want %s", w.Name, g.DType, w.DType)
		case !slices.Equal(g.Shape, w.Shape):
			return fmt.Sprintf("tensor %q: shape %v, want %v", w.Name, g.Shape, w.Shape)
		case !bytes.Equal(g.Data, w.Data):
			return fmt.Sprintf("tensor %q: data %x, want %x", w.Name, g.Data, w.Data)
		}
	}
	return ""
}

// ramp returns n bytes 1, 2, 3, ... (mod 256), so that misplaced bytes show.
func ramp(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i + 1)
	}
	return b
}
