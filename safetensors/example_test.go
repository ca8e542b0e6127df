package safetensors_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"tinyq/safetensors"
)

// Example writes a file with one tensor and some metadata, shows its header, and reads
// it back.
func Example() {
	f := &safetensors.File{
		Metadata: map[string]string{"format_version": "1"},
		Tensors: []safetensors.Tensor{
			safetensors.FromF32("w", []int{2, 2}, []float32{1, -2, 0.5, 3}), // [out, in]
		},
	}
	var buf bytes.Buffer
	if err := safetensors.Encode(&buf, f); err != nil {
		fmt.Println(err)
		return
	}
	data := buf.Bytes()
	n := binary.LittleEndian.Uint64(data[:8])
	header := string(data[8 : 8+n])
	fmt.Printf("header: %d bytes, data starts at byte %d\n", n, 8+n)
	fmt.Println(strings.TrimRight(header, " "))

	g, err := safetensors.Decode(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	w, _ := g.Tensor("w")
	v, err := w.F32()
	fmt.Println(w.Shape, v, err, g.Metadata["format_version"])
	// Output:
	// header: 96 bytes, data starts at byte 104
	// {"__metadata__":{"format_version":"1"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}
	// [2 2] [1 -2 0.5 3] <nil> 1
}

// ExampleDecode shows the error for a file whose header length points past its end.
func ExampleDecode() {
	data := make([]byte, 120)
	binary.LittleEndian.PutUint64(data, 99999)
	_, err := safetensors.Decode(data)
	fmt.Println(err)
	// Output:
	// safetensors: header length 99999 past end of file (size 120)
}
