package mnist_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tinyq/mnist"
)

func locate(t *testing.T) string {
	t.Helper()
	dir, err := mnist.Locate("")
	if err != nil {
		t.Skipf("MNIST data not available: %v", err)
	}
	return dir
}

func TestLoadReal(t *testing.T) {
	dir := locate(t)
	start := time.Now()
	train, test, err := mnist.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %s in %v", dir, time.Since(start))
	checkReal(t, train, test)
}

// The raw (gunzipped) files are accepted too, and checked against the same digests.
func TestLoadRealRaw(t *testing.T) {
	loadRewritten(t, "writes 55 MB of raw files", false)
}

// TestLoadRealRegzipped (issue 18, item 17): the published bytes in another gzip stream
// (another compression level, a header name and time) are the same data and load; before,
// the digest of the compressed file was compared and they were refused with a bare SHA-256
// mismatch.
func TestLoadRealRegzipped(t *testing.T) {
	loadRewritten(t, "recompresses 55 MB", true)
}

// loadRewritten rewrites the four published files into a temporary directory, gunzipped or
// (regzip) as another gzip stream, and loads them; it is skipped with -short (why says why).
func loadRewritten(t *testing.T, why string, regzip bool) {
	if testing.Short() {
		t.Skip(why + "; skipped with -short")
	}
	src := locate(t)
	dir := t.TempDir()
	for _, name := range []string{mnist.TrainImages, mnist.TrainLabels, mnist.TestImages, mnist.TestLabels} {
		from, to := filepath.Join(src, name+".gz"), filepath.Join(dir, name)
		if regzip {
			to += ".gz"
		}
		rewrite(t, from, to, regzip)
	}
	train, test, err := mnist.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkReal(t, train, test)
}

// rewrite writes src's decompressed content to dst: raw, or with regzip as another gzip
// stream than src's (BestSpeed, with a file name and a modification time in its header).
func rewrite(t *testing.T, src, dst string, regzip bool) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	var w io.WriteCloser = out
	if regzip {
		zw, err := gzip.NewWriterLevel(out, gzip.BestSpeed)
		if err != nil {
			t.Fatal(err)
		}
		zw.Name, zw.ModTime = filepath.Base(dst), time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
		w = zw
	}
	if _, err := io.Copy(w, zr); err != nil {
		t.Fatal(err)
	}
	if regzip {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if !regzip {
		return
	}
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	again, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(orig, again) {
		t.Fatalf("%s: the recompressed stream equals the original; the test would prove nothing", dst)
	}
}

func checkReal(t *testing.T, train, test *mnist.Set) {
	t.Helper()
	for _, c := range []struct {
		name       string
		s          *mnist.Set
		n          int
		firstLabel uint8
	}{
		// First labels from the published files: training sample 0 is a 5, test sample 0 a 7.
		{"train", train, 60000, 5},
		{"test", test, 10000, 7},
	} {
		s := c.s
		if s.N != c.n || s.Rows != 28 || s.Cols != 28 || len(s.Labels) != c.n || len(s.Images) != c.n*28*28 {
			t.Fatalf("%s: N=%d Rows=%d Cols=%d len(Labels)=%d len(Images)=%d, want %d×28×28",
				c.name, s.N, s.Rows, s.Cols, len(s.Labels), len(s.Images), c.n)
		}
		if s.Labels[0] != c.firstLabel {
			t.Errorf("%s: first label %d, want %d", c.name, s.Labels[0], c.firstLabel)
		}
		var hist [10]int
		for _, l := range s.Labels {
			hist[l]++ // l <= 9 is guaranteed by ReadLabels; an index panic would be a bug
		}
		sum := 0
		for d, h := range hist {
			// Every digit is 9-12% of MNIST; 5% is a loose lower bound.
			if h < c.n/20 {
				t.Errorf("%s: digit %d appears %d times", c.name, d, h)
			}
			sum += h
		}
		if sum != c.n {
			t.Errorf("%s: label histogram %v sums to %d, want %d", c.name, hist, sum, c.n)
		}
		lo, hi := float32(1), float32(0)
		for _, p := range s.Images {
			lo, hi = min(lo, p), max(hi, p)
		}
		// MNIST uses the full byte range: background 0, ink 255.
		if lo != 0 || hi != 1 {
			t.Errorf("%s: pixel range [%v, %v], want [0, 1]", c.name, lo, hi)
		}
	}
}
