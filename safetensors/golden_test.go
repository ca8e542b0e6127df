package safetensors_test

import (
	"bytes"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"tinyq/safetensors"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.safetensors")

const goldenPath = "testdata/golden.safetensors"

// goldenFile is the content of testdata/golden.safetensors.
func goldenFile() *safetensors.File {
	return &safetensors.File{
		Metadata: map[string]string{"format_version": "1", "producer": "tinyq"},
		Tensors: []safetensors.Tensor{
			safetensors.FromF32("weight", []int{2, 3}, []float32{1, -2, 0.5, 3.25, 0, -1}), // [out, in]
			safetensors.FromI32("bias", []int{2}, []int32{-1, 7}),                          // [out]
		},
	}
}

// TestGolden compares Encode's output with the golden file byte for byte; run
// `go test ./safetensors -update` to rewrite it after a deliberate format change.
func TestGolden(t *testing.T) {
	got, err := encode(goldenFile())
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := safetensors.WriteFile(goldenPath, goldenFile()); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Encode differs from %s (rewrite it with -update if the change is deliberate):\ngot  %q\nwant %q", goldenPath, got, want)
	}
	f, err := safetensors.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	want2 := goldenFile()
	want2.Tensors[0], want2.Tensors[1] = want2.Tensors[1], want2.Tensors[0] // sorted by name
	if d := diff(f, want2); d != "" {
		t.Error(d)
	}
}

// TestGoldenByHand checks the golden file's layout against values worked out by hand,
// so that a wrong -update cannot slip through.
func TestGoldenByHand(t *testing.T) {
	data, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	// The JSON is 2 braces + 56 bytes for the metadata entry + 1 comma + 55 bytes for
	// bias + 1 comma + 60 bytes for weight = 175 bytes; 1 space of padding makes the
	// header 176 = 0xb0 bytes, so the buffer starts at 8+176 = 184 = 8×23.
	json := `{"__metadata__":{"format_version":"1","producer":"tinyq"},` +
		`"bias":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},` +
		`"weight":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]}}`
	if len(json) != 175 {
		t.Fatalf("the hand count is wrong: len(json) = %d", len(json))
	}
	if got, want := data[:8], []byte{0xb0, 0, 0, 0, 0, 0, 0, 0}; !bytes.Equal(got, want) {
		t.Errorf("first 8 bytes = % x, want % x", got, want)
	}
	n := binary.LittleEndian.Uint64(data)
	if start := 8 + n; start%8 != 0 || start != 184 {
		t.Errorf("buffer starts at byte %d, want 184 (8-byte aligned)", start)
	}
	if got, want := string(data[8:184]), json+" "; got != want {
		t.Errorf("header = %q, want %q", got, want)
	}
	buf := []byte{
		0xff, 0xff, 0xff, 0xff, 7, 0, 0, 0, // bias: -1, 7 as little-endian int32
		0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0, 0x3f, // weight: 1 = 0x3f800000, -2 = 0xc0000000, 0.5 = 0x3f000000
		0, 0, 0x50, 0x40, 0, 0, 0, 0, 0, 0, 0x80, 0xbf, // 3.25 = 0x40500000, 0, -1 = 0xbf800000
	}
	if got := data[184:]; !bytes.Equal(got, buf) {
		t.Errorf("buffer = % x\n  want % x", got, buf)
	}
}

// TestUpdateLeavesNoTempFiles guards the -update path: testdata holds only the golden file.
func TestUpdateLeavesNoTempFiles(t *testing.T) {
	names, err := filepath.Glob("testdata/.*")
	if err != nil || len(names) != 0 {
		t.Errorf("stray files in testdata: %v, %v", names, err)
	}
}
