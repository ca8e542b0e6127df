//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"image"
	"syscall/js"

	"tinyq/imageprep"
)

// main registers globalThis.tinyqGo and waits forever: the page calls its functions.
// Each returns a plain object; a failure is {error: message, noDigit, unknownFormat} (the
// image has no ink; prepareFile does not know its format), which tinyq.js throws as an Error.
//
//	load(name, bytes Uint8Array)           -> {name, kind, weightBytes}
//	models()                               -> [{name, kind, weightBytes}, ...] smallest first
//	classify(name, pixels Uint8Array(784)) -> {class, confidence, probabilities: [10 numbers]}
//	prepare(data Uint8ClampedArray, width, height) -> Uint8Array(784)
//	prepareFile(bytes Uint8Array)          -> Uint8Array(784)
func main() {
	var ms Models
	api := js.Global().Get("Object").New()
	api.Set("load", fn(func(args []js.Value) (any, error) {
		name, err := stringArg(args, 0, "name")
		if err != nil {
			return nil, err
		}
		data, err := bytesArg(args, 1, "bytes")
		if err != nil {
			return nil, err
		}
		info, err := ms.Load(name, data)
		if err != nil {
			return nil, err
		}
		return infoValue(info), nil
	}))
	api.Set("models", fn(func([]js.Value) (any, error) {
		var list []any
		for _, info := range ms.Infos() {
			list = append(list, infoValue(info))
		}
		return list, nil
	}))
	api.Set("classify", fn(func(args []js.Value) (any, error) {
		name, err := stringArg(args, 0, "name")
		if err != nil {
			return nil, err
		}
		px, err := bytesArg(args, 1, "pixels")
		if err != nil {
			return nil, err
		}
		p, err := ms.Classify(name, px)
		if err != nil {
			return nil, err
		}
		probs := make([]any, len(p.Probabilities))
		for i, v := range p.Probabilities {
			probs[i] = float64(v) // exact: every float32 is a float64
		}
		return map[string]any{"class": p.Class, "confidence": float64(p.Confidence()), "probabilities": probs}, nil
	}))
	api.Set("prepare", fn(func(args []js.Value) (any, error) {
		data, err := bytesArg(args, 0, "data")
		if err != nil {
			return nil, err
		}
		if len(args) < 3 || args[1].Type() != js.TypeNumber || args[2].Type() != js.TypeNumber {
			return nil, fmt.Errorf("demo: prepare: want (data, width, height)")
		}
		px, err := PrepareRGBA(data, args[1].Int(), args[2].Int())
		if err != nil {
			return nil, err
		}
		return bytesValue(px), nil
	}))
	api.Set("prepareFile", fn(func(args []js.Value) (any, error) {
		data, err := bytesArg(args, 0, "bytes")
		if err != nil {
			return nil, err
		}
		px, err := PrepareFile(data)
		if err != nil {
			return nil, err
		}
		return bytesValue(px), nil
	}))
	js.Global().Set("tinyqGo", api)
	select {}
}

// fn wraps f as a JavaScript function that returns f's value, or {error} (and noDigit)
// for an error; a panic (a bug) becomes an error too, so that the page never loses the
// runtime.
func fn(f func(args []js.Value) (any, error)) js.Func {
	return js.FuncOf(func(_ js.Value, args []js.Value) (result any) {
		defer func() {
			if r := recover(); r != nil {
				result = map[string]any{"error": fmt.Sprintf("demo: internal error: %v", r)}
			}
		}()
		v, err := f(args)
		if err != nil {
			return map[string]any{"error": err.Error(), "noDigit": errors.Is(err, imageprep.ErrNoDigit), "unknownFormat": errors.Is(err, image.ErrFormat)}
		}
		return v
	})
}

func stringArg(args []js.Value, i int, what string) (string, error) {
	if len(args) <= i || args[i].Type() != js.TypeString {
		return "", fmt.Errorf("demo: argument %d (%s) must be a string", i+1, what)
	}
	return args[i].String(), nil
}

// bytesArg copies a Uint8Array or Uint8ClampedArray argument into Go memory.
func bytesArg(args []js.Value, i int, what string) ([]byte, error) {
	if len(args) <= i || !(args[i].InstanceOf(js.Global().Get("Uint8Array")) || args[i].InstanceOf(js.Global().Get("Uint8ClampedArray"))) {
		return nil, fmt.Errorf("demo: argument %d (%s) must be a Uint8Array", i+1, what)
	}
	b := make([]byte, args[i].Get("length").Int())
	js.CopyBytesToGo(b, args[i])
	return b, nil
}

func bytesValue(b []byte) js.Value {
	v := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(v, b)
	return v
}

func infoValue(info Info) map[string]any {
	return map[string]any{"name": info.Name, "kind": info.Kind, "weightBytes": info.WeightBytes}
}
