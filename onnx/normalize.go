package onnx

import (
	"fmt"
	"math"

	"tinyq/arch"
	"tinyq/infer"
)

// Normalize returns m with an input normalization folded into its first layer, so that the
// returned model reading x computes what m computes reading (x - mean)/std: the
// preprocessing of torchvision's transforms.Normalize((mean,), (std,)) after ToTensor (x =
// pixel/255), which an ONNX file does not record. Per output o of the first layer, in
// float64 rounded once to float32:
//
//	W'[i, o] = W[i, o] / std
//	b'[o]    = b[o] - (mean/std)·Σ_i W[i, o]
//
// This is exact for a dense layer and for a convolution without padding; a padded
// convolution is refused, because its zero padding of the normalized input is the pixel
// value mean, which tinyq's pixel input cannot represent (tinyq pads the pixel input with 0).
// m is not modified; a QAT simulation is refused. The result is fp32.
func Normalize(m *infer.FloatModel, mean, std float32) (*infer.FloatModel, error) {
	if m.Sim != nil {
		return nil, fmt.Errorf("onnx: normalize: %s is a QAT simulation; fold the normalization into its float model", m.Name())
	}
	if !(std > 0) || math.IsInf(float64(std), 0) || math.IsNaN(float64(mean)) || math.IsInf(float64(mean), 0) {
		return nil, fmt.Errorf("onnx: normalize: mean %v, std %v: want finite values and std > 0", mean, std)
	}
	layers := append([]infer.FloatLayer(nil), m.Layers...)
	l := &layers[0]
	if l.Conv != (arch.Window{}) && l.Conv.Pad != 0 {
		return nil, fmt.Errorf("onnx: normalize: layer %s is a convolution with padding %d: it pads the normalized input with 0, the pixel value mean = %v, which a model reading pixels cannot represent (tinyq folds a normalization into a dense layer or an unpadded convolution)", l.Name, l.Conv.Pad, mean)
	}
	w, b := make([]float32, len(l.W)), make([]float32, len(l.B))
	shift := float64(mean) / float64(std)
	for o := 0; o < l.Out; o++ {
		sum := 0.0
		for i := 0; i < l.In; i++ {
			v := float64(l.W[i*l.Out+o])
			sum += v
			w[i*l.Out+o] = float32(v / float64(std))
		}
		b[o] = float32(float64(l.B[o]) - shift*sum)
	}
	l.W, l.B = w, b
	n, err := infer.NewFloatModel(infer.F32, layers, nil)
	if err != nil {
		return nil, fmt.Errorf("onnx: normalize: %w", err)
	}
	if err := n.SetInput(m.Input()); err != nil {
		return nil, fmt.Errorf("onnx: normalize: %w", err)
	}
	return n, nil
}
