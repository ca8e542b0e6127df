// Command quantize converts a saved float model (fp32 or fp16) to an integer model by
// post-training quantization (package ptq), calibrating on MNIST training images, and prints
// the test accuracy of the file it wrote. It links the runtime, ptq and onnx, never the
// training stack.
//
//	go run ./cmd/quantize -model fp32.safetensors -bits 4 -o int4.safetensors
//	go run ./cmd/quantize -model model.onnx -bits 8 -o int8.safetensors
//	go run ./cmd/quantize -model int8.safetensors -o int8.onnx
//
// ONNX in and out (package onnx): a -model ending in .onnx is a float ONNX model (an MLP as
// torch.onnx.export writes it) imported as tinyq's float model; its input is read as the file
// says, else as -input and -pixel-divisor say (default 28x28, pixel/255); a model trained on
// normalized inputs (pixel/255 - mean)/std gets -input-mean and -input-std, folded into its
// first layer (a dense layer or an unpadded convolution; onnx.Normalize). An -o ending in
// .onnx writes ONNX (fp32, fp16, QDQ for static integer models, MatMulInteger for dynamic
// ones), anything else tinyq's safetensors file. Without -bits the model keeps its own
// precision (the command converts: any tinyq model to ONNX, an ONNX model to an fp32
// safetensors file), except that a tinyq float file written as safetensors is quantized at
// 8 bits, as the command always did.
//
// It does what cmd/mnist's PTQ rows do, on a file: the same calibration images (the first
// -calibration training images, 1,024 by default), the same choice of calibration method
// (ptq.Choose: MinMax at 8 bits; below 8 bits MinMax, Percentile and MSE, each with min/max and
// with MSE-clipped weight ranges when weights are below 8 bits, the one whose logits
// are closest to the float model's on the last -validation training images, never those
// calibrated on), so that the float file saved by `mnist -save DIR` quantizes here to
// DIR/ptq-w8a8-static.safetensors byte for byte (with -train-limit as that run had it). The
// integer file carries the float file's input record and training record.
//
// -bits is N (N-bit weights and activations) or W/A (for example 4/8), each 2 to 8; dynamic
// mode quantizes activations to 8 bits per row at run time, so it takes N or W/8.
// -calibration-dir DIR calibrates on the images in DIR instead (every regular file whose
// name does not begin with "."; in name order), each prepared as cmd/classify prepares an
// image (package imageprep); the first -calibration of them are calibrated on and the last
// -validation of the others choose the method.
//
// The test accuracy is printed as NN.NN% when the MNIST data is found (see -data). Errors are
// one line on stderr; a bad flag exits 2, any other failure 1, and -o is written atomically
// (a failure leaves any previous file as it was).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"tinyq/imageprep"
	"tinyq/infer"
	"tinyq/internal/atomicfile"
	"tinyq/mnist"
	"tinyq/modelfile"
	"tinyq/onnx"
	"tinyq/ptq"
	"tinyq/qkernel"
	"tinyq/quant"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = "usage: quantize -model MODEL.safetensors|MODEL.onnx [-bits N|W/A] [-mode static|dynamic] [-granularity per-channel|per-tensor] [-calibration N] [-calibration-dir DIR] [-input WxH] [-pixel-divisor D] [-input-mean M -input-std S] -o OUT.safetensors|OUT.onnx"

// options are the parsed, checked flags.
type options struct {
	model, out, dataDir, calibDir string
	cfg                           ptq.Config
	calibration, validation       int
	trainLimit                    int
	// convert: no -bits and an ONNX -model or -o: the model is written in its own precision.
	convert bool
	// input: -input and -pixel-divisor for an ONNX -model (zero fields: as the file says).
	input infer.Input
	// mean, std: -input-mean and -input-std for an ONNX -model (normalize: either was given).
	mean, std float32
	normalize bool
}

// isONNX reports whether path names an ONNX file (extension .onnx, in any case).
func isONNX(path string) bool { return strings.EqualFold(filepath.Ext(path), ".onnx") }

// usageError is a bad flag or flag value: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// run is the whole command; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil {
		err = quantize(o, stdout)
	}
	if err == nil {
		return 0
	}
	msg := strings.ReplaceAll(strings.TrimPrefix(err.Error(), "quantize: "), "\n", "; ")
	fmt.Fprintln(stderr, "quantize: "+msg)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("quantize", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o options
	var bits, mode, gran, input string
	fs.StringVar(&o.model, "model", "", "model file: a float model (fp32 or fp16 .safetensors) saved by tinyq, or a float ONNX model (.onnx); to convert without -bits, any tinyq model")
	fs.StringVar(&o.out, "o", "", "model file to write: .onnx writes ONNX, anything else a tinyq .safetensors file")
	fs.StringVar(&bits, "bits", "", "bit widths: N (weights and activations N bits) or W/A (e.g. 4/8), each 2 to 8 (default: 8 for a tinyq float file written as safetensors; otherwise the model keeps its precision)")
	fs.StringVar(&input, "input", "", "an ONNX -model's input image as WxH pixels (default: as the file says, else 28x28 for 784 inputs)")
	fs.Func("pixel-divisor", "an ONNX -model's input is pixel/D (default: as the file says, else 255)", func(v string) error {
		d, err := strconv.ParseFloat(v, 32)
		if err != nil || !(d > 0) || math.IsInf(d, 0) {
			return fmt.Errorf("want a number > 0")
		}
		o.input.PixelDivisor = float32(d)
		return nil
	})
	o.std = 1
	fs.Func("input-mean", "an ONNX -model trained on (pixel/D - mean)/std (torchvision's Normalize): the mean, folded into its first layer (default 0)", func(v string) error {
		d, err := strconv.ParseFloat(v, 32)
		if err != nil || math.IsNaN(d) || math.IsInf(d, 0) {
			return fmt.Errorf("want a finite number")
		}
		o.mean = float32(d)
		return nil
	})
	fs.Func("input-std", "an ONNX -model trained on (pixel/D - mean)/std: the std, folded into its first layer (default 1)", func(v string) error {
		d, err := strconv.ParseFloat(v, 32)
		if err != nil || !(d > 0) || math.IsInf(d, 0) {
			return fmt.Errorf("want a number > 0")
		}
		o.std = float32(d)
		return nil
	})
	fs.StringVar(&mode, "mode", "static", "activation scales: static (calibrated offline) or dynamic (per row at run time)")
	fs.StringVar(&gran, "granularity", "per-channel", "weight scales: per-channel (one per output) or per-tensor (one per layer)")
	fs.IntVar(&o.calibration, "calibration", ptq.DefaultCalibrationSize, "number of images to calibrate on (the first ones)")
	fs.IntVar(&o.validation, "validation", ptq.DefaultValidationSize, "below 8 bits: number of other images (the last ones) on which the calibration method is chosen; 0: MinMax")
	fs.StringVar(&o.calibDir, "calibration-dir", "", "calibrate on the images in this directory (prepared as cmd/classify prepares them) instead of MNIST's training images")
	fs.StringVar(&o.dataDir, "data", "", "MNIST directory (default: $TINYQ_MNIST_DIR, then the GoMNIST module in the Go module cache)")
	fs.IntVar(&o.trainLimit, "train-limit", 0, "use only the first N MNIST training images, as cmd/mnist -train-limit (0: all 60,000)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, usage+"\n\nQuantizes a saved float model to integers (post-training quantization) and prints its MNIST test accuracy.\n\nFlags:")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return o, err
		}
		return o, usageError{err.Error()}
	}
	if err := qkernel.RequestError(); err != nil {
		return o, usageError{err.Error()}
	}
	switch {
	case fs.NArg() > 0:
		return o, usagef("unexpected argument %q (flags only; %s)", fs.Arg(0), usage)
	case o.model == "":
		return o, usagef("-model FILE is required (%s)", usage)
	case o.out == "":
		return o, usagef("-o FILE is required (%s)", usage)
	case o.calibration < 1:
		return o, usagef("-calibration %d: want at least 1 image", o.calibration)
	case o.validation < 0:
		return o, usagef("-validation %d: want 0 or more images", o.validation)
	case o.trainLimit < 0:
		return o, usagef("-train-limit %d: want 0 (all) or a positive count", o.trainLimit)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if (set["input"] || set["pixel-divisor"] || set["input-mean"] || set["input-std"]) && !isONNX(o.model) {
		return o, usagef("-input, -pixel-divisor, -input-mean and -input-std are for an ONNX -model; %s records its own input", o.model)
	}
	o.normalize = set["input-mean"] || set["input-std"]
	if input != "" {
		var w, h int
		if n, err := fmt.Sscanf(input, "%dx%d", &w, &h); err != nil || n != 2 || w <= 0 || h <= 0 || fmt.Sprintf("%dx%d", w, h) != input {
			return o, usagef("-input %q: want WxH, e.g. 28x28", input)
		}
		o.input.Width, o.input.Height = w, h
	}
	if samePath(o.model, o.out) {
		return o, usagef("-o %s names the same file as -model %s: it would be overwritten; give -o another path", o.out, o.model)
	}
	if bits == "" {
		if isONNX(o.model) || isONNX(o.out) {
			for _, f := range []string{"mode", "granularity", "calibration", "calibration-dir", "validation", "train-limit"} {
				if set[f] {
					return o, usagef("-%s needs -bits: without it the model is converted in its own precision, not quantized", f)
				}
			}
			o.convert = true
			return o, nil
		}
		bits = "8" // a tinyq float file written as safetensors: quantized, as always
	}
	m, err := infer.ParseMode(mode)
	if err != nil {
		return o, usagef("-mode %q: want static or dynamic", mode)
	}
	w, err := quant.ParseWidths(bits)
	if err != nil {
		return o, usagef("-bits %q: %v", bits, err)
	}
	if m == infer.Dynamic {
		if strings.Contains(bits, "/") && w.Activation != 8 {
			return o, usagef("-bits %q: dynamic mode quantizes activations to 8 bits at run time; give -bits %d or %d/8", bits, w.Weight, w.Weight)
		}
		w.Activation = 8
	}
	o.cfg = ptq.Spec(m, w.Weight, w.Activation)
	switch gran {
	case "per-channel":
	case "per-tensor":
		o.cfg = o.cfg.PerTensor()
	default:
		return o, usagef("-granularity %q: want per-channel or per-tensor", gran)
	}
	if err := o.cfg.Validate(); err != nil {
		return o, usagef("-bits %q: %v", bits, err)
	}
	return o, nil
}

// samePath reports whether a and b name the same file: the same absolute path after
// symbolic links (a link at b as atomicfile follows it), or, for existing files, the same
// file (os.SameFile: hard links).
func samePath(a, b string) bool {
	resolve := func(p string) string {
		if t, err := atomicfile.Target(p); err == nil {
			p = t
		}
		dir, name := filepath.Split(p)
		if r, err := filepath.EvalSymlinks(p); err == nil {
			dir, name = filepath.Split(r)
		} else if r, err := filepath.EvalSymlinks(filepath.Clean(dir + ".")); err == nil {
			dir = r
		}
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		return filepath.Join(dir, name)
	}
	if resolve(a) == resolve(b) {
		return true
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// quantize reads the model, calibrates, converts, writes and evaluates (or, with
// o.convert, writes the model as it is and evaluates that).
func quantize(o options, stdout io.Writer) error {
	if err := atomicfile.Probe(o.out); err != nil {
		return fmt.Errorf("-o %s: cannot write there: %w", o.out, err)
	}
	model, training, err := loadModel(o)
	if err != nil {
		return err
	}
	fm, _ := model.(*infer.FloatModel)
	in, classes := model.Shape()
	rec := model.Input()
	mnistShaped := rec.Width == imageprep.Size && rec.Height == imageprep.Size && classes == 10
	static := !o.convert && o.cfg.Mode == ptq.Static

	// MNIST: the calibration images unless -calibration-dir, and the test set.
	var trainSet, testSet *mnist.Set
	var noTest string // why the test accuracy is not measured
	needMNIST := static && o.calibDir == ""
	switch {
	case !mnistShaped && needMNIST:
		return fmt.Errorf("-model %s: the model maps %dx%d-pixel images to %d classes, MNIST calibration needs 28x28 to 10; give -calibration-dir", o.model, rec.Width, rec.Height, classes)
	case !mnistShaped:
		noTest = fmt.Sprintf("the model maps %dx%d-pixel images to %d classes, not MNIST's 28x28 to 10", rec.Width, rec.Height, classes)
	default:
		dir, err := mnist.Locate(o.dataDir)
		if err == nil {
			trainSet, testSet, err = mnist.Load(dir)
		}
		if err != nil {
			if needMNIST || o.dataDir != "" {
				return err
			}
			noTest = err.Error()
			break
		}
		if o.trainLimit > 0 && o.trainLimit < trainSet.N {
			trainSet = trainSet.Slice(0, o.trainLimit)
		}
		// MNIST's images hold pixel/255; the model reads pixels as its record says.
		for _, s := range []*mnist.Set{trainSet, testSet} {
			if err := infer.Repixel(model, s.Images); err != nil {
				return err
			}
		}
	}
	if o.convert {
		return convert(o, model, training, testSet, noTest, stdout)
	}

	var calib, val []float32
	source := "MNIST training images"
	if static {
		images, n := []float32(nil), 0
		if o.calibDir != "" {
			if images, err = dirImages(fm, o.calibDir); err != nil {
				return err
			}
			source = "images of " + o.calibDir
		} else {
			images = trainSet.Images
		}
		n = len(images) / in
		ncal, nval := ptq.HeldOut(n, o.calibration, o.validation)
		calib, val = images[:ncal*in], images[(n-nval)*in:]
	}
	c, err := ptq.Choose(fm, o.cfg, calib, val)
	if err != nil {
		return err
	}
	name := o.cfg.Name()
	if static {
		note := fmt.Sprintf("%s: calibrated on %d %s with %s", name, c.Calibrated, source, c.Model.Calibration)
		if len(c.Scores) > 0 {
			var tried []string
			for _, s := range c.Scores {
				tried = append(tried, fmt.Sprintf("%s %.4f", s.Method(), s.MSE))
			}
			note += fmt.Sprintf(", the smallest logit MSE against the float model on %d others (%s)", c.Validated, strings.Join(tried, ", "))
		}
		fmt.Fprintln(stdout, note)
	} else {
		fmt.Fprintf(stdout, "%s: activation scales per row at run time\n", name)
	}
	if isONNX(o.out) {
		if err := onnx.Save(o.out, c.Model); err != nil {
			return err
		}
	} else if err := infer.SaveInt(o.out, c.Model, training); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d weight bytes)\n", o.out, c.Model.WeightBytes())
	if testSet == nil {
		fmt.Fprintf(stdout, "test accuracy not measured: %s\n", noTest)
		return nil
	}
	// The accuracy of what was written: the file read back (an integer ONNX file: the model
	// it holds, in tinyq's runtime).
	var written infer.Model = c.Model
	if !isONNX(o.out) {
		if written, err = infer.LoadInt(o.out); err != nil {
			return err
		}
	}
	accFloat, err := infer.Evaluate(fm, testSet.Images, testSet.Labels)
	if err != nil {
		return fmt.Errorf("-model %s: %w", o.model, err)
	}
	acc, err := infer.Evaluate(written, testSet.Images, testSet.Labels)
	if err != nil {
		return fmt.Errorf("%s: %w", o.out, err)
	}
	how := ""
	if isONNX(o.out) {
		how = "; the model written as ONNX, run by tinyq's runtime"
	}
	fmt.Fprintf(stdout, "%s: %.2f%% on the %d MNIST test images (the float model: %.2f%%%s)\n", name, acc, testSet.N, accFloat, how)
	return nil
}

// loadModel reads -model: an ONNX file (imported as a float model, its input as -input and
// -pixel-divisor say), or a tinyq file (a float model; to convert, any model). It returns the
// model and the tinyq file's training record, which the written file carries on.
func loadModel(o options) (infer.Model, string, error) {
	if !isONNX(o.model) {
		return loadFloat(o.model, o.convert)
	}
	m, err := onnx.Load(o.model)
	if err != nil {
		return nil, "", fmt.Errorf("-model: %w", err)
	}
	rec := m.Input()
	if o.input.Width != 0 {
		rec.Width, rec.Height = o.input.Width, o.input.Height
	}
	if o.input.PixelDivisor != 0 {
		rec.PixelDivisor = o.input.PixelDivisor
	}
	if err := m.SetInput(rec); err != nil {
		return nil, "", fmt.Errorf("-input %dx%d, -pixel-divisor %v for %s: %w", rec.Width, rec.Height, rec.PixelDivisor, o.model, err)
	}
	if o.normalize {
		if m, err = onnx.Normalize(m, o.mean, o.std); err != nil {
			return nil, "", fmt.Errorf("-input-mean %v, -input-std %v for %s: %w", o.mean, o.std, o.model, err)
		}
	}
	return m, "", nil
}

// convert writes m in its own precision (ONNX, or an ONNX model as a tinyq float file) and
// prints the test accuracy of the file read back.
func convert(o options, m infer.Model, training string, testSet *mnist.Set, noTest string, stdout io.Writer) error {
	var err error
	if isONNX(o.out) {
		err = onnx.Save(o.out, m)
	} else {
		err = infer.SaveFloat(o.out, m.(*infer.FloatModel), training) // loadModel: an ONNX model is float
	}
	if err != nil {
		return err
	}
	format := "a tinyq safetensors file"
	if isONNX(o.out) {
		format = fmt.Sprintf("ONNX opset %d", onnx.ExportOpset)
	}
	fmt.Fprintf(stdout, "wrote %s (%s as %s, %d weight bytes)\n", o.out, m.Name(), format, m.WeightBytes())
	if testSet == nil {
		fmt.Fprintf(stdout, "test accuracy not measured: %s\n", noTest)
		return nil
	}
	// The accuracy of what was written: a float file read back; an integer or QAT model
	// written as ONNX, the model it holds in tinyq's runtime.
	written := m
	if _, float := m.(*infer.FloatModel); float && (!isONNX(o.out) || m.(*infer.FloatModel).Sim == nil) {
		if isONNX(o.out) {
			written, err = onnx.Load(o.out)
		} else {
			written, err = infer.Load(o.out)
		}
		if err != nil {
			return err
		}
	}
	acc, err := infer.Evaluate(written, testSet.Images, testSet.Labels)
	if err != nil {
		return fmt.Errorf("%s: %w", o.out, err)
	}
	how := ""
	if written == m {
		how = " (the model written, run by tinyq's runtime)"
	}
	fmt.Fprintf(stdout, "%s: %.2f%% on the %d MNIST test images%s\n", m.Name(), acc, testSet.N, how)
	return nil
}

// loadFloat reads a float model file (fp32 or fp16) and its training record, which the
// integer file carries on; any other kind is refused naming what it is, but that with any
// set an integer or QAT model is read too (to be converted as it is).
func loadFloat(path string, any bool) (infer.Model, string, error) {
	f, err := modelfile.Read(path)
	if err != nil {
		return nil, "", fmt.Errorf("-model: %w", err)
	}
	info, err := modelfile.ReadInfo(f, modelfile.Float, modelfile.QAT, modelfile.Int, modelfile.Checkpoint, modelfile.QATCheckpoint)
	if err != nil {
		return nil, "", fmt.Errorf("-model %s: %w", path, err)
	}
	switch {
	case info.Kind == modelfile.Float, any && (info.Kind == modelfile.Int || info.Kind == modelfile.QAT):
	case info.Kind == modelfile.Int:
		return nil, "", fmt.Errorf("-model %s: already an integer model; want a float (fp32 or fp16) model", path)
	case info.Kind == modelfile.QAT:
		return nil, "", fmt.Errorf("-model %s: a QAT model, whose integer model comes from its own ranges (cmd/mnist -qat saves it as qat-*-int); want a float (fp32 or fp16) model", path)
	default:
		return nil, "", fmt.Errorf("-model %s: a training checkpoint (kind %q); want a float model saved by cmd/mnist -save", path, info.Kind)
	}
	m, err := infer.Decode(f)
	if err != nil {
		return nil, "", fmt.Errorf("-model %s: %w", path, err)
	}
	return m, info.Training, nil
}

// dirImages reads every image of dir (regular files whose names do not begin with ".", in
// name order), prepares each as cmd/classify does (imageprep.MNIST) and returns them as m's
// input, [n, in].
func dirImages(m *infer.FloatModel, dir string) ([]float32, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("-calibration-dir: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var pixels []uint8
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		img, err := imageprep.DecodeFile(path)
		if err != nil {
			return nil, fmt.Errorf("-calibration-dir: %w", err)
		}
		px, err := imageprep.MNIST(img)
		if err != nil {
			return nil, fmt.Errorf("-calibration-dir: %s: %w", path, err)
		}
		pixels = append(pixels, px...)
	}
	if len(pixels) == 0 {
		return nil, fmt.Errorf("-calibration-dir %s: no images", dir)
	}
	x, err := infer.Pixels(m, pixels)
	if err != nil {
		return nil, fmt.Errorf("-calibration-dir %s: %w", dir, err)
	}
	return x, nil
}
