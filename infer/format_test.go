package infer_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"tinyq/gemm"
	"tinyq/infer"
	"tinyq/internal/pyreader"
)

// committedFiles are the model files of testdata (the 3-2-2 model of docs/FORMAT.md section
// 9, written by crosstest's TestInferTestdata) with what their logits are compared by in
// TestFormatReader: "int" bit for bit, "dynamic" bit for bit unless this build fuses
// multiply-adds, "float" bit for bit unless the float runtime fuses them (FORMAT.md
// section 8).
var committedFiles = []struct{ path, kind string }{
	{"float.safetensors", "float"},
	{"fp16.safetensors", "float"},
	{"qat-w4a8.safetensors", "float"},
	{"int-w4a8.safetensors", "int"},
	{"int-mixed.safetensors", "int"},
	{"int-w8-dynamic.safetensors", "dynamic"},
	{filepath.Join("v1", "float.safetensors"), "float"},
	{filepath.Join("v1", "int-w4a8.safetensors"), "int"},
}

// TestFormatReader checks that scripts/tinyq_reader.py, an independent reader written from
// docs/FORMAT.md alone, computes what the runtime computes on every committed file (float
// fp32 and fp16, QAT, integer static, mixed and dynamic, and the version-1 files), from raw
// pixel rows (the file's input record, pixel/255) and from float32 rows given directly.
// crosstest's TestFormatReader does the same on real MNIST images.
func TestFormatReader(t *testing.T) {
	pyreader.Python(t)
	tmp := t.TempDir()
	px := []byte{0, 128, 255, 255, 64, 0, 17, 200, 99, 255, 255, 255, 0, 0, 0, 3, 1, 250}
	pxFile := filepath.Join(tmp, "px.u8")
	if err := os.WriteFile(pxFile, px, 0o644); err != nil {
		t.Fatal(err)
	}
	xs := []float32{0, 0.5, 1, 1, 0.25, 0, 0.3, 0.7, 0.1, 2, -1, 0.5, -0.2, 0.05, 0.9, 0.125, 0.375, 0.625}
	var raw bytes.Buffer
	if err := binary.Write(&raw, binary.LittleEndian, xs); err != nil {
		t.Fatal(err)
	}
	xsFile := filepath.Join(tmp, "xs.f32")
	if err := os.WriteFile(xsFile, raw.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	fused := pyreader.FusesFMA()
	floatFused := fused || gemm.ActivePath() != "generic"
	for _, c := range committedFiles {
		path := filepath.Join("testdata", c.path)
		m, err := infer.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		exact := c.kind == "int" || (c.kind == "dynamic" && !fused) || (c.kind == "float" && !floatFused)
		pxX, err := infer.Pixels(m, px)
		if err != nil {
			t.Fatal(err)
		}
		pyreader.Compare(t, c.path+" (pixels)", m, pxX, len(px)/3, pyreader.Run(t, path, pxFile), exact)
		pyreader.Compare(t, c.path+" (float32 rows)", m, xs, len(xs)/3, pyreader.Run(t, path, xsFile, "--input", "f32"), exact)
	}
}
