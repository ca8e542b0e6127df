package qkernel

import (
	"fmt"

	"tinyq/internal/kernel"
)

// Path is one implementation of the integer kernels.
type Path int

const (
	// Generic is the pure-Go path every CPU and architecture runs (SWAR, zero skipping).
	Generic Path = iota
	// AVX2 uses 256-bit integer multiply-adds (VPMADDWD on int16-widened operands, exact).
	AVX2
	// AVXVNNI uses VPDPBUSD on 256-bit registers (VEX-encoded AVX-VNNI, for CPUs without
	// AVX-512); element-wise stages use the AVX2 code.
	AVXVNNI
	// AVX512VNNI uses VPDPBUSD on 512-bit registers: u8 activations x s8 weights, four
	// products summed into each int32 lane per instruction.
	AVX512VNNI
)

// String returns the path's name as TINYQ_KERNEL spells it: "generic", "avx2", "avxvnni",
// "avx512vnni".
func (p Path) String() string {
	switch p {
	case Generic:
		return "generic"
	case AVX2:
		return "avx2"
	case AVXVNNI:
		return "avxvnni"
	case AVX512VNNI:
		return "avx512vnni"
	}
	return fmt.Sprintf("Path(%d)", int(p))
}

// allPaths is every path, slowest first, supported here or not.
var allPaths = []Path{Generic, AVX2, AVXVNNI, AVX512VNNI}

// ParsePath parses a path name.
func ParsePath(s string) (Path, error) {
	for _, p := range allPaths {
		if s == p.String() {
			return p, nil
		}
	}
	return 0, fmt.Errorf("qkernel: kernel %q, want generic, avx2, avxvnni or avx512vnni", s)
}

// Supported returns the paths this CPU and build can run, fastest last. With the purego
// build tag, or on another architecture, it is only Generic.
func Supported() []Path { return pathsOf(kernel.Host().Int) }

// pathsOf returns the paths of the names, which tinyq/internal/kernel gives (it reads the
// CPU features and TINYQ_KERNEL for this package and tinyq/gemm).
func pathsOf(names []string) []Path {
	ps := make([]Path, len(names))
	for i, n := range names {
		p, err := ParsePath(n)
		if err != nil {
			panic(err) // internal/kernel and allPaths disagree: a bug
		}
		ps[i] = p
	}
	return ps
}

// active is the path in use: the fastest supported one, or TINYQ_KERNEL's choice, decided
// once at start (by tinyq/internal/kernel, for this package and tinyq/gemm). It is the
// package's only mutable state, and only tests change it afterwards.
var active = func() Path {
	c, _ := kernel.Selected()
	return pathsOf([]string{c.Int})[0]
}()

// RequestError reports a TINYQ_KERNEL setting that could not be honoured, for the integer
// paths or the float paths of tinyq/gemm (one variable picks both: see ActivePath); the kernels
// then run on the fastest supported paths. Commands refuse to run with one, so that a
// benchmark never silently measures another path. It is nil when the variable is unset or
// honoured. The variable takes a name of either family (float: generic, avx2, avx512;
// integer: generic, avx2, avxvnni, avx512vnni) and picks the other family's path of the
// same register width: avx512 runs avx512vnni (or, on an AVX-512 CPU without VNNI, the
// fastest narrower integer path), avxvnni runs float avx2, avx512vnni float avx512.
func RequestError() error {
	_, err := kernel.Selected()
	return err
}

// ActivePath returns the path the kernels use in this process, e.g. AVX512VNNI (as
// gemm.ActivePath does for the float kernels). Results are the same on every path, bit for
// bit.
func ActivePath() Path { return active }
