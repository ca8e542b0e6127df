// Package onnxpb is the Go code protoc generates from ONNX's own onnx.proto (the copy in this
// directory, unchanged): the protobuf messages of an ONNX model (ModelProto, GraphProto,
// NodeProto, TensorProto, ...). Package tinyq/onnx reads and writes models with it; nothing
// else of tinyq imports it, so the runtime and cmd/classify stay free of protobuf.
//
// Provenance (regenerate with `go generate` in this directory after replacing onnx.proto):
//
//   - onnx.proto: ONNX v1.12.0 (IR version 8, opsets up to 17), as Debian 12's python3-onnx
//     1.12.0-2+b4 ships it (/usr/lib/python3/dist-packages/onnx/onnx.proto), sha256
//     a96f50c0fe1ff9180b6025843d4f7efcf53b024c83db55a36cd24a1e44345182; the file of the
//     v1.12.0 tag of github.com/onnx/onnx, onnx/onnx.proto (Apache-2.0).
//   - protoc: libprotoc 3.21.12 (Debian 12's protobuf-compiler).
//   - protoc-gen-go: google.golang.org/protobuf/cmd/protoc-gen-go v1.36.12
//     (go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12).
package onnxpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go_opt=Monnx.proto=tinyq/onnx/onnxpb onnx.proto
