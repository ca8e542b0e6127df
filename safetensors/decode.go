package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Decode parses a whole safetensors file. It checks everything the format requires
// (see the package documentation, # Errors) and returns a *FormatError for the first
// problem found. The tensors are returned sorted by name, with Data copied out of data
// into a single new buffer: the result shares no memory with data. Decode never panics,
// and allocates about len(data) bytes plus a small multiple of the header length, never
// an amount taken from the header.
func Decode(data []byte) (*File, error) {
	return decode(data, true)
}

// entry is a tensor's header entry as parsed, before the offsets are checked.
type entry struct {
	name       string
	dtype      DType
	shape      []int
	begin, end int
}

// decode is Decode; with copyData false the tensors' Data alias data.
func decode(data []byte, copyData bool) (*File, error) {
	if len(data) < 8 {
		return nil, &FormatError{What: fmt.Sprintf("file too short: %d bytes, want at least 8 for the header length", len(data))}
	}
	n := binary.LittleEndian.Uint64(data)
	if n > maxHeader {
		return nil, &FormatError{What: fmt.Sprintf("header length %d exceeds the limit of %d", n, maxHeader)}
	}
	if n > uint64(len(data)-8) {
		return nil, &FormatError{What: fmt.Sprintf("header length %d past end of file (size %d)", n, len(data))}
	}
	header := data[8 : 8+n]
	buf := data[8+n:]
	if !utf8.Valid(header) {
		return nil, &FormatError{What: "header is not valid UTF-8"}
	}
	p := &parser{dec: json.NewDecoder(bytes.NewReader(header))}
	p.dec.UseNumber()
	f, entries, err := p.header()
	if err != nil {
		return nil, err
	}
	if rest := header[p.dec.InputOffset():]; len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
		return nil, &FormatError{What: fmt.Sprintf("invalid JSON header: data after the top-level object at offset %d", p.dec.InputOffset())}
	}
	if err := checkOffsets(entries, len(buf)); err != nil {
		return nil, err
	}

	slices.SortFunc(entries, func(a, b *entry) int { return strings.Compare(a.name, b.name) })
	if copyData {
		buf = append([]byte(nil), buf...)
	}
	f.Tensors = make([]Tensor, len(entries))
	for i, e := range entries {
		f.Tensors[i] = Tensor{Name: e.name, DType: e.dtype, Shape: e.shape, Data: buf[e.begin:e.end:e.end]}
	}
	return f, nil
}

// checkOffsets checks that each entry's data_offsets lie inside a buffer of bufLen bytes
// and hold exactly its bytes, and that together they cover the buffer without overlap
// or gap, as the reference implementation requires.
func checkOffsets(entries []*entry, bufLen int) error {
	for _, e := range entries {
		if e.begin > e.end {
			return &FormatError{Tensor: e.name, What: fmt.Sprintf("data_offsets [%d, %d] end before they begin", e.begin, e.end)}
		}
		if e.end > bufLen {
			return &FormatError{Tensor: e.name, What: fmt.Sprintf("data_offsets [%d, %d] past end of data (size %d)", e.begin, e.end, bufLen)}
		}
		want, ok := byteLen(e.dtype, e.shape)
		if !ok {
			return &FormatError{Tensor: e.name, What: fmt.Sprintf("byte length of shape %v of %s overflows", e.shape, e.dtype)}
		}
		if got := e.end - e.begin; got != want {
			return &FormatError{Tensor: e.name, What: fmt.Sprintf("data_offsets [%d, %d] hold %d bytes, want %d (shape %v of %s)", e.begin, e.end, got, want, e.shape, e.dtype)}
		}
	}
	byOffset := slices.Clone(entries)
	slices.SortFunc(byOffset, func(a, b *entry) int {
		if a.begin != b.begin {
			return a.begin - b.begin // no overflow: both in [0, bufLen]
		}
		return a.end - b.end
	})
	pos := 0
	var prev *entry
	for _, e := range byOffset {
		switch {
		case e.begin < pos:
			return &FormatError{Tensor: e.name, What: fmt.Sprintf("data_offsets [%d, %d] overlap those of tensor %q [%d, %d]", e.begin, e.end, prev.name, prev.begin, prev.end)}
		case e.begin > pos:
			return &FormatError{Tensor: e.name, What: fmt.Sprintf("data_offsets [%d, %d] leave a gap: bytes [%d, %d) belong to no tensor", e.begin, e.end, pos, e.begin)}
		}
		pos = e.end
		prev = e
	}
	if pos != bufLen {
		return &FormatError{What: fmt.Sprintf("trailing data: bytes [%d, %d) belong to no tensor", pos, bufLen)}
	}
	return nil
}

// parser reads the JSON header token by token, so that it sees duplicate keys, which
// encoding/json's Unmarshal would silently merge.
type parser struct {
	dec *json.Decoder
}

// token returns the next token; a syntax error or a premature end is a *FormatError.
func (p *parser) token() (json.Token, error) {
	tok, err := p.dec.Token()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, &FormatError{What: "invalid JSON header", Err: err}
	}
	return tok, nil
}

// key returns tok as an object key. json.Decoder only returns a string in key
// position; the check keeps a broken promise from becoming a panic.
func (p *parser) key(tok json.Token) (string, error) {
	s, ok := tok.(string)
	if !ok {
		return "", &FormatError{What: "invalid JSON header: object key is " + kind(tok)}
	}
	return s, nil
}

// header parses the top-level object.
func (p *parser) header() (*File, []*entry, error) {
	tok, err := p.token()
	if err != nil {
		return nil, nil, err
	}
	if tok != json.Delim('{') {
		return nil, nil, &FormatError{What: "header is " + kind(tok) + ", want a JSON object"}
	}
	f := &File{}
	var entries []*entry
	seen := make(map[string]bool)
	for p.dec.More() {
		tok, err := p.token()
		if err != nil {
			return nil, nil, err
		}
		key, err := p.key(tok)
		if err != nil {
			return nil, nil, err
		}
		if seen[key] {
			return nil, nil, &FormatError{What: fmt.Sprintf("key %q appears twice in the header", key)}
		}
		seen[key] = true
		if key == metadataKey {
			if f.Metadata, err = p.metadata(); err != nil {
				return nil, nil, err
			}
			continue
		}
		e, err := p.entry(key)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
	}
	if _, err := p.token(); err != nil { // the closing '}'
		return nil, nil, err
	}
	return f, entries, nil
}

// metadata parses the value of "__metadata__": an object of strings, or null.
func (p *parser) metadata() (map[string]string, error) {
	tok, err := p.token()
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil // null, as serde reads it into the reference's Option: no metadata
	}
	if tok != json.Delim('{') {
		return nil, &FormatError{What: metadataKey + " is " + kind(tok) + ", want an object of strings"}
	}
	m := make(map[string]string)
	for p.dec.More() {
		tok, err := p.token()
		if err != nil {
			return nil, err
		}
		key, err := p.key(tok)
		if err != nil {
			return nil, err
		}
		if _, dup := m[key]; dup {
			return nil, &FormatError{What: fmt.Sprintf("%s key %q appears twice", metadataKey, key)}
		}
		if tok, err = p.token(); err != nil {
			return nil, err
		}
		v, ok := tok.(string)
		if !ok {
			return nil, &FormatError{What: fmt.Sprintf("%s value of key %q is %s, want a string", metadataKey, key, kind(tok))}
		}
		m[key] = v
	}
	_, err = p.token()
	return m, err
}

// entry parses a tensor's header entry: an object with exactly the keys "dtype",
// "shape" and "data_offsets".
func (p *parser) entry(name string) (*entry, error) {
	bad := func(format string, args ...any) error {
		return &FormatError{Tensor: name, What: fmt.Sprintf(format, args...)}
	}
	tok, err := p.token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, bad("entry is %s, want an object with dtype, shape and data_offsets", kind(tok))
	}
	e := &entry{name: name}
	var haveDType, haveShape, haveOffsets bool
	for p.dec.More() {
		tok, err := p.token()
		if err != nil {
			return nil, err
		}
		key, err := p.key(tok)
		if err != nil {
			return nil, err
		}
		var dup bool
		switch key {
		case "dtype":
			dup, haveDType = haveDType, true
			if tok, err = p.token(); err != nil {
				return nil, err
			}
			s, ok := tok.(string)
			if !ok {
				return nil, bad("dtype is %s, want a string", kind(tok))
			}
			if e.dtype = DType(s); e.dtype.Size() == 0 {
				return nil, bad("unknown dtype %q", s)
			}
		case "shape":
			dup, haveShape = haveShape, true
			if e.shape, err = p.ints(name, "shape", -1); err != nil {
				return nil, err
			}
		case "data_offsets":
			dup, haveOffsets = haveOffsets, true
			offsets, err := p.ints(name, "data_offsets", 2)
			if err != nil {
				return nil, err
			}
			e.begin, e.end = offsets[0], offsets[1]
		default:
			return nil, bad("unknown field %q", key)
		}
		if dup {
			return nil, bad("field %q appears twice", key)
		}
	}
	if _, err := p.token(); err != nil {
		return nil, err
	}
	switch {
	case !haveDType:
		return nil, bad("missing field \"dtype\"")
	case !haveShape:
		return nil, bad("missing field \"shape\"")
	case !haveOffsets:
		return nil, bad("missing field \"data_offsets\"")
	}
	return e, nil
}

// ints parses an array of non-negative integers that fit an int, of length want, or of
// any length if want < 0.
func (p *parser) ints(name, field string, want int) ([]int, error) {
	bad := func(format string, args ...any) error {
		return &FormatError{Tensor: name, What: field + " " + fmt.Sprintf(format, args...)}
	}
	tok, err := p.token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('[') {
		return nil, bad("is %s, want an array of integers", kind(tok))
	}
	v := []int{}
	for p.dec.More() {
		tok, err := p.token()
		if err != nil {
			return nil, err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, bad("holds %s, want integers", kind(tok))
		}
		s := string(num)
		if strings.ContainsAny(s, ".eE") {
			return nil, bad("holds %s, want integers", s)
		}
		x, err := strconv.ParseInt(s, 10, 0)
		switch {
		case strings.HasPrefix(s, "-") && (err != nil || x != 0):
			return nil, bad("holds negative %s", s)
		case errors.Is(err, strconv.ErrRange):
			return nil, bad("holds %s, which overflows an int", s)
		case err != nil: // not reached: the decoder checked the number's syntax
			return nil, bad("holds %s, want integers", s)
		}
		v = append(v, int(x))
	}
	if _, err := p.token(); err != nil {
		return nil, err
	}
	if want >= 0 && len(v) != want {
		return nil, bad("has %d elements, want %d", len(v), want)
	}
	return v, nil
}

// kind names the JSON type of a token for a message.
func kind(tok json.Token) string {
	switch tok := tok.(type) {
	case json.Delim:
		if tok == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}
