package safetensors_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tinyq/safetensors"
)

func TestReadFileErrorNamesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.safetensors")
	if err := os.WriteFile(path, withLength(99999, 120), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := safetensors.ReadFile(path)
	want := "safetensors: " + path + ": header length 99999 past end of file (size 120)"
	var fe *safetensors.FormatError
	if !errors.As(err, &fe) || fe.File != path || err.Error() != want {
		t.Errorf("ReadFile error = %v\n                 want %s", err, want)
	}

	_, err = safetensors.ReadFile(filepath.Join(dir, "missing.safetensors"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "safetensors: ") || !strings.Contains(err.Error(), "missing.safetensors") {
		t.Errorf("ReadFile of a missing file: error = %v, want one wrapping fs.ErrNotExist and naming the file", err)
	}
}

func TestWriteFileReadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	f := goldenFile()
	if err := safetensors.WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := encode(f); !bytes.Equal(data, want) {
		t.Errorf("WriteFile wrote %q, want Encode's %q", data, want)
	}
	g, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := safetensors.Decode(data)
	if d := diff(g, h); d != "" {
		t.Error(d)
	}
}

// TestWriteFileKeepsOldFile checks that a failed WriteFile leaves the previous file
// byte-identical and no temp file behind. (Tests run as root, so a read-only directory
// cannot make the write itself fail; an invalid File must fail before any byte is
// written, and a valid write must replace the file whole.)
func TestWriteFileKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	if err := safetensors.WriteFile(path, goldenFile()); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []*safetensors.File{
		{Tensors: []safetensors.Tensor{{Name: "x", DType: "F33", Data: []byte{1}}}},
		{Tensors: []safetensors.Tensor{safetensors.FromF32("x", []int{2}, []float32{1})}},
		{Tensors: []safetensors.Tensor{safetensors.FromU8("x", nil, []uint8{1}), safetensors.FromU8("x", nil, []uint8{1})}},
	} {
		err := safetensors.WriteFile(path, bad)
		var ie *safetensors.InvalidError
		if !errors.As(err, &ie) || ie.File != path || !strings.HasPrefix(err.Error(), "safetensors: "+path+": invalid tensor \"x\"") {
			t.Errorf("WriteFile of an invalid File: error = %v, want an *InvalidError naming %s", err, path)
		}
		if now, err := os.ReadFile(path); err != nil || !bytes.Equal(now, old) {
			t.Errorf("the previous file changed: %q, %v", now, err)
		}
		assertOnly(t, dir, "m.safetensors")
	}

	// A write into a missing directory fails and creates nothing.
	err = safetensors.WriteFile(filepath.Join(dir, "no", "such", "dir.safetensors"), goldenFile())
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "safetensors: ") {
		t.Errorf("WriteFile into a missing directory: error = %v, want fs.ErrNotExist", err)
	}
	assertOnly(t, dir, "m.safetensors")

	// A successful write replaces the file and leaves no temp file.
	small := &safetensors.File{Tensors: []safetensors.Tensor{safetensors.FromU8("u", []int{1}, []uint8{5})}}
	if err := safetensors.WriteFile(path, small); err != nil {
		t.Fatal(err)
	}
	if g, err := safetensors.ReadFile(path); err != nil || diff(g, small) != "" {
		t.Errorf("after a rewrite ReadFile = %v, %v", g, err)
	}
	assertOnly(t, dir, "m.safetensors")
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, names) {
		t.Errorf("directory holds %v, want only %v", got, names)
	}
}

// TestPythonSnippet runs the NumPy snippet of the package documentation (which the
// README copies) on a file with every NumPy-readable dtype and checks what it read.
// It is skipped where no python3 with NumPy is found.
func TestPythonSnippet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs python3")
	}
	python := ""
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import numpy").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		t.Skip("no python3 with NumPy")
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, line := range strings.Split(string(doc), "\n") {
		if code, ok := strings.CutPrefix(line, "//\t"); ok && (len(lines) > 0 || strings.HasPrefix(code, "import json")) {
			lines = append(lines, code)
		} else if len(lines) > 0 {
			break
		}
	}
	if len(lines) != 5 {
		t.Fatalf("found %d lines of Python in doc.go, want 5: %q", len(lines), lines)
	}

	path := filepath.Join(t.TempDir(), "model.safetensors")
	f := &safetensors.File{Metadata: map[string]string{"format_version": "1"}, Tensors: []safetensors.Tensor{
		safetensors.FromF32("w", []int{2, 3}, []float32{1, -2, 0.5, 3.25, 0, -1}),
		safetensors.FromI32("b", []int{2}, []int32{-1, 7}),
		safetensors.FromI8("q", []int{3}, []int8{-127, 0, 127}),
		safetensors.FromU8("u", nil, []uint8{255}),
		safetensors.FromF32("e", []int{0, 4}, nil),
		{Name: "h", DType: safetensors.F16, Shape: []int{1}, Data: []byte{0x00, 0x3c}},                                     // 1.0 = 0x3c00
		{Name: "d", DType: safetensors.F64, Shape: []int{1}, Data: []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}},                   // 1.0 = 0x3ff0000000000000
		{Name: "l", DType: safetensors.I64, Shape: []int{1}, Data: []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, // -2
		{Name: "m", DType: safetensors.BOOL, Shape: []int{2}, Data: []byte{1, 0}},
	}}
	if err := safetensors.WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	script := strings.Replace(strings.Join(lines, "\n"), `"model.safetensors"`, `__import__("sys").argv[1]`, 1) +
		"\nfor k in sorted(t): print(k, t[k].dtype, list(t[k].shape), t[k].ravel().tolist())\nprint(meta)\n"
	out, err := exec.Command(python, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	want := `b int32 [2] [-1, 7]
d float64 [1] [1.0]
e float32 [0, 4] []
h float16 [1] [1.0]
l int64 [1] [-2]
m bool [2] [True, False]
q int8 [3] [-127, 0, 127]
u uint8 [] [255]
w float32 [2, 3] [1.0, -2.0, 0.5, 3.25, 0.0, -1.0]
{'format_version': '1'}
`
	if string(out) != want {
		t.Errorf("python printed\n%s\nwant\n%s", out, want)
	}
}
