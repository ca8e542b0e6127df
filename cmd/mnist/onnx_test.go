package main

import (
	"os"
	"strings"
	"testing"

	"tinyq/internal/proctest"
)

// TestLoadONNX: -load takes a float ONNX model (a PyTorch export) and fine-tunes it with
// QAT; an ONNX file that is not a model is one line naming it, exit status 1.
func TestLoadONNX(t *testing.T) {
	bin := proctest.Build(t, ".", "mnist")
	code, stdout, stderr := proctest.Run(t, bin, append(quick, "-load", "../../onnx/testdata/mlp.onnx", "-qat", "-bits", "8")...)
	if code != 0 || !strings.Contains(stdout, "qat-w8a8-int") || !strings.Contains(stdout, "fp32 ") {
		t.Fatalf("-load mlp.onnx -qat: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	bad := t.TempDir() + "/bad.onnx"
	if err := os.WriteFile(bad, []byte("not protobuf at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = proctest.Run(t, bin, "-quiet", "-load", bad)
	if code != 1 || !strings.Contains(stderr, "bad.onnx") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("-load bad.onnx: exit %d, stderr %q", code, stderr)
	}
}
