// Command classify runs a saved tinyq model on images of handwritten digits and prints one
// line per image: PATH, the predicted class and its probability, tab-separated. It links only
// the runtime (package infer) and image decoding, never the training stack.
//
//	go run ./cmd/classify -model model.safetensors digit.png photo.jpg
//
// Any saved model kind works: fp32, fp16, a QAT model (its fake-quant simulation), and
// integer models at 8, 4 or 2 bits, static or dynamic. Images that are not already 28x28
// white-on-black are prepared as MNIST was made (package imageprep). An image that cannot be
// read is reported on stderr and the others are still classified; the exit status is then 1.
// A bad flag exits 2; a model that cannot be loaded, 1.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"tinyq/imageprep"
	"tinyq/infer"
	"tinyq/qkernel"
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
}

// run is the whole command; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("classify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	model := fs.String("model", "", "model file (.safetensors) saved by tinyq")
	asJSON := fs.Bool("json", false, "print one JSON object per image with all class probabilities")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "usage: classify -model FILE [-json] IMAGE...\n\nClassifies images of handwritten digits (PNG, JPEG) with a saved tinyq model.\n\nFlags:")
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
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "classify: no images given (usage: classify -model FILE IMAGE...)")
		return 2
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
	for _, path := range fs.Args() {
		p, err := classify(m, path)
		if err != nil {
			fmt.Fprintln(stderr, "classify:", err)
			status = 1
			continue
		}
		if *asJSON {
			if err := enc.Encode(result{Path: path, Class: p.Class, Confidence: p.Confidence(), Probabilities: p.Probabilities}); err != nil {
				fmt.Fprintln(stderr, "classify:", err)
				return 1
			}
			continue
		}
		if _, err := fmt.Fprintf(stdout, "%s\t%d\t%.4f\n", path, p.Class, p.Confidence()); err != nil {
			fmt.Fprintln(stderr, "classify:", err)
			return 1
		}
	}
	return status
}

// classify reads, prepares and classifies one image.
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
	return p[0], nil
}
