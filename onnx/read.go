package onnx

import (
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"tinyq/internal/atomicfile"
	"tinyq/internal/regfile"
	"tinyq/onnx/onnxpb"
)

// MaxFileSize is the largest ONNX file Read reads: 2 GiB, protobuf's own limit for one
// message (and safetensors.MaxFileSize, the limit of tinyq's own files).
const MaxFileSize = 2 << 30

// Read reads and parses an ONNX file (a serialized ModelProto). A FIFO, device or directory
// is refused, as is a file over MaxFileSize.
func Read(path string) (*onnxpb.ModelProto, error) {
	f, fi, err := regfile.Open(path, "an ONNX model")
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	defer f.Close()
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("onnx: %s: %d bytes, more than the limit of %d (MaxFileSize)", path, fi.Size(), int64(MaxFileSize))
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	m, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return m, nil
}

// Decode parses a serialized ModelProto and checks that it has a graph.
func Decode(data []byte) (*onnxpb.ModelProto, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%d bytes, more than the limit of %d", len(data), int64(MaxFileSize))
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("not an ONNX model (protobuf: %v)", err)
	}
	if m.GetGraph() == nil {
		return nil, fmt.Errorf("not an ONNX model: no graph (ir_version %d)", m.GetIrVersion())
	}
	return m, nil
}

// Write serializes m to path atomically (a temp file renamed over path: a failure leaves any
// previous file as it was).
func Write(path string, m *onnxpb.ModelProto) error {
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return fmt.Errorf("onnx: %s: %w", path, err)
	}
	if err := atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		return fmt.Errorf("onnx: %w", err)
	}
	return nil
}
