// Command wasm is the runtime of cmd/demo's page: tinyq's infer and imageprep compiled to
// WebAssembly (GOOS=js GOARCH=wasm). On js/wasm it registers its functions on the global
// object tinyqGo, which the page's tinyq.js wraps as window.tinyq; built for another system
// it only says how to build it. cmd/demo builds it; it links no part of the training stack.
//
// The functions of this file are the whole of its logic, plain Go on bytes, so that they
// are tested natively; main_js.go only converts JavaScript values to and from them.
package main

import (
	"bytes"
	"fmt"
	"image"
	"sort"

	"tinyq/imageprep"
	"tinyq/infer"
	"tinyq/quant"
	"tinyq/safetensors"
)

// Info describes a loaded model as window.tinyq.models() lists it.
type Info struct {
	Name        string // the file's name without .safetensors, e.g. "ptq-w8a8-static"
	Kind        string // the runtime's description (infer.Model.Name), e.g. "int w8a8-static"
	WeightBytes int    // the stored size of the parameters (infer.Model.WeightBytes)
}

// Models holds the models of one page by name. It is not safe for concurrent use (a js/wasm
// program has one thread).
type Models struct {
	byName map[string]infer.Model
	infos  []Info
}

// Load decodes a model file's bytes (a safetensors file saved by tinyq) and keeps it under
// name. A model that does not take 28x28 images (imageprep.Size) is refused: the page only
// has such images.
func (ms *Models) Load(name string, data []byte) (Info, error) {
	if name == "" {
		return Info{}, fmt.Errorf("demo: a model needs a name")
	}
	if _, ok := ms.byName[name]; ok {
		return Info{}, fmt.Errorf("demo: model %q is loaded twice", name)
	}
	f, err := safetensors.Decode(data)
	if err != nil {
		return Info{}, fmt.Errorf("demo: model %s: %w", name, err)
	}
	m, err := infer.Decode(f)
	if err != nil {
		return Info{}, fmt.Errorf("demo: model %s: %w", name, err)
	}
	if in := m.Input(); in.Width != imageprep.Size || in.Height != imageprep.Size {
		return Info{}, fmt.Errorf("demo: model %s takes %dx%d inputs, not %dx%d images", name, in.Width, in.Height, imageprep.Size, imageprep.Size)
	}
	if ms.byName == nil {
		ms.byName = map[string]infer.Model{}
	}
	ms.byName[name] = m
	info := Info{Name: name, Kind: m.Name(), WeightBytes: m.WeightBytes()}
	ms.infos = append(ms.infos, info)
	sort.SliceStable(ms.infos, func(i, j int) bool { return ms.infos[i].WeightBytes < ms.infos[j].WeightBytes })
	return info, nil
}

// Infos lists the loaded models, smallest first (ties in loading order).
func (ms *Models) Infos() []Info { return append([]Info(nil), ms.infos...) }

// Classify runs model name on one image of MNIST-prepared pixels (imageprep.Size² bytes,
// 0 background, 255 ink), exactly as cmd/classify does after preparing an image.
func (ms *Models) Classify(name string, pixels []byte) (infer.Prediction, error) {
	m, ok := ms.byName[name]
	if !ok {
		return infer.Prediction{}, fmt.Errorf("demo: no model named %q", name)
	}
	if len(pixels) != imageprep.Size*imageprep.Size {
		return infer.Prediction{}, fmt.Errorf("demo: classify: %d pixels, want %d (%dx%d)", len(pixels), imageprep.Size*imageprep.Size, imageprep.Size, imageprep.Size)
	}
	p, err := infer.PredictPixels(m, pixels)
	if err != nil {
		return infer.Prediction{}, fmt.Errorf("demo: model %s: %w", name, err)
	}
	if !quant.AllFinite(p[0].Probabilities) {
		return infer.Prediction{}, fmt.Errorf("demo: model %s: the outputs are not finite (NaN or infinity): its arithmetic overflowed on this image", name)
	}
	return p[0], nil
}

// PrepareRGBA prepares a canvas's pixels (ImageData: width*height*4 bytes, RGBA not
// premultiplied, row-major) as cmd/classify prepares a decoded image: imageprep.MNIST.
func PrepareRGBA(pix []byte, width, height int) ([]byte, error) {
	if width <= 0 || height <= 0 || len(pix) != 4*width*height {
		return nil, fmt.Errorf("demo: prepare: %d bytes for a %dx%d image, want %d (RGBA)", len(pix), width, height, 4*max(width, 0)*max(height, 0))
	}
	img := &image.NRGBA{Pix: pix, Stride: 4 * width, Rect: image.Rect(0, 0, width, height)}
	return imageprep.MNIST(img)
}

// PrepareFile decodes an image file's bytes (PNG, JPEG with its EXIF orientation, GIF) and
// prepares it: cmd/classify's imageprep.Decode then imageprep.MNIST.
func PrepareFile(data []byte) ([]byte, error) {
	img, err := imageprep.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return imageprep.MNIST(img)
}
