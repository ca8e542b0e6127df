package main

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/internal/proctest"
	"tinyq/mnist"
	"tinyq/nn"
	"tinyq/ptq"
	"tinyq/train"
)

// groundFloor are the runtime's packages: neither their code nor their tests link the
// training stack.
var groundFloor = []string{"tinyq/infer", "tinyq/imageprep", "tinyq/quant", "tinyq/qkernel", "tinyq/safetensors", "tinyq/modelfile", "tinyq/gemm",
	"tinyq/arch", "tinyq/internal/patch", "tinyq/internal/kernel", "tinyq/internal/par", "tinyq/mnist"}

// offlinePackages are the offline floor: they may link the runtime, never the training
// stack, in their code or their tests.
var offlinePackages = []string{"tinyq/ptq", "tinyq/onnx", "tinyq/report"}

// trainingStack reports whether p belongs to the training stack: gorgonia, gonum's LAPACK,
// the progress bar, and tinyq's train, qat, autograd and nn.
func trainingStack(p string) bool {
	switch {
	case strings.HasPrefix(p, "gorgonia.org/"), strings.HasPrefix(p, "gonum.org/v1/gonum/lapack"),
		strings.Contains(p, "progressbar"):
		return true
	}
	switch p {
	case "tinyq/train", "tinyq/qat", "tinyq/autograd", "tinyq/nn":
		return true
	}
	return false
}

// linked runs go list with args (ending in one package, pkg) and returns one line per
// import of pkg (or of its tests) that brings in packages banned reports: the import, the
// file's package that makes it, and the banned packages it links.
func linked(t *testing.T, banned func(string) bool, args ...string) []string {
	t.Helper()
	pkg := args[len(args)-1]
	args = append(append([]string{"list"}, args[:len(args)-1]...), "-f", "{{.ImportPath}}\t{{join .Imports \",\"}}", pkg)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	imports := map[string][]string{}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, deps, _ := strings.Cut(line, "\t")
		order = append(order, path)
		if deps != "" {
			imports[path] = strings.Split(deps, ",")
		}
	}
	// go list prints dependencies first: the root (the package, or its test binary) is
	// last. A breadth-first walk from it finds a shortest chain of imports to each package.
	root := order[len(order)-1]
	via := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, d := range imports[p] {
			if _, seen := via[d]; !seen {
				via[d] = p
				queue = append(queue, d)
			}
		}
	}
	// own reports the package itself and its test variants ("tinyq/infer_test
	// [tinyq/infer.test]", the test binary "tinyq/infer.test").
	name := strings.Fields(root)[0]
	name = strings.TrimSuffix(name, ".test")
	own := func(p string) bool {
		p = strings.Fields(p)[0]
		return p == name || p == name+"_test" || p == name+".test"
	}
	type edge struct{ from, to string }
	found := map[edge][]string{}
	var edges []edge
	for _, p := range order {
		if !banned(strings.Fields(p)[0]) {
			continue
		}
		// The import that brings p in: the first step of its chain out of the package.
		e := edge{to: p}
		for q := p; q != "" && !own(q); q = via[q] {
			e = edge{via[q], q}
		}
		if _, ok := found[e]; !ok {
			edges = append(edges, e)
		}
		found[e] = append(found[e], strings.Fields(p)[0])
	}
	var lines []string
	for _, e := range edges {
		ps := found[e]
		list := strings.Join(ps, ", ")
		if len(ps) > 4 {
			list = strings.Join(ps[len(ps)-4:], ", ") + fmt.Sprintf(" and %d more", len(ps)-4)
		}
		lines = append(lines, fmt.Sprintf("%s imports %s, which links what this floor must not: %s", strings.Fields(e.from)[0], e.to, list))
	}
	return lines
}

// offlineFloor reports whether p belongs to the offline floor's ONNX support (issue 22):
// protobuf and tinyq/onnx. The runtime never needs them.
func offlineFloor(p string) bool {
	return strings.HasPrefix(p, "google.golang.org/protobuf/") || p == "tinyq/onnx" || strings.HasPrefix(p, "tinyq/onnx/")
}

// TestDependencies enforces the layering: the classify command and the runtime's ground
// floor link none of the training stack (nor ptq, nor protobuf and tinyq/onnx), and the
// ground floor's tests (go list -test -deps) link none of the training stack either: tests
// that cross floors live in crosstest. Each offending import is one line, with what it links.
func TestDependencies(t *testing.T) {
	for _, pkg := range append([]string{"."}, groundFloor...) {
		for _, l := range linked(t, func(p string) bool { return trainingStack(p) || p == "tinyq/ptq" || offlineFloor(p) }, "-deps", pkg) {
			t.Errorf("go list -deps %s: %s", pkg, l)
		}
	}
	for _, pkg := range groundFloor {
		for _, l := range linked(t, func(p string) bool { return trainingStack(p) || offlineFloor(p) }, "-test", "-deps", pkg) {
			t.Errorf("go list -test -deps %s: %s (tests that cross floors belong in crosstest)", pkg, l)
		}
	}
	for _, pkg := range offlinePackages {
		for _, l := range linked(t, trainingStack, "-test", "-deps", pkg) {
			t.Errorf("go list -test -deps %s: %s (tests that cross floors belong in crosstest)", pkg, l)
		}
	}
	// arch, the one model description, is the standard library's alone.
	notStd := func(p string) bool {
		return p != "tinyq/arch" && (strings.HasPrefix(p, "tinyq/") || strings.Contains(strings.SplitN(p, "/", 2)[0], "."))
	}
	for _, l := range linked(t, notStd, "-deps", "tinyq/arch") {
		t.Errorf("go list -deps tinyq/arch: %s (arch imports only the standard library)", l)
	}
}

// TestBinarySize: a plain build of the command is at most 6 MB.
func TestBinarySize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := proctest.Build(t, ".", "classify")
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("classify binary: %d bytes", st.Size())
	if st.Size() > 6<<20 {
		t.Errorf("classify binary is %d bytes, want at most %d (6 MiB)", st.Size(), 6<<20)
	}
}

// models trains a small float model for one epoch on 20,000 real MNIST training images and
// saves it as fp32, int8 static and int4 static files; it returns their paths and the test set.
func models(t *testing.T) (map[string]string, *mnist.Set) {
	t.Helper()
	dir, err := mnist.Locate("")
	if err != nil {
		t.Fatal(err)
	}
	trainSet, testSet, err := mnist.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	trainSet = trainSet.Slice(0, 20000)
	m, err := nn.NewMLP([]int{784, 128, 10}, rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	data := train.Data{Images: trainSet.Images, Labels: trainSet.Labels}
	if _, err := train.Fit(m, data, train.Data{}, train.Config{Epochs: 1, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	paths := map[string]string{}
	fm, err := m.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	paths["fp32"] = filepath.Join(out, "fp32.safetensors")
	if err := infer.SaveFloat(paths["fp32"], fm, ""); err != nil {
		t.Fatal(err)
	}
	calib := trainSet.Images[:1024*784]
	for _, c := range []ptq.Config{ptq.Spec(ptq.Static, 8, 8), ptq.Spec(ptq.Static, 4, 4)} {
		ch, err := ptq.Choose(fm, c, calib, trainSet.Images[15000*784:])
		if err != nil {
			t.Fatal(err)
		}
		paths[c.Name()] = filepath.Join(out, c.Name()+".safetensors")
		if err := infer.SaveInt(paths[c.Name()], ch.Model, ""); err != nil {
			t.Fatal(err)
		}
	}
	return paths, testSet
}

// writePNG writes a w x h grayscale image.
func writePNG(t *testing.T, path string, pix []uint8, w, h int) {
	t.Helper()
	img := &image.Gray{Pix: pix, Stride: w, Rect: image.Rect(0, 0, w, h)}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// classes parses the command's output into one class per line, checking the paths' order.
func classes(t *testing.T, out string, paths []string) []int {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(paths) {
		t.Fatalf("%d lines for %d images", len(lines), len(paths))
	}
	var c []int
	for i, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) != 3 || f[0] != paths[i] {
			t.Fatalf("line %d %q, want PATH<TAB>CLASS<TAB>CONFIDENCE for %s", i, l, paths[i])
		}
		k, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("line %q: class %v", l, err)
		}
		if p, err := strconv.ParseFloat(f[2], 64); err != nil || p < 0 || p > 1 || len(f[2]) != 6 {
			t.Fatalf("line %q: confidence not a probability with 4 decimals", l)
		}
		c = append(c, k)
	}
	return c
}

// TestClassifyMatchesRuntime: the first 1,000 MNIST test images written as 28x28 PNGs get
// exactly the batch runtime's predictions, for an fp32, an int8 static and an int4 file; the
// same images upscaled 3x and inverted (black digit on white) keep the int8 accuracy within
// 1.5 points.
func TestClassifyMatchesRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model and writes 2,000 images")
	}
	paths, test := models(t)
	const n = 1000
	dir := t.TempDir()
	var orig, big []string
	for i := 0; i < n; i++ {
		px := make([]uint8, 784)
		for k := range px {
			px[k] = uint8(test.Images[i*784+k]*255 + 0.5) // exact: the images are p/255
		}
		p := filepath.Join(dir, strconv.Itoa(i)+".png")
		writePNG(t, p, px, 28, 28)
		orig = append(orig, p)
		up := make([]uint8, 84*84)
		for y := 0; y < 84; y++ {
			for x := 0; x < 84; x++ {
				up[y*84+x] = 255 - px[(y/3)*28+x/3]
			}
		}
		q := filepath.Join(dir, strconv.Itoa(i)+"-big.png")
		writePNG(t, q, up, 84, 84)
		big = append(big, q)
	}
	accuracy := func(c []int) float64 {
		k := 0
		for i, v := range c {
			if v == int(test.Labels[i]) {
				k++
			}
		}
		return 100 * float64(k) / float64(len(c))
	}
	for _, name := range []string{"fp32", "w8a8-static", "w4a4-static"} {
		var out, errOut bytes.Buffer
		if st := run(append([]string{"-model", paths[name]}, orig...), &out, &errOut); st != 0 {
			t.Fatalf("%s: exit %d: %s", name, st, errOut.String())
		}
		got := classes(t, out.String(), orig)
		m, err := infer.Load(paths[name])
		if err != nil {
			t.Fatal(err)
		}
		want, err := infer.Classes(m, test.Images[:n*784], n)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s image %d: classify says %d, the batch runtime %d", name, i, got[i], want[i])
			}
		}
		t.Logf("%s: %.1f%% on %d PNGs, identical to the batch runtime", name, accuracy(got), n)
		if name != "w8a8-static" {
			continue
		}
		out.Reset()
		if st := run(append([]string{"-model", paths[name]}, big...), &out, &errOut); st != 0 {
			t.Fatalf("%s upscaled: exit %d: %s", name, st, errOut.String())
		}
		a, b := accuracy(got), accuracy(classes(t, out.String(), big))
		t.Logf("%s: %.1f%% on the originals, %.1f%% upscaled 3x and inverted", name, a, b)
		if b < a-1.5 {
			t.Errorf("%s: %.1f%% upscaled and inverted, %.1f%% original: more than 1.5 points lost", name, b, a)
		}
	}
}

// TestErrors: a bad image is one line on stderr naming it while the others are still
// classified (exit 1); a model file of the wrong kind or a missing one is one line, exit 1;
// flag mistakes exit 2.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "digit.png")
	px := make([]uint8, 784)
	for y := 6; y < 22; y++ {
		px[y*28+13], px[y*28+14] = 255, 200 // a "1"
	}
	writePNG(t, good, px, 28, 28)
	bad := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(bad, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := nn.NewMLP([]int{784, 10}, rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "m.safetensors")
	if err := m.Save(model, ""); err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(dir, "ck.safetensors")
	if err := train.SaveCheckpoint(ck, m, train.State{}, ""); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if st := run([]string{"-model", model, bad, good, filepath.Join(dir, "missing.png")}, &out, &errOut); st != 1 {
		t.Fatalf("exit %d, want 1", st)
	}
	if lines := strings.Split(strings.TrimSpace(errOut.String()), "\n"); len(lines) != 2 || !strings.Contains(lines[0], bad) || !strings.Contains(lines[1], "missing.png") {
		t.Fatalf("stderr %q, want one line naming each bad file", errOut.String())
	}
	if !strings.HasPrefix(out.String(), good+"\t") || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("stdout %q, want the good image's line", out.String())
	}
	for _, c := range []struct {
		args []string
		want int
		msg  string
	}{
		{[]string{"-model", ck, good}, 1, "kind"},
		{[]string{"-model", filepath.Join(dir, "none.safetensors"), good}, 1, "none.safetensors"},
		{[]string{"-model", bad, good}, 1, "notes.txt"},
		{[]string{good}, 2, "-model"},
		{[]string{"-model", model}, 2, "no images"},
		{[]string{"-nope"}, 2, "nope"},
	} {
		out.Reset()
		errOut.Reset()
		if st := run(c.args, &out, &errOut); st != c.want || !strings.Contains(errOut.String(), c.msg) || strings.Count(errOut.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want %d and one line with %q", c.args, st, errOut.String(), c.want, c.msg)
		}
	}
	// -json prints all probabilities.
	out.Reset()
	if st := run([]string{"-json", "-model", model, good}, &out, &errOut); st != 0 || !strings.Contains(out.String(), `"probabilities":[`) {
		t.Fatalf("-json: exit %d, %q", st, out.String())
	}
}
