package qkernel

import (
	"fmt"
	"os"
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

// ParsePath parses a path name.
func ParsePath(s string) (Path, error) {
	for _, p := range []Path{Generic, AVX2, AVXVNNI, AVX512VNNI} {
		if s == p.String() {
			return p, nil
		}
	}
	return 0, fmt.Errorf("qkernel: kernel %q, want generic, avx2, avxvnni or avx512vnni", s)
}

// Supported returns the paths this CPU and build can run, fastest last. With the purego
// build tag, or on another architecture, it is only Generic.
func Supported() []Path { return supported() }

// active is the path in use: the fastest supported one, or TINYQ_KERNEL's choice, decided
// once at start; requestErr says why TINYQ_KERNEL could not be honoured. They are the
// package's only mutable state, and only tests change active afterwards.
var active, requestErr = choosePath(os.Getenv("TINYQ_KERNEL"))

// choosePath returns the path named by env (when supported), else the fastest supported one
// and, for a name that is unknown or not supported here, an error saying so.
func choosePath(env string) (Path, error) {
	s := supported()
	best := s[len(s)-1]
	if env == "" {
		return best, nil
	}
	p, err := ParsePath(env)
	if err != nil {
		return best, fmt.Errorf("qkernel: TINYQ_KERNEL=%s: unknown kernel (want generic, avx2, avxvnni or avx512vnni)", env)
	}
	for _, q := range s {
		if q == p {
			return p, nil
		}
	}
	return best, fmt.Errorf("qkernel: TINYQ_KERNEL=%s: this CPU or build supports only %v", env, s)
}

// RequestError reports a TINYQ_KERNEL setting that could not be honoured (the kernels then
// run on the fastest supported path); commands refuse to run with one, so that a benchmark
// never silently measures another path. It is nil when the variable is unset or honoured.
func RequestError() error { return requestErr }

// Kernel returns the path the kernels use in this process, e.g. "avx512vnni". Results are
// the same on every path, bit for bit.
func Kernel() Path { return active }
