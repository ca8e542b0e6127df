//go:build ignore

// Prints the kernel paths this machine uses, for scripts/bench.sh.
package main

import (
	"fmt"

	"tinyq/gemm"
	"tinyq/qkernel"
)

func main() {
	fmt.Printf("integer %s (supported: %v), float %s\n", qkernel.ActivePath(), qkernel.Supported(), gemm.ActivePath())
}
