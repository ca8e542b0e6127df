package safetensors

import (
	"encoding/binary"
	"math"
)

// DType names the element type of a tensor, spelled as in the safetensors header.
type DType string

// The element types this package reads and writes. Every one is a whole number of bytes;
// the sub-byte types of newer safetensors versions (F4, F6_*) are rejected as unknown.
const (
	BOOL   DType = "BOOL" // one byte, 0 or 1 (the value is not checked)
	U8     DType = "U8"
	I8     DType = "I8"
	F8E4M3 DType = "F8_E4M3" // 8-bit float, 4 exponent bits, 3 mantissa bits
	F8E5M2 DType = "F8_E5M2" // 8-bit float, 5 exponent bits, 2 mantissa bits
	I16    DType = "I16"
	U16    DType = "U16"
	F16    DType = "F16"  // IEEE 754 half precision
	BF16   DType = "BF16" // bfloat16: the top 16 bits of a float32
	I32    DType = "I32"
	U32    DType = "U32"
	F32    DType = "F32"
	I64    DType = "I64"
	U64    DType = "U64"
	F64    DType = "F64"
)

// DTypes lists every supported DType, in increasing size and then by name.
var DTypes = []DType{BOOL, F8E4M3, F8E5M2, I8, U8, BF16, F16, I16, U16, F32, I32, U32, F64, I64, U64}

// Size returns the number of bytes of one element, or 0 if d is not a supported DType.
func (d DType) Size() int {
	switch d {
	case BOOL, U8, I8, F8E4M3, F8E5M2:
		return 1
	case I16, U16, F16, BF16:
		return 2
	case I32, U32, F32:
		return 4
	case I64, U64, F64:
		return 8
	}
	return 0
}

// Tensor is one named array: Data holds the elements in row-major order, each stored
// little-endian in DType.Size() bytes. An empty Shape (nil or []int{}) is a scalar with
// one element; a Shape with a zero dimension has no elements.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// File is the content of a safetensors file: free-form string metadata and the tensors.
// A nil Metadata is written without a "__metadata__" entry; a non-nil one, even empty,
// is written with it.
type File struct {
	Metadata map[string]string
	Tensors  []Tensor
}

// Tensor returns the tensor called name, pointing into f.Tensors.
func (f *File) Tensor(name string) (*Tensor, bool) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

// NumElements returns the number of elements of a tensor of the given shape: the product
// of the dimensions, 1 for a scalar. It reports false if a dimension is negative or the
// product overflows an int. Like the reference implementation, it multiplies from the
// first dimension on with overflow checks, so [0, 1<<62, 1<<62] has 0 elements but
// [1<<62, 1<<62, 0] overflows.
func NumElements(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// byteLen returns the number of data bytes of a tensor of this dtype and shape, and
// false if the dtype is unknown, a dimension negative, or the length overflows an int.
func byteLen(d DType, shape []int) (int, bool) {
	size := d.Size()
	n, ok := NumElements(shape)
	if size == 0 || !ok || n > math.MaxInt/size {
		return 0, false
	}
	return n * size, true
}

// FromF32 returns an F32 tensor holding a little-endian copy of v. It does not check
// that len(v) matches shape: Encode and File.Validate do.
func FromF32(name string, shape []int, v []float32) Tensor {
	data := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: F32, Shape: cloneShape(shape), Data: data}
}

// FromI32 returns an I32 tensor holding a little-endian copy of v.
func FromI32(name string, shape []int, v []int32) Tensor {
	data := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(data[4*i:], uint32(x))
	}
	return Tensor{Name: name, DType: I32, Shape: cloneShape(shape), Data: data}
}

// FromI8 returns an I8 tensor holding a copy of v.
func FromI8(name string, shape []int, v []int8) Tensor {
	data := make([]byte, len(v))
	for i, x := range v {
		data[i] = byte(x)
	}
	return Tensor{Name: name, DType: I8, Shape: cloneShape(shape), Data: data}
}

// FromU8 returns a U8 tensor holding a copy of v.
func FromU8(name string, shape []int, v []uint8) Tensor {
	return Tensor{Name: name, DType: U8, Shape: cloneShape(shape), Data: append([]byte{}, v...)}
}

// FromF16Bits returns an F16 tensor holding a little-endian copy of v, the IEEE 754 half
// precision bit patterns (conversion from float32 is the caller's: this package has no
// dependencies).
func FromF16Bits(name string, shape []int, v []uint16) Tensor {
	data := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(data[2*i:], x)
	}
	return Tensor{Name: name, DType: F16, Shape: cloneShape(shape), Data: data}
}

// F16Bits returns a copy of the bit patterns of an F16 tensor's elements.
func (t *Tensor) F16Bits() ([]uint16, error) {
	if err := t.check(F16); err != nil {
		return nil, err
	}
	v := make([]uint16, len(t.Data)/2)
	for i := range v {
		v[i] = binary.LittleEndian.Uint16(t.Data[2*i:])
	}
	return v, nil
}

// F32 returns a copy of the elements of an F32 tensor.
func (t *Tensor) F32() ([]float32, error) {
	if err := t.check(F32); err != nil {
		return nil, err
	}
	v := make([]float32, len(t.Data)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return v, nil
}

// I32 returns a copy of the elements of an I32 tensor.
func (t *Tensor) I32() ([]int32, error) {
	if err := t.check(I32); err != nil {
		return nil, err
	}
	v := make([]int32, len(t.Data)/4)
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return v, nil
}

// I8 returns a copy of the elements of an I8 tensor.
func (t *Tensor) I8() ([]int8, error) {
	if err := t.check(I8); err != nil {
		return nil, err
	}
	v := make([]int8, len(t.Data))
	for i, b := range t.Data {
		v[i] = int8(b)
	}
	return v, nil
}

// U8 returns a copy of the elements of a U8 tensor.
func (t *Tensor) U8() ([]uint8, error) {
	if err := t.check(U8); err != nil {
		return nil, err
	}
	return append([]uint8{}, t.Data...), nil
}

// check reports an *InvalidError unless t has dtype want and len(t.Data) matches t.Shape.
func (t *Tensor) check(want DType) error {
	if t.DType != want {
		return &InvalidError{Tensor: t.Name, What: "dtype " + quoteDType(t.DType) + ", want " + string(want)}
	}
	return t.validate()
}

func cloneShape(shape []int) []int {
	return append(make([]int, 0, len(shape)), shape...)
}
