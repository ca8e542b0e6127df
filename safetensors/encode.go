package safetensors

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// metadataKey is the header key reserved for the string-to-string metadata.
const metadataKey = "__metadata__"

// maxHeader is the largest header length accepted, in bytes: 10^8 (100 MB), the MAX_HEADER_SIZE
// of the reference implementation (huggingface/safetensors, safetensors/src/tensor.rs).
const maxHeader = 100_000_000

// Validate reports an *InvalidError if f cannot be written: a tensor name that is empty,
// "__metadata__", used twice or not valid UTF-8; a metadata key or value that is not valid
// UTF-8; an unknown dtype; a negative dimension or an element count that overflows; or
// len(Data) different from the element count times the dtype size.
func (f *File) Validate() error {
	keys := slices.Sorted(maps.Keys(f.Metadata)) // report the same error every time
	for _, k := range keys {
		v := f.Metadata[k]
		if !utf8.ValidString(k) {
			return &InvalidError{What: fmt.Sprintf("metadata key %q is not valid UTF-8", k)}
		}
		if !utf8.ValidString(v) {
			return &InvalidError{What: fmt.Sprintf("metadata value %q of key %q is not valid UTF-8", v, k)}
		}
	}
	seen := make(map[string]bool, len(f.Tensors))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		switch {
		case t.Name == "":
			return &InvalidError{What: fmt.Sprintf("empty tensor name (tensor %d)", i)}
		case t.Name == metadataKey:
			return &InvalidError{Tensor: t.Name, What: "name is reserved for the metadata"}
		case !utf8.ValidString(t.Name):
			return &InvalidError{Tensor: t.Name, What: "name is not valid UTF-8"}
		case seen[t.Name]:
			return &InvalidError{Tensor: t.Name, What: "name used twice"}
		}
		seen[t.Name] = true
		if err := t.validate(); err != nil {
			return err
		}
	}
	return nil
}

// validate reports an *InvalidError unless t has a known dtype, a valid shape and as
// many data bytes as its shape requires. It does not look at the name.
func (t *Tensor) validate() error {
	if t.DType.Size() == 0 {
		return &InvalidError{Tensor: t.Name, What: "unknown dtype " + quoteDType(t.DType)}
	}
	for _, d := range t.Shape {
		if d < 0 {
			return &InvalidError{Tensor: t.Name, What: fmt.Sprintf("negative dimension in shape %v", t.Shape)}
		}
	}
	n, ok := byteLen(t.DType, t.Shape)
	if !ok {
		return &InvalidError{Tensor: t.Name, What: fmt.Sprintf("byte length of shape %v of %s overflows", t.Shape, t.DType)}
	}
	if len(t.Data) != n {
		return &InvalidError{Tensor: t.Name, What: fmt.Sprintf("data has %d bytes, want %d (shape %v of %s)", len(t.Data), n, t.Shape, t.DType)}
	}
	return nil
}

// Encode writes f to w in the safetensors format. The header lists "__metadata__" first
// (if f.Metadata is not nil, keys sorted) and then the tensors sorted by name; their data
// follows in the same order, contiguous. The header is padded with spaces so that the
// data starts at a multiple of 8 bytes from the start of the file, as the reference
// implementation does. Encode validates f first (see File.Validate) and writes nothing
// if it is invalid. It does not modify f.
func Encode(w io.Writer, f *File) error {
	header, order, err := encodeHeader(f)
	if err != nil {
		return err
	}
	if err := write(w, header, order); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// write writes the header length, the header and the tensors' data, and returns the
// first error of w, unwrapped.
func write(w io.Writer, header []byte, order []*Tensor) error {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	for _, t := range order {
		if _, err := w.Write(t.Data); err != nil {
			return err
		}
	}
	return nil
}

// DataSHA256 returns the SHA-256 of f's data buffer as Encode lays it out: the tensors'
// Data concatenated in the order of their names (byte-wise, as Encode sorts them). For a
// file Encode wrote, or any file whose tensors are stored in name order, it is the SHA-256
// of every byte after the header; for a decoded file it does not depend on the order in
// which the file stored its tensors. It does not validate f.
func (f *File) DataSHA256() [sha256.Size]byte {
	h := sha256.New()
	for _, t := range byName(f) {
		h.Write(t.Data) // a hash.Hash never returns an error
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// byName returns pointers to f's tensors sorted by name: the order of Encode's data buffer.
func byName(f *File) []*Tensor {
	order := make([]*Tensor, len(f.Tensors))
	for i := range f.Tensors {
		order[i] = &f.Tensors[i]
	}
	slices.SortFunc(order, func(a, b *Tensor) int { return strings.Compare(a.Name, b.Name) })
	return order
}

// encodeHeader validates f and returns the padded JSON header and the tensors in the
// order of their data.
func encodeHeader(f *File) ([]byte, []*Tensor, error) {
	if err := f.Validate(); err != nil {
		return nil, nil, err
	}
	order := byName(f)

	var h bytes.Buffer
	h.WriteByte('{')
	if f.Metadata != nil {
		writeString(&h, metadataKey)
		h.WriteString(":{")
		for i, k := range slices.Sorted(maps.Keys(f.Metadata)) {
			if i > 0 {
				h.WriteByte(',')
			}
			writeString(&h, k)
			h.WriteByte(':')
			writeString(&h, f.Metadata[k])
		}
		h.WriteByte('}')
	}
	offset := 0
	for i, t := range order {
		if i > 0 || f.Metadata != nil {
			h.WriteByte(',')
		}
		writeString(&h, t.Name)
		h.WriteString(`:{"dtype":`)
		writeString(&h, string(t.DType))
		h.WriteString(`,"shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(d))
		}
		h.WriteString(`],"data_offsets":[`)
		h.WriteString(strconv.Itoa(offset))
		h.WriteByte(',')
		offset += len(t.Data)
		h.WriteString(strconv.Itoa(offset))
		h.WriteString("]}")
	}
	h.WriteByte('}')
	// Pad so that 8 + len(header) is a multiple of 8: the data then starts 8-byte
	// aligned, and so does every tensor whose offset is a multiple of 8.
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	if h.Len() > maxHeader {
		return nil, nil, &InvalidError{What: fmt.Sprintf("header of %d bytes exceeds the limit of %d", h.Len(), maxHeader)}
	}
	return h.Bytes(), order, nil
}

// writeString writes s as a JSON string. Unlike json.Marshal it leaves <, > and &
// alone, as the reference implementation (serde_json) does.
func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes; bytes.Buffer never fails
	b.Truncate(b.Len() - 1) // drop the newline Encode appends
}
