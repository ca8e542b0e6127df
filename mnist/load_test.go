package mnist_test

import (
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"tinyq/mnist"
)

func TestLoadFilesBadInput(t *testing.T) {
	good := imagesFile(3, 2, 2, ramp(12))
	goodLabels := labelsFile([]byte{1, 2, 3})
	corrupt := gz(t, good)
	corrupt[len(corrupt)/2] ^= 0xff
	crc := gz(t, good)
	crc[len(crc)-8] ^= 0xff // first byte of the CRC-32 in the gzip trailer (RFC 1952)

	tests := []struct {
		name           string
		images, labels []byte
		wantFile       string // "images" or "labels": which file the error must name
		field          string // FormatError.Field
		want           string // substring of the message
		wantIs         error  // if non-nil, errors.Is must hold
	}{
		{name: "images magic", images: idx(0x801, []uint32{3, 2, 2}, ramp(12)), labels: goodLabels,
			wantFile: "images", field: "magic", want: "bad magic 0x00000801, want 0x00000803"},
		{name: "labels magic", images: good, labels: idx(0x803, []uint32{3}, []byte{1, 2, 3}),
			wantFile: "labels", field: "magic", want: "bad magic 0x00000803, want 0x00000801"},
		{name: "images header truncated", images: good[:10], labels: goodLabels,
			wantFile: "images", field: "header", want: "bad header 10 bytes (truncated), want 16 bytes"},
		{name: "empty labels file", images: good, labels: nil,
			wantFile: "labels", field: "header", want: "bad header 0 bytes (truncated), want 8 bytes"},
		{name: "images truncated", images: good[:len(good)-3], labels: goodLabels,
			wantFile: "images", field: "length", want: "bad length 25 bytes (truncated), want 28 bytes"},
		{name: "labels truncated", images: good, labels: goodLabels[:10],
			wantFile: "labels", field: "length", want: "bad length 10 bytes (truncated), want 11 bytes"},
		{name: "images trailing", images: append(imagesFile(3, 2, 2, ramp(12)), 0, 0, 0, 0), labels: goodLabels,
			wantFile: "images", field: "length", want: "bad length 32 bytes (4 trailing), want 28 bytes"},
		{name: "labels trailing", images: good, labels: append(labelsFile([]byte{1, 2, 3}), 7),
			wantFile: "labels", field: "length", want: "bad length 12 bytes (1 trailing), want 11 bytes"},
		{name: "zero rows", images: imagesFile(3, 0, 2, nil), labels: goodLabels,
			wantFile: "images", field: "rows", want: "bad rows 0, want > 0"},
		{name: "zero cols", images: imagesFile(3, 2, 0, nil), labels: goodLabels,
			wantFile: "images", field: "cols", want: "bad cols 0, want > 0"},
		{name: "absurd size", images: imagesFile(0xffffffff, 0xffff, 0xffff, nil), labels: goodLabels,
			wantFile: "images", field: "size", want: "bad size 4294967295×65535×65535 pixels, want at most 268435456"},
		{name: "absurd label count", images: good, labels: idx(0x801, []uint32{0xffffffff}, nil),
			wantFile: "labels", field: "size", want: "bad size 4294967295 labels"},
		{name: "label out of range", images: good, labels: labelsFile([]byte{1, 10, 3}),
			wantFile: "labels", field: "label[1]", want: "bad label[1] 10, want 0..9"},
		{name: "count mismatch", images: good, labels: labelsFile([]byte{1, 2}),
			wantFile: "labels", field: "label count", want: "bad label count 2, want 3 (the image count of "},
		{name: "corrupt gzip data", images: corrupt, labels: goodLabels,
			wantFile: "images", field: "gzip stream", want: "bad gzip stream: "},
		{name: "gzip checksum", images: crc, labels: goodLabels,
			wantFile: "images", field: "gzip stream", want: "bad gzip stream: gzip: invalid checksum", wantIs: gzip.ErrChecksum},
		{name: "gzip header", images: []byte{0x1f, 0x8b, 0, 0, 0}, labels: goodLabels,
			wantFile: "images", field: "gzip stream", want: "bad gzip stream: "},
		{name: "gzip truncated", images: gz(t, good)[:20], labels: goodLabels,
			wantFile: "images", field: "gzip stream", want: "bad gzip stream: unexpected EOF"},
		{name: "gzip trailing garbage", images: append(gz(t, good), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), labels: goodLabels,
			wantFile: "images", field: "gzip stream", want: "bad gzip stream: gzip: invalid header", wantIs: gzip.ErrHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			paths := map[string]string{
				"images": writeFile(t, dir, "images.idx", tt.images),
				"labels": writeFile(t, dir, "labels.idx", tt.labels),
			}
			s, err := mnist.LoadFiles(paths["images"], paths["labels"])
			if err == nil {
				t.Fatalf("LoadFiles succeeded with N=%d, want error containing %q", s.N, tt.want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "mnist: "+paths[tt.wantFile]+": ") {
				t.Errorf("error %q does not start with %q", msg, "mnist: "+paths[tt.wantFile]+": ")
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
			var fe *mnist.FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %q (%T) is not a *FormatError", msg, err)
			}
			if fe.Field != tt.field {
				t.Errorf("Field = %q, want %q", fe.Field, tt.field)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%q, %v) = false", msg, tt.wantIs)
			}
		})
	}
}

func TestLoadBadDir(t *testing.T) {
	standard := map[string][]byte{
		"train-images-idx3-ubyte.gz": nil, "train-labels-idx1-ubyte.gz": nil,
		"t10k-images-idx3-ubyte.gz": nil, "t10k-labels-idx1-ubyte.gz": nil,
	}
	synthetic := func(t *testing.T, dir string, skip string) {
		for name := range standard {
			if name == skip {
				continue
			}
			var data []byte
			if strings.Contains(name, "images") {
				data = imagesFile(2, 28, 28, make([]byte, 2*28*28))
			} else {
				data = labelsFile([]byte{1, 2})
			}
			writeFile(t, dir, name, gz(t, data))
		}
	}

	t.Run("missing dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nope")
		_, _, err := mnist.Load(dir)
		var pe *fs.PathError
		if !errors.As(err, &pe) || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Load(%s) error = %v, want a *fs.PathError wrapping fs.ErrNotExist", dir, err)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "mnist: ") || !strings.Contains(msg, dir) {
			t.Errorf("error %q does not name %s", msg, dir)
		}
	})
	t.Run("not a dir", func(t *testing.T) {
		file := writeFile(t, t.TempDir(), "file", []byte("x"))
		_, _, err := mnist.Load(file)
		if err == nil || !strings.Contains(err.Error(), file+": not a directory") {
			t.Fatalf("Load(file) error = %v, want 'not a directory'", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		dir := t.TempDir()
		synthetic(t, dir, "train-labels-idx1-ubyte.gz")
		_, _, err := mnist.Load(dir)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Load error = %v, want fs.ErrNotExist", err)
		}
		var pe *fs.PathError
		if !errors.As(err, &pe) {
			t.Errorf("error %v is not a *fs.PathError", err)
		}
		if msg := err.Error(); !strings.Contains(msg, "neither train-labels-idx1-ubyte.gz nor train-labels-idx1-ubyte") {
			t.Errorf("error %q does not name the missing file", msg)
		}
	})
	t.Run("digest mismatch", func(t *testing.T) {
		dir := t.TempDir()
		synthetic(t, dir, "")
		_, _, err := mnist.Load(dir)
		var ce *mnist.ChecksumError
		if !errors.As(err, &ce) {
			t.Fatalf("Load error = %v (%T), want *ChecksumError", err, err)
		}
		wantFile := filepath.Join(dir, "train-images-idx3-ubyte.gz")
		// The digest of the published content, gunzipped (issue 18, item 17).
		const want = "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
		if ce.File != wantFile || ce.Want != want || ce.Name != "train-images-idx3-ubyte" || len(ce.Got) != 64 || ce.Got == want {
			t.Errorf("ChecksumError = %+v, want File %s, Want %s", ce, wantFile, want)
		}
		if msg := err.Error(); !strings.Contains(msg, "mnist: "+wantFile+": the SHA-256 of its IDX content (after gunzip) is "+ce.Got+", want "+want+" (the published train-images-idx3-ubyte)") {
			t.Errorf("error %q lacks file, got and want", msg)
		}
	})
	t.Run("raw digest mismatch", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "train-images-idx3-ubyte", imagesFile(1, 28, 28, make([]byte, 28*28)))
		synthetic(t, dir, "train-images-idx3-ubyte.gz")
		_, _, err := mnist.Load(dir)
		var ce *mnist.ChecksumError
		if !errors.As(err, &ce) || ce.File != filepath.Join(dir, "train-images-idx3-ubyte") {
			t.Fatalf("Load error = %v, want *ChecksumError for the raw file", err)
		}
	})
	t.Run("missing LoadFiles file", func(t *testing.T) {
		dir := t.TempDir()
		labels := writeFile(t, dir, "labels", labelsFile([]byte{1}))
		_, err := mnist.LoadFiles(filepath.Join(dir, "images"), labels)
		var pe *fs.PathError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), filepath.Join(dir, "images")) {
			t.Fatalf("LoadFiles error = %v, want *fs.PathError naming the images file", err)
		}
	})
}

// A header may claim up to MaxBytes of pixels; the reader must not allocate them
// before the data shows up.
func TestNoAllocationFromHeader(t *testing.T) {
	dir := t.TempDir()
	// 300000*28*28 = 235,200,000 bytes claimed, under MaxBytes; 100 bytes present.
	images := writeFile(t, dir, "images", imagesFile(300000, 28, 28, make([]byte, 100)))
	labels := writeFile(t, dir, "labels", labelsFile([]byte{1}))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := mnist.LoadFiles(images, labels)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "(truncated)") {
		t.Fatalf("LoadFiles error = %v, want truncated", err)
	}
	// 1 MiB: far above the 64 KiB first chunk and bufio buffer, far below 235 MB.
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("allocated %d bytes for a 100-byte file", got)
	}
}

// Pixel values map exactly to float32(p)/255, whether the file is gzipped or raw, and
// gzip is recognized by content, not name.
func TestLoadFilesRoundTrip(t *testing.T) {
	pixels := []byte{0, 51, 255, 128, 1, 254, 7, 8, 9, 10, 11, 12} // [2, 2*3]
	labels := []byte{3, 9}
	raw := imagesFile(2, 2, 3, pixels)
	for _, tc := range []struct {
		name           string
		images, labels []byte
	}{
		{"raw", raw, labelsFile(labels)},
		{"gzip", gz(t, raw), gz(t, labelsFile(labels))},
		{"mixed", gz(t, raw), labelsFile(labels)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// Deliberately misleading names: detection is by magic bytes.
			s, err := mnist.LoadFiles(writeFile(t, dir, "images.gz", tc.images), writeFile(t, dir, "labels.raw", tc.labels))
			if err != nil {
				t.Fatal(err)
			}
			if s.N != 2 || s.Rows != 2 || s.Cols != 3 || len(s.Images) != 12 || string(s.Labels) != string(labels) {
				t.Fatalf("got N=%d Rows=%d Cols=%d len(Images)=%d Labels=%v", s.N, s.Rows, s.Cols, len(s.Images), s.Labels)
			}
			for i, p := range pixels {
				// Exact equality: both sides are one float32 division, correctly rounded.
				if want := float32(p) / 255; s.Images[i] != want {
					t.Errorf("Images[%d] = %v, want %v", i, s.Images[i], want)
				}
			}
			if s.Images[0] != 0 || s.Images[1] != 0.2 || s.Images[2] != 1 {
				t.Errorf("0, 51, 255 -> %v, %v, %v, want 0, 0.2, 1", s.Images[0], s.Images[1], s.Images[2])
			}

			// Slice and Image share memory with s.
			tail := s.Slice(1, 2)
			if tail.N != 1 || tail.Labels[0] != 9 || len(tail.Images) != 6 || tail.Images[0] != s.Images[6] {
				t.Fatalf("Slice(1, 2) = %+v", tail)
			}
			tail.Images[0] = 42
			if s.Image(1)[0] != 42 {
				t.Errorf("Slice does not share memory with its Set")
			}
			if img := s.Image(0); len(img) != 6 || cap(img) != 6 {
				t.Errorf("Image(0) has len %d cap %d, want 6 and 6", len(img), cap(img))
			}
		})
	}
}

func TestLoadFilesEmpty(t *testing.T) {
	dir := t.TempDir()
	s, err := mnist.LoadFiles(writeFile(t, dir, "i", imagesFile(0, 28, 28, nil)), writeFile(t, dir, "l", labelsFile(nil)))
	if err != nil || s.N != 0 || len(s.Images) != 0 {
		t.Fatalf("LoadFiles of an empty set = %+v, %v", s, err)
	}
}

// TestLoadSpecialFiles: a standard file replaced by a FIFO or by a link to /dev/zero is
// refused at once with a line naming it (before this fix, Load blocked on the FIFO's open or
// hashed /dev/zero forever). LoadFiles refuses them too.
func TestLoadSpecialFiles(t *testing.T) {
	for _, kind := range []string{"fifo", "/dev/zero"} {
		dir := t.TempDir()
		for _, name := range []string{mnist.TrainLabels, mnist.TestImages, mnist.TestLabels} {
			writeFile(t, dir, name, nil)
		}
		special := filepath.Join(dir, mnist.TrainImages)
		if kind == "fifo" {
			if err := syscall.Mkfifo(special, 0o644); err != nil {
				t.Skip("no FIFOs here:", err)
			}
		} else if err := os.Symlink("/dev/zero", special); err != nil {
			t.Fatal(err)
		}
		for _, load := range []func() error{
			func() error { _, _, err := mnist.Load(dir); return err },
			func() error { _, err := mnist.LoadFiles(special, filepath.Join(dir, mnist.TrainLabels)); return err },
		} {
			done := make(chan error, 1)
			go func() { done <- load() }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), special) || !strings.Contains(err.Error(), "not a regular file") {
					t.Errorf("%s: error %v, want one naming %s as not a regular file", kind, err, special)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: still loading after 10s", kind)
			}
		}
	}
}
