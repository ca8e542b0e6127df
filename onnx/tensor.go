package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/x448/float16"
	"google.golang.org/protobuf/proto"

	"tinyq/onnx/onnxpb"
)

// maxElements is the most elements a tensor may have: 2^28 (a gigabyte of float32), far
// beyond any model tinyq runs and small enough that a forged shape cannot exhaust memory
// before the data is checked against it.
const maxElements = 1 << 28

// tensor is a decoded ONNX tensor: its type, its shape and its values, widened to float32
// (FLOAT, FLOAT16) or int64 (every integer type).
type tensor struct {
	dtype onnxpb.TensorProto_DataType
	dims  []int64
	f     []float32 // FLOAT and FLOAT16 (widened exactly)
	i     []int64   // INT8, UINT8, INT32, INT64
}

// isFloat reports whether t holds floats.
func (t *tensor) isFloat() bool {
	return t.dtype == onnxpb.TensorProto_FLOAT || t.dtype == onnxpb.TensorProto_FLOAT16
}

// len returns the number of elements.
func (t *tensor) len() int {
	if t.isFloat() {
		return len(t.f)
	}
	return len(t.i)
}

// elements returns the number of elements of dims, or an error for a negative dimension or
// more than maxElements.
func elements(dims []int64) (int, error) {
	n := int64(1)
	for _, d := range dims {
		if d < 0 || (d > 0 && n > maxElements/d) {
			return 0, fmt.Errorf("shape %v: want dimensions >= 0 and at most %d elements", dims, maxElements)
		}
		n *= d
	}
	return int(n), nil
}

// decodeTensor decodes a TensorProto held in the file (raw_data or the typed fields).
// External data, segments and types other than FLOAT, FLOAT16, INT8, UINT8, INT32 and INT64
// are refused.
func decodeTensor(p *onnxpb.TensorProto) (*tensor, error) {
	if p.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(p.GetExternalData()) > 0 {
		return nil, fmt.Errorf("tensor %q: data stored outside the file (external data) is not supported; save the model with its weights inside", p.GetName())
	}
	if p.GetSegment() != nil {
		return nil, fmt.Errorf("tensor %q: segmented tensors are not supported", p.GetName())
	}
	n, err := elements(p.GetDims())
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", p.GetName(), err)
	}
	t := &tensor{dtype: onnxpb.TensorProto_DataType(p.GetDataType()), dims: p.GetDims()}
	raw := p.GetRawData()
	size := map[onnxpb.TensorProto_DataType]int{
		onnxpb.TensorProto_FLOAT: 4, onnxpb.TensorProto_FLOAT16: 2, onnxpb.TensorProto_INT8: 1,
		onnxpb.TensorProto_UINT8: 1, onnxpb.TensorProto_INT32: 4, onnxpb.TensorProto_INT64: 8,
	}[t.dtype]
	if size == 0 {
		return nil, fmt.Errorf("tensor %q: data type %v is not supported (FLOAT, FLOAT16, INT8, UINT8, INT32 or INT64)", p.GetName(), t.dtype)
	}
	count := func(got int) error {
		if got != n {
			return fmt.Errorf("tensor %q: %d values for shape %v (%d elements)", p.GetName(), got, t.dims, n)
		}
		return nil
	}
	if raw != nil {
		if err := count(len(raw) / size); err != nil || len(raw)%size != 0 {
			return nil, fmt.Errorf("tensor %q: %d bytes of raw data for shape %v of %v (%d bytes each)", p.GetName(), len(raw), t.dims, t.dtype, size)
		}
	}
	switch t.dtype {
	case onnxpb.TensorProto_FLOAT:
		t.f = make([]float32, n)
		if raw != nil {
			for k := range t.f {
				t.f[k] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:]))
			}
		} else {
			if err := count(len(p.GetFloatData())); err != nil {
				return nil, err
			}
			copy(t.f, p.GetFloatData())
		}
	case onnxpb.TensorProto_FLOAT16:
		t.f = make([]float32, n)
		if raw == nil {
			if err := count(len(p.GetInt32Data())); err != nil {
				return nil, err
			}
		}
		for k := range t.f {
			var b uint16
			if raw != nil {
				b = binary.LittleEndian.Uint16(raw[2*k:])
			} else {
				b = uint16(p.GetInt32Data()[k]) // the bits of each half in the low 16 bits
			}
			t.f[k] = float16.Frombits(b).Float32()
		}
	default:
		t.i = make([]int64, n)
		typed := p.GetInt32Data()
		if t.dtype == onnxpb.TensorProto_INT64 {
			typed = nil
		}
		if raw == nil {
			if t.dtype == onnxpb.TensorProto_INT64 {
				if err := count(len(p.GetInt64Data())); err != nil {
					return nil, err
				}
				copy(t.i, p.GetInt64Data())
				break
			}
			if err := count(len(typed)); err != nil {
				return nil, err
			}
		}
		for k := range t.i {
			switch {
			case raw == nil:
				t.i[k] = int64(typed[k])
			case t.dtype == onnxpb.TensorProto_INT8:
				t.i[k] = int64(int8(raw[k]))
			case t.dtype == onnxpb.TensorProto_UINT8:
				t.i[k] = int64(raw[k])
			case t.dtype == onnxpb.TensorProto_INT32:
				t.i[k] = int64(int32(binary.LittleEndian.Uint32(raw[4*k:])))
			default:
				t.i[k] = int64(binary.LittleEndian.Uint64(raw[8*k:]))
			}
		}
	}
	if t.isFloat() {
		for k, v := range t.f {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("tensor %q: element %d is %v", p.GetName(), k, v)
			}
		}
	}
	return t, nil
}

// The encoders below write raw little-endian data, as PyTorch's exporter does.

func dims64(dims []int) []int64 {
	d := make([]int64, len(dims))
	for k, v := range dims {
		d[k] = int64(v)
	}
	return d
}

func rawTensor(name string, dt onnxpb.TensorProto_DataType, dims []int, raw []byte) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(dt)), Dims: dims64(dims), RawData: raw}
}

// floatTensor is a FLOAT tensor.
func floatTensor(name string, dims []int, v []float32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(v))
	for k, x := range v {
		binary.LittleEndian.PutUint32(raw[4*k:], math.Float32bits(x))
	}
	return rawTensor(name, onnxpb.TensorProto_FLOAT, dims, raw)
}

// halfTensor is a FLOAT16 tensor of v rounded to half precision (exact for values that
// came from fp16).
func halfTensor(name string, dims []int, v []float32) *onnxpb.TensorProto {
	raw := make([]byte, 2*len(v))
	for k, x := range v {
		binary.LittleEndian.PutUint16(raw[2*k:], float16.Fromfloat32(x).Bits())
	}
	return rawTensor(name, onnxpb.TensorProto_FLOAT16, dims, raw)
}

// int8Tensor is an INT8 tensor.
func int8Tensor(name string, dims []int, v []int8) *onnxpb.TensorProto {
	raw := make([]byte, len(v))
	for k, x := range v {
		raw[k] = byte(x)
	}
	return rawTensor(name, onnxpb.TensorProto_INT8, dims, raw)
}

// uint8Tensor is a UINT8 tensor.
func uint8Tensor(name string, dims []int, v []uint8) *onnxpb.TensorProto {
	return rawTensor(name, onnxpb.TensorProto_UINT8, dims, append([]byte(nil), v...))
}

// int32Tensor is an INT32 tensor.
func int32Tensor(name string, dims []int, v []int32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(v))
	for k, x := range v {
		binary.LittleEndian.PutUint32(raw[4*k:], uint32(x))
	}
	return rawTensor(name, onnxpb.TensorProto_INT32, dims, raw)
}

// int64Tensor is an INT64 tensor.
func int64Tensor(name string, dims []int, v []int64) *onnxpb.TensorProto {
	raw := make([]byte, 8*len(v))
	for k, x := range v {
		binary.LittleEndian.PutUint64(raw[8*k:], uint64(x))
	}
	return rawTensor(name, onnxpb.TensorProto_INT64, dims, raw)
}
