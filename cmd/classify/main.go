// Command classify runs a saved tinyq model on images of handwritten digits and prints one
// line per image: PATH, the predicted class and its probability, tab-separated. It links only
// the runtime (package infer) and image decoding, never the training stack.
//
//	go run ./cmd/classify -model model.safetensors digit.png photo.jpg
//
// Any saved model kind works: fp32, fp16, a QAT model (its fake-quant simulation), and
// integer models at 8, 4 or 2 bits, static or dynamic. Images that are not already MNIST-like
// (28x28, grey, light ink on a black background) are prepared as MNIST was made (package
// imageprep); a JPEG's EXIF orientation is applied first, as image viewers do.
//
// Flags may come before, between or after the images; "--" ends the flags, so that an image
// named like a flag ("-json") can still be given.
//
// In the plain format a path that contains a control character (a tab or a newline, say) or
// invalid UTF-8, or that begins with a double quote, is printed as a Go string literal
// (strconv.Quote), so that every line is one record of three tab-separated fields; other paths
// are printed as they are. Error messages on stderr quote such paths the same way. -json prints one JSON object per image, with the path as a JSON
// string, all class probabilities and the kernel paths that computed them.
//
// An image that cannot be read, or on which the model's outputs are not finite (NaN or
// infinity), is one line on stderr naming it and the others are still classified; the exit
// status is then 1. Images are classified one at a time, and the garbage of a large one is
// collected before the next is read, so memory is bounded by the largest image, not by their
// number (package imageprep states the bound, about 600 MB). A bad flag exits 2; a model
// that cannot be loaded, 1.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"tinyq/gemm"
	"tinyq/imageprep"
	"tinyq/infer"
	"tinyq/internal/regfile"
	"tinyq/qkernel"
	"tinyq/quant"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// result is one image's line with -json.
type result struct {
	Path          string    `json:"path"`
	Class         int       `json:"class"`
	Confidence    float32   `json:"confidence"`
	Probabilities []float32 `json:"probabilities"`
	Kernel        kernels   `json:"kernel"`
}

// kernels names the kernel paths of this process: the integer one (qkernel.ActivePath) that
// integer models run on, and the float one (gemm.ActivePath) of float and QAT models, so that a
// result can be traced to the code that computed it.
type kernels struct {
	Int   string `json:"int"`
	Float string `json:"float"`
}

const usage = "usage: classify -model FILE [-json] [--] IMAGE..."

// run is the whole command; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("classify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	model := fs.String("model", "", "model file (.safetensors) saved by tinyq")
	asJSON := fs.Bool("json", false, "print one JSON object per image with all class probabilities")
	images, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, usage+"\n\nClassifies images of handwritten digits (PNG, JPEG, GIF) with a saved tinyq model.\nFlags may also follow the images; \"--\" ends the flags.\n\nFlags:")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintln(stderr, "classify:", err)
		return 2
	}
	if err := qkernel.RequestError(); err != nil {
		fmt.Fprintln(stderr, "classify:", err)
		return 2
	}
	if *model == "" {
		fmt.Fprintln(stderr, "classify: -model FILE is required")
		return 2
	}
	if len(images) == 0 {
		fmt.Fprintln(stderr, "classify: no images given ("+usage+")")
		return 2
	}
	if err := sniffModel(*model); err != nil {
		fmt.Fprintln(stderr, "classify:", err)
		return 1
	}
	m, err := infer.Load(*model)
	if err != nil {
		fmt.Fprintln(stderr, "classify:", err)
		return 1
	}
	in := m.Input()
	if in.Width != imageprep.Size || in.Height != imageprep.Size {
		fmt.Fprintf(stderr, "classify: %s: the model takes %dx%d inputs, not %dx%d images\n", *model, in.Width, in.Height, imageprep.Size, imageprep.Size)
		return 1
	}
	status := 0
	enc := json.NewEncoder(stdout)
	kern := kernels{Int: qkernel.ActivePath().String(), Float: gemm.ActivePath().String()}
	var gc collector
	for _, path := range images {
		gc.collect()
		p, err := classify(m, path)
		if err != nil {
			// The message names the path; quoted as on stdout, so that it stays one line.
			msg := err.Error()
			if q := plainPath(path); q != path {
				msg = strings.ReplaceAll(msg, path, q)
			}
			fmt.Fprintln(stderr, "classify:", msg)
			status = 1
			continue
		}
		if *asJSON {
			if err := enc.Encode(result{Path: path, Class: p.Class, Confidence: p.Confidence(), Probabilities: p.Probabilities, Kernel: kern}); err != nil {
				fmt.Fprintln(stderr, "classify:", err)
				return 1
			}
			continue
		}
		if _, err := fmt.Fprintf(stdout, "%s\t%d\t%.4f\n", plainPath(path), p.Class, p.Confidence()); err != nil {
			fmt.Fprintln(stderr, "classify:", err)
			return 1
		}
	}
	return status
}

// collectAfter is how much an image may allocate before classify collects the garbage
// before the next one: 32 MiB. A forced collection costs about 5 ms (2,000 28x28 PNGs took
// 0.5 s without, 9.8 s with one after each), so small images are left to the collector's
// own pacing; but after a large image its buffers (imageprep bounds them: up to about 600 MB)
// would otherwise still be in the heap beside the next image's, and the process would need
// twice the memory of the largest image, not once.
const collectAfter = 32 << 20

// collector collects the garbage between images when the previous one allocated more than
// collectAfter bytes (runtime/metrics' count of heap allocations, cheap to read).
type collector struct {
	sample []metrics.Sample
	last   uint64
}

func (c *collector) collect() {
	if c.sample == nil {
		c.sample = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	}
	metrics.Read(c.sample)
	if c.sample[0].Value.Kind() != metrics.KindUint64 {
		return // not supported by this runtime: the collector's pacing alone
	}
	now := c.sample[0].Value.Uint64()
	if c.last != 0 && now-c.last > collectAfter {
		runtime.GC()
	}
	c.last = now
}

// parseInterleaved parses flags anywhere among the arguments and returns the others (the
// images) in order. "--" ends the flags: every argument after it is an image, even one that
// begins with "-".
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var images []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if endedByDashes(fs, args[:len(args)-len(rest)]) {
			return append(images, rest...), nil
		}
		if len(rest) == 0 {
			break
		}
		images = append(images, rest[0]) // the non-flag that stopped the parse
		args = rest[1:]
	}
	return images, nil
}

// endedByDashes reports whether the arguments that fs.Parse consumed end with the terminator
// "--" (and not with "--" as the value of a flag, as in "-model --").
func endedByDashes(fs *flag.FlagSet, consumed []string) bool {
	for i := 0; i < len(consumed); i++ {
		a := consumed[i]
		if a == "--" {
			return true
		}
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
				i++ // the flag's value is the next argument
			}
		}
	}
	return false
}

// plainPath is path as printed in the plain format: as it is, unless it contains a control
// character (a tab or newline would split or forge a record) or invalid UTF-8, or begins with
// a double quote (it would read as a quoted path); then as a Go string literal.
func plainPath(path string) string {
	if strings.HasPrefix(path, `"`) || !utf8.ValidString(path) || strings.ContainsFunc(path, unicode.IsControl) {
		return strconv.Quote(path)
	}
	return path
}

// sniffModel refuses, in one line naming it, a file that cannot be a tinyq model: every
// model file is a safetensors file, which begins with the header's length (8 bytes, little
// endian, within the file) and then the JSON header's "{". A file that cannot be opened is
// left to infer.Load, which says why.
func sniffModel(path string) error {
	f, fi, err := regfile.Open(path, "a model file")
	if err != nil {
		return nil
	}
	defer f.Close()
	var head [16]byte
	n, _ := io.ReadFull(f, head[:])
	b := head[:n]
	if n >= 9 && binary.LittleEndian.Uint64(b) <= uint64(fi.Size()-8) && b[8] == '{' {
		return nil
	}
	return fmt.Errorf("%s: not a tinyq model file%s; want a .safetensors file saved by tinyq", path, looksLike(b))
}

// looksLike names the kind of file that head, a file's first bytes, begins, if it is a
// common one, as " (it looks like ...)".
func looksLike(head []byte) string {
	kinds := []struct{ magic, name string }{
		{"\x89PNG\r\n\x1a\n", "a PNG image"},
		{"\xff\xd8\xff", "a JPEG image"},
		{"GIF8", "a GIF image"},
		{"\x1f\x8b", "a gzip file"},
		{"PK\x03\x04", "a zip file (a PyTorch .pt/.pth?)"},
		{"{", "JSON"},
		{"[", "JSON"},
	}
	trimmed := bytes.TrimLeft(head, " \t\r\n")
	for _, k := range kinds {
		json := k.magic == "{" || k.magic == "["
		if bytes.HasPrefix(head, []byte(k.magic)) || (json && bytes.HasPrefix(trimmed, []byte(k.magic))) {
			return " (it looks like " + k.name + ")"
		}
	}
	if len(head) == 0 {
		return " (it is empty)"
	}
	return ""
}

// classify reads, prepares and classifies one image. Outputs that are not finite (a float
// model that overflows) are an error for this image.
func classify(m infer.Model, path string) (infer.Prediction, error) {
	img, err := imageprep.DecodeFile(path)
	if err != nil {
		return infer.Prediction{}, err
	}
	px, err := imageprep.MNIST(img)
	if err != nil {
		return infer.Prediction{}, fmt.Errorf("%s: %w", path, err)
	}
	p, err := infer.PredictPixels(m, px)
	if err != nil {
		return infer.Prediction{}, fmt.Errorf("%s: %w", path, err)
	}
	// The probabilities are the softmax of the logits in float64: they are finite exactly
	// when the logits are.
	if !quant.AllFinite(p[0].Probabilities) {
		return infer.Prediction{}, fmt.Errorf("%s: the model's outputs are not finite (NaN or infinity): its arithmetic overflowed on this image", path)
	}
	return p[0], nil
}
