//go:build !(js && wasm)

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "wasm: this is the browser runtime of cmd/demo: build it with GOOS=js GOARCH=wasm (go run ./cmd/demo does)")
	os.Exit(2)
}
