// Command demo serves a page where a person draws a digit (or drops an image) and sees the
// answer of every saved model at once: class, the ten probabilities as bars, the model's
// weight bytes and its time per inference. The models run in the browser, in tinyq's own
// runtime compiled to WebAssembly (package tinyq/cmd/demo/wasm: infer and imageprep,
// GOOS=js GOARCH=wasm), so the page needs no server work per request and can be published as
// static files. The command links only the runtime, never the training stack.
//
//	go run ./cmd/demo                    # the default run's models; serves http://127.0.0.1:8080/
//	go run ./cmd/demo -models models/    # the models of a directory written by mnist -save
//	go run ./cmd/demo -export site/      # the same page as static files
//
// -models DIR shows every DIR/*.safetensors (read with infer.Load: any kind of model that
// takes 28x28 images), named by its file name without the extension. Without -models the
// demo uses the default run's files, which it makes once, in the user cache directory
// (os.UserCacheDir()/tinyq/demo-models), by running `go run tinyq/cmd/mnist -qat -quiet
// -save DIR` (17 s on an idle 2-core machine here): a subprocess, so that this command does not link the
// training stack; later starts reuse them (the directory is complete once mnist has written
// its manifest.json, which it writes last).
//
// The WebAssembly runtime is built at start with the go command (GOOS=js GOARCH=wasm go
// build tinyq/cmd/demo/wasm; the go build cache makes later starts quick), from the source
// tree this command was built from, so that it is always the runtime of the same commit; its
// JavaScript support file is $(go env GOROOT)/lib/wasm/wasm_exec.js of the same go command.
// So the demo needs the go command and the tinyq source: `go run` has both.
//
// The site: index.html, demo.css, demo.js, tinyq.js (window.tinyq), wasm_exec.js,
// tinyq.wasm, models.json (the manifest: each model's name, kind, weight bytes and file) and
// models/NAME.safetensors. The page fetches nothing from anywhere else (its
// Content-Security-Policy allows only its own origin). -export DIR writes these files
// into DIR (created if needed; each file written atomically); any static file server serves
// them, not file:// URLs (browsers do not let a page fetch files).
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"tinyq/imageprep"
	"tinyq/infer"
	"tinyq/internal/atomicfile"
)

//go:embed web
var web embed.FS

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = "usage: demo [-models DIR] [-addr HOST:PORT | -export DIR]"

// run is the whole command; it returns the exit status: 0, 1 for a failure, 2 for a bad flag.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	models := fs.String("models", "", "directory of model files (NAME.safetensors, as mnist -save writes); default: the default run's models, trained once into the user cache directory")
	addr := fs.String("addr", "127.0.0.1:8080", "address to serve the page on")
	export := fs.String("export", "", "write the page as static files into this directory instead of serving it")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, usage+"\n\nServes a page where a person draws a digit and every saved model answers, in the browser.\n\nFlags:")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "demo: %v (%s)\n", err, usage)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "demo: unexpected argument %q (%s)\n", fs.Arg(0), usage)
		return 2
	}
	addrSet := false
	fs.Visit(func(f *flag.Flag) { addrSet = addrSet || f.Name == "addr" })
	if *export != "" && addrSet {
		fmt.Fprintln(stderr, "demo: -export writes files and -addr serves them: give one of them")
		return 2
	}
	dir := *models
	if dir == "" {
		var err error
		if dir, err = defaultModels(stderr); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	s, err := newSite(dir, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *export != "" {
		if err := s.export(*export); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "demo: wrote the page with %d models to %s; serve it with any static file server, e.g. python3 -m http.server -d %s\n", len(s.models), *export, *export)
		return 0
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "demo: -addr %s: %v\n", *addr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shut) //nolint:errcheck // a best effort on Ctrl-C
	}()
	fmt.Fprintf(stdout, "demo: %d models from %s at http://%s/ (Ctrl-C stops)\n", len(s.models), dir, ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	return 0
}

// modelInfo is one model of models.json.
type modelInfo struct {
	Name        string `json:"name"`        // the file's name without .safetensors
	Kind        string `json:"kind"`        // infer.Model.Name, e.g. "int w8a8-static"
	WeightBytes int    `json:"weightBytes"` // infer.Model.WeightBytes
	File        string `json:"file"`        // its URL relative to the page
	Bytes       int    `json:"bytes"`       // the file's size
	SHA256      string `json:"sha256"`      // of the file
}

// site is the page's files by URL path (without the leading slash).
type site struct {
	files  map[string][]byte
	models []modelInfo
}

// newSite loads every model of dir, builds the WebAssembly runtime and assembles the page.
func newSite(dir string, progress io.Writer) (*site, error) {
	infos, files, err := loadModels(dir)
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(progress, "demo: building the WebAssembly runtime (GOOS=js GOARCH=wasm go build tinyq/cmd/demo/wasm)")
	wasm, support, err := buildWasm()
	if err != nil {
		return nil, err
	}
	files["tinyq.wasm"] = wasm
	files["wasm_exec.js"] = support
	err = fs.WalkDir(web, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := web.ReadFile(p)
		files[strings.TrimPrefix(p, "web/")] = b
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("demo: embedded page: %w", err)
	}
	manifest, err := json.MarshalIndent(struct {
		Models []modelInfo `json:"models"`
	}{infos}, "", " ")
	if err != nil {
		return nil, fmt.Errorf("demo: models.json: %w", err)
	}
	files["models.json"] = append(manifest, '\n')
	return &site{files: files, models: infos}, nil
}

// loadModels reads every dir/*.safetensors with infer.Load, refusing (one line naming the
// file) a file that does not load or a model that does not take 28x28 images. It returns
// the models smallest first (ties by name) and their files by URL path.
func loadModels(dir string) ([]modelInfo, map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("demo: -models: %w", err)
	}
	var infos []modelInfo
	files := map[string][]byte{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".safetensors")
		if !ok || e.IsDir() || name == "" {
			continue
		}
		p := filepath.Join(dir, e.Name())
		m, err := infer.Load(p)
		if err != nil {
			return nil, nil, fmt.Errorf("demo: %w", err)
		}
		if in := m.Input(); in.Width != imageprep.Size || in.Height != imageprep.Size {
			return nil, nil, fmt.Errorf("demo: %s: the model takes %dx%d inputs, not %dx%d images", p, in.Width, in.Height, imageprep.Size, imageprep.Size)
		}
		// Read again to serve the bytes that were checked: a file replaced in between
		// would be refused by the page's own loader, never run unchecked.
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("demo: %w", err)
		}
		sum := sha256.Sum256(b)
		urlPath := "models/" + url.PathEscape(e.Name())
		files["models/"+e.Name()] = b
		infos = append(infos, modelInfo{Name: name, Kind: m.Name(), WeightBytes: m.WeightBytes(), File: urlPath, Bytes: len(b), SHA256: hex.EncodeToString(sum[:])})
	}
	if len(infos) == 0 {
		return nil, nil, fmt.Errorf("demo: -models %s: no model files (NAME.safetensors) in it", dir)
	}
	slices.SortStableFunc(infos, func(a, b modelInfo) int {
		if a.WeightBytes != b.WeightBytes {
			return a.WeightBytes - b.WeightBytes
		}
		return strings.Compare(a.Name, b.Name)
	})
	return infos, files, nil
}

// sourceDir is the directory of this command's source, where the go command finds the
// module for the wasm build; "" when it is not on this machine (a binary built elsewhere or
// with -trimpath), and then the go command looks from the working directory.
func sourceDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return ""
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(file), "wasm", "main_js.go")); err != nil {
		return ""
	}
	return filepath.Dir(file)
}

// wasmPackage is the runtime's package, built for the browser.
const wasmPackage = "tinyq/cmd/demo/wasm"

// buildWasm builds the runtime for js/wasm and reads the go command's wasm_exec.js.
func buildWasm() (wasm, support []byte, err error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil, nil, fmt.Errorf("demo: the go command is not on PATH: it builds the page's WebAssembly runtime")
	}
	tmp, err := os.MkdirTemp("", "tinyq-demo-wasm")
	if err != nil {
		return nil, nil, fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "tinyq.wasm")
	build := exec.Command(goCmd, "build", "-trimpath", "-o", out, wasmPackage)
	build.Dir = sourceDir()
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := build.CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("demo: building the WebAssembly runtime (GOOS=js GOARCH=wasm go build %s; run the demo inside the tinyq module): %v\n%s", wasmPackage, err, bytes.TrimSpace(msg))
	}
	if wasm, err = os.ReadFile(out); err != nil {
		return nil, nil, fmt.Errorf("demo: %w", err)
	}
	env := exec.Command(goCmd, "env", "GOROOT")
	root, err := env.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("demo: go env GOROOT: %w", err)
	}
	goroot := strings.TrimSpace(string(root))
	// Go 1.24 moved the file from misc/wasm to lib/wasm.
	for _, p := range []string{filepath.Join(goroot, "lib", "wasm", "wasm_exec.js"), filepath.Join(goroot, "misc", "wasm", "wasm_exec.js")} {
		if support, err = os.ReadFile(p); err == nil {
			return wasm, support, nil
		}
	}
	return nil, nil, fmt.Errorf("demo: wasm_exec.js is in neither lib/wasm nor misc/wasm of GOROOT %s", goroot)
}

// contentTypes are the site's types by extension, set explicitly: the system's MIME table
// may not know .wasm, and the browser compiles wasm while it downloads only for
// application/wasm.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".json":        "application/json",
	".wasm":        "application/wasm",
	".safetensors": "application/octet-stream",
}

// ServeHTTP serves the site's files (GET and HEAD; "/" is index.html).
func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if p == "" {
		p = "index.html"
	}
	b, ok := s.files[p]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", contentTypes[path.Ext(p)])
	w.Header().Set("Cache-Control", "no-cache") // a restart may serve other models
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, p, time.Time{}, bytes.NewReader(b))
}

// export writes the site into dir, each file atomically.
func (s *site) export(dir string) error {
	paths := make([]string, 0, len(s.files))
	for p := range s.files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("demo: -export: %w", err)
		}
		b := s.files[p]
		if err := atomicfile.Write(dst, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
			return fmt.Errorf("demo: -export: %w", err)
		}
	}
	return nil
}

// defaultModels returns the default run's model directory in the user cache directory,
// training the models first if no complete run is there (progress on progress).
func defaultModels(progress io.Writer) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("demo: no -models given and no user cache directory for the default models: %w", err)
	}
	dir := filepath.Join(cache, "tinyq", "demo-models")
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		return dir, nil
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("demo: no -models given, and the go command that would train the default models is not on PATH")
	}
	fmt.Fprintf(progress, "demo: no -models given: training the default models once into %s\ndemo: (go run tinyq/cmd/mnist -qat -quiet -save %s; about 20 s on an idle 2-core machine; later starts reuse them)\n", dir, dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	train := exec.Command(goCmd, "run", "tinyq/cmd/mnist", "-qat", "-quiet", "-save", dir)
	train.Dir = sourceDir()
	train.Stdout, train.Stderr = progress, progress
	if err := train.Run(); err != nil {
		return "", fmt.Errorf("demo: training the default models (go run tinyq/cmd/mnist -qat -quiet -save %s) failed: %v; give -models DIR instead", dir, err)
	}
	return dir, nil
}
