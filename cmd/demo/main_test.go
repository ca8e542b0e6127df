package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDependencies: the command and its WebAssembly runtime link none of the training
// stack (nor ptq): go list -deps of each, the runtime for js/wasm.
func TestDependencies(t *testing.T) {
	banned := func(p string) bool {
		for _, b := range []string{"tinyq/nn", "tinyq/train", "tinyq/autograd", "tinyq/qat", "tinyq/ptq", "tinyq/study", "tinyq/onnx", "google.golang.org/protobuf", "gorgonia.org/", "gonum.org/"} {
			if p == b || strings.HasPrefix(p, b+"/") || strings.HasSuffix(b, "/") && strings.HasPrefix(p, b) {
				return true
			}
		}
		return false
	}
	for _, c := range []struct{ pkg, goos, goarch string }{{".", "", ""}, {"./wasm", "js", "wasm"}} {
		cmd := exec.Command("go", "list", "-deps", c.pkg)
		cmd.Env = os.Environ()
		if c.goos != "" {
			cmd.Env = append(cmd.Env, "GOOS="+c.goos, "GOARCH="+c.goarch)
		}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", c.pkg, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list -deps %s: only %v", c.pkg, deps)
		}
		for _, d := range deps {
			if banned(d) {
				t.Errorf("%s (GOOS=%s) links %s, of the training stack", c.pkg, c.goos, d)
			}
		}
	}
}

// TestBadInput: a bad flag or model directory is one line on stderr and a nonzero exit,
// before anything is built or served.
func TestBadInput(t *testing.T) {
	empty := t.TempDir()
	notModel := t.TempDir()
	if err := os.WriteFile(filepath.Join(notModel, "photo.safetensors"), []byte("\x89PNG\r\n\x1a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"-nope"}, 2, "flag provided but not defined: -nope"},
		{[]string{"-models", empty, "extra"}, 2, `demo: unexpected argument "extra"`},
		{[]string{"-models", empty, "-export", empty, "-addr", ":0"}, 2, "demo: -export writes files and -addr serves them: give one of them"},
		{[]string{"-models", filepath.Join(empty, "missing")}, 1, "demo: -models: open " + filepath.Join(empty, "missing")},
		{[]string{"-models", empty}, 1, "demo: -models " + empty + ": no model files (NAME.safetensors) in it"},
		{[]string{"-models", notModel}, 1, "demo: infer: " + filepath.Join(notModel, "photo.safetensors")},
	} {
		var out, errOut bytes.Buffer
		st := run(c.args, &out, &errOut)
		lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
		if st != c.status || !strings.Contains(lines[0], c.want) || out.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want exit %d and a line with %q", c.args, st, errOut.String(), out.String(), c.status, c.want)
		}
		if len(lines) != 1 {
			t.Errorf("%q: %d lines on stderr, want 1: %q", c.args, len(lines), errOut.String())
		}
	}
}

// TestExportAndServe: -export writes the site (the page, the runtime, wasm_exec.js, the
// manifest and every model), the runtime is under 3 MB gzipped, and the server serves the
// same bytes with the right types.
func TestExportAndServe(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model and builds the runtime")
	}
	dir, _ := testModels(t)
	out := filepath.Join(t.TempDir(), "site")
	var stdout, stderr bytes.Buffer
	if st := run([]string{"-models", dir, "-export", out}, &stdout, &stderr); st != 0 {
		t.Fatalf("exit %d: %s", st, stderr.String())
	}
	var manifest struct{ Models []modelInfo }
	b, err := os.ReadFile(filepath.Join(out, "models.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &manifest); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if len(manifest.Models) != len(files) {
		t.Fatalf("models.json lists %d models, want %d", len(manifest.Models), len(files))
	}
	for _, m := range manifest.Models {
		got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(m.File)))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(dir, m.Name+".safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) || m.Bytes != len(want) {
			t.Errorf("%s: exported %d bytes (manifest %d), want the model file's %d", m.File, len(got), m.Bytes, len(want))
		}
	}
	s, err := newSite(dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	for _, c := range []struct{ path, file, ctype string }{
		{"/", "index.html", "text/html; charset=utf-8"},
		{"/demo.js", "demo.js", "text/javascript; charset=utf-8"},
		{"/tinyq.wasm", "tinyq.wasm", "application/wasm"},
		{"/wasm_exec.js", "wasm_exec.js", "text/javascript; charset=utf-8"},
		{"/models.json", "models.json", "application/json"},
		{"/" + manifest.Models[0].File, manifest.Models[0].File, "application/octet-stream"},
	} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(c.file)))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != c.ctype || !bytes.Equal(body, want) {
			t.Errorf("GET %s: %d %q, %d bytes; want 200 %q and the exported %s (%d bytes)", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), c.ctype, c.file, len(want))
		}
	}
	wasm, err := os.ReadFile(filepath.Join(out, "tinyq.wasm"))
	if err != nil || !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		t.Errorf("tinyq.wasm does not begin with the WebAssembly magic (%v)", err)
	}
	// Issue 21 keeps the runtime under 3 MB gzipped (measured: about 1.4 MB).
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(wasm)
	zw.Close()
	t.Logf("tinyq.wasm: %d bytes, %d gzipped", len(wasm), gz.Len())
	if gz.Len() >= 3_000_000 {
		t.Errorf("tinyq.wasm is %d bytes gzipped, want under 3 MB", gz.Len())
	}
	for path, status := range map[string]int{"/nope": 404, "/../main.go": 404, "/web/index.html": 404} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, status)
		}
	}
	resp, err := http.Post(srv.URL+"/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", resp.StatusCode)
	}
}
