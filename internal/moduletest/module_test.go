package moduletest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// mainGo is the throwaway module's program: it loads a model file and classifies raw 8x8
// images, as a user of the library would.
const mainGo = `package main

import (
	"fmt"
	"os"

	"tinyq/infer"
)

func main() {
	if err := run(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(model, images, labels string) error {
	m, err := infer.Load(model)
	if err != nil {
		return err
	}
	pixels, err := os.ReadFile(images)
	if err != nil {
		return err
	}
	want, err := os.ReadFile(labels)
	if err != nil {
		return err
	}
	preds, err := infer.PredictPixels(m, pixels)
	if err != nil {
		return err
	}
	correct := 0
	for i, p := range preds {
		if p.Class == int(want[i]) {
			correct++
		}
	}
	fmt.Printf("%d of %d correct\n", correct, len(preds))
	return nil
}
`

// goVersion returns the go directive of the checkout's go.mod, e.g. "1.26".
func goVersion(t *testing.T, root string) string {
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s/go.mod: no go directive", root)
	}
	return string(m[1])
}

// TestModuleBuild follows the README's two recipes ("Use tinyq from your module"): a new
// module requires tinyq v0.0.0 and replaces it with the checkout, starts from a copy of
// tinyq's go.sum, go mod tidy completes it from the module cache (no network); or a go.work
// uses the new module and the checkout. Either way go build builds a program that loads the
// committed tiny model and classifies its test images. It also checks that the README states
// the go.mod's Go version in that section. It takes 0.7 s with a warm build cache and 9 to 15 s with an empty one
// (2 cores, the machine busy or not), so -short skips it.
func TestModuleBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module: up to 15 s")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	version := goVersion(t, root)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Use tinyq from your module")
	if !ok {
		t.Fatal("README.md: no section \"Use tinyq from your module\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for _, want := range []string{"Go " + version, "replace tinyq => ", "require tinyq v0.0.0", "go mod tidy", "use ("} {
		if !strings.Contains(section, want) {
			t.Errorf("README.md, \"Use tinyq from your module\": no %q", want)
		}
	}

	// The checkout's go.sum holds the checksums of tinyq's dependencies, so go mod tidy
	// verifies them without asking sum.golang.org (the README says to copy it when offline).
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	recipes := []struct {
		name  string
		files map[string]string // relative to the temporary directory
		steps [][]string        // go commands, run in app/
		env   string            // GOWORK
	}{
		{"replace", map[string]string{
			"app/go.mod": "module example.com/tinyqdemo\n\ngo " + version + "\n\nrequire tinyq v0.0.0\n\nreplace tinyq => " + root + "\n",
			"app/go.sum": string(sum),
		}, [][]string{{"mod", "tidy"}, {"build", "-o", "demo", "."}}, "off"},
		{"go.work", map[string]string{
			"app/go.mod": "module example.com/tinyqdemo\n\ngo " + version + "\n",
			"go.work":    "go " + version + "\n\nuse (\n\t./app\n\t" + root + "\n)\n",
		}, [][]string{{"build", "-o", "demo", "."}}, ""},
	}
	tiny := filepath.Join(root, "testdata", "tiny")
	for _, r := range recipes {
		dir := t.TempDir()
		r.files["app/main.go"] = mainGo
		for name, content := range r.files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		app := filepath.Join(dir, "app")
		for _, args := range r.steps {
			cmd := exec.Command(goCmd, args...)
			cmd.Dir = app
			cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK="+r.env, "GOPROXY=off") // the module cache only: no network
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: go %s: %v\n%s", r.name, strings.Join(args, " "), err, out)
			}
		}
		bin := filepath.Join(app, "demo")
		out, err := exec.Command(bin, filepath.Join(tiny, "fp32.safetensors"),
			filepath.Join(tiny, "test-images.u8"), filepath.Join(tiny, "test-labels.u8")).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %s: %v\n%s", r.name, bin, err, out)
		}
		if got, want := string(out), "121 of 128 correct\n"; got != want {
			t.Errorf("%s: the module's program printed %q, want %q (Example_evaluate's 94.53%%)", r.name, got, want)
		}
		t.Logf("%s: build and run in %v", r.name, time.Since(start).Round(time.Millisecond))
	}
}
