package onnx_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"tinyq/onnx"
	"tinyq/ptq"
)

// ExampleLoad imports a CNN that PyTorch exported (Conv, BatchNormalization, Relu, MaxPool,
// Flatten, Gemm): BatchNorm is folded into the convolutions.
func ExampleLoad() {
	m, err := onnx.Load(filepath.Join("testdata", "cnn_bn.onnx"))
	if err != nil {
		log.Fatal(err)
	}
	in, classes := m.Shape()
	fmt.Println(m.Name(), in, "->", classes)
	fmt.Println(m.Arch())
	fmt.Printf("%+v\n", m.Input())
	// Output:
	// fp32 784 -> 10
	// conv(8,5,pad=2),relu,maxpool(2),conv(16,5,pad=2),relu,maxpool(2),flatten,dense(32),relu,dense(10)
	// {Width:28 Height:28 PixelDivisor:255}
}

// ExampleSave quantizes an imported MLP to W8A8 (calibrating on a few images) and writes it
// as a QDQ ONNX model.
func ExampleSave() {
	m, err := onnx.Load(filepath.Join("testdata", "mlp.onnx"))
	if err != nil {
		log.Fatal(err)
	}
	calib := make([]float32, 64*784)
	for k := range calib {
		calib[k] = float32(k*37%256) / 255
	}
	c, err := ptq.Choose(m, ptq.Spec(ptq.Static, 8, 8), calib, nil)
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "onnx-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "w8a8.onnx")
	if err := onnx.Save(path, c.Model); err != nil {
		log.Fatal(err)
	}
	p, err := onnx.Read(path)
	if err != nil {
		log.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range p.GetGraph().GetNode() {
		ops[n.GetOpType()]++
	}
	fmt.Println(p.GetProducerName(), "opset", p.GetOpsetImport()[0].GetVersion())
	fmt.Println(ops)
	// Output:
	// tinyq opset 13
	// map[DequantizeLinear:9 Flatten:1 Gemm:3 QuantizeLinear:3 Relu:2]
}
