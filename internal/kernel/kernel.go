// Package kernel reads TINYQ_KERNEL, the environment variable that picks the SIMD paths of
// tinyq's float kernels (tinyq/gemm, and the element-wise loops of tinyq/autograd and
// tinyq/train, which follow gemm's choice: FloatAVX512) and integer kernels (tinyq/qkernel),
// and says which paths this CPU and build support. It is the one place the variable's names are parsed and
// the CPU features are read, so that both packages accept the same names and refuse the same
// values.
//
// # Names
//
// The float paths are generic, avx2 and avx512; the integer paths are generic, avx2, avxvnni
// and avx512vnni. The variable takes a name of either family. The named path must be
// supported by this CPU and build in every family that has the name (generic and avx2 are
// in both); the other family gets its path of the same register width, or the fastest
// supported narrower one:
//
//	TINYQ_KERNEL   float    integer
//	generic        generic  generic
//	avx2           avx2     avx2
//	avxvnni        avx2     avxvnni
//	avx512         avx512   avx512vnni (else avxvnni, else avx2: AVX-512 CPUs without VNNI)
//	avx512vnni     avx512   avx512vnni
//
// An unknown name, or a path this CPU or build does not support, is an error (Selected):
// the kernels then run on the fastest paths, and the commands refuse to run, so that a
// benchmark never silently measures another path than the one asked for.
package kernel

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// Var is the name of the environment variable.
const Var = "TINYQ_KERNEL"

// Family is a set of kernel paths: the float ones or the integer ones.
type Family int

const (
	// Float is tinyq/gemm's paths.
	Float Family = iota
	// Int is tinyq/qkernel's paths.
	Int
)

// String returns "float" or "integer".
func (f Family) String() string {
	if f == Float {
		return "float"
	}
	return "integer"
}

// width is every path name's register width in bits (0 for the scalar generic path): a name
// of one family picks the other family's path of the same width.
var width = map[string]int{"generic": 0, "avx2": 256, "avxvnni": 256, "avx512": 512, "avx512vnni": 512}

// Names returns every path name of family f, slowest first, supported here or not.
func Names(f Family) []string {
	if f == Float {
		return []string{"generic", "avx2", "avx512"}
	}
	return []string{"generic", "avx2", "avxvnni", "avx512vnni"}
}

// Features are the CPU features the assembly paths need.
type Features struct {
	AVX2, FMA, AVXVNNI                      bool
	AVX512F, AVX512BW, AVX512VL, AVX512VNNI bool
}

// Support lists the paths a CPU and build run, each family slowest first (generic always).
type Support struct {
	Float, Int []string
}

// Of returns the paths family f runs here.
func (s Support) Of(f Family) []string {
	if f == Float {
		return s.Float
	}
	return s.Int
}

// Has reports whether the path name of family f is supported.
func (s Support) Has(f Family, name string) bool { return slices.Contains(s.Of(f), name) }

// Support returns the paths a CPU with these features runs in an amd64 build without the
// purego tag: float avx2 needs AVX2 and FMA, avx512 AVX-512F; integer avx2 needs AVX2,
// avxvnni AVX2 and AVX-VNNI, avx512vnni AVX-512 F, BW, VL and VNNI.
func (c Features) Support() Support {
	s := Support{Float: []string{"generic"}, Int: []string{"generic"}}
	if c.AVX2 && c.FMA {
		s.Float = append(s.Float, "avx2")
	}
	if c.AVX512F {
		s.Float = append(s.Float, "avx512")
	}
	if c.AVX2 {
		s.Int = append(s.Int, "avx2")
		if c.AVXVNNI {
			s.Int = append(s.Int, "avxvnni")
		}
	}
	if c.AVX512F && c.AVX512BW && c.AVX512VL && c.AVX512VNNI {
		s.Int = append(s.Int, "avx512vnni")
	}
	return s
}

// Host returns the paths this CPU and build run: only generic with the purego build tag or
// off amd64.
func Host() Support { return host }

var host = hostSupport()

// Choice is a path of each family.
type Choice struct {
	Float, Int string
}

// Fastest returns the fastest supported path of each family.
func (s Support) Fastest() Choice {
	return Choice{Float: s.Float[len(s.Float)-1], Int: s.Int[len(s.Int)-1]}
}

// Choose returns the paths that the value env of TINYQ_KERNEL picks on a CPU and build with
// support s (see the package documentation): the fastest ones when env is empty. When env
// names no path, or a path s lacks, it returns the fastest paths and an error saying why,
// listing both families' names (unknown) or the supported ones (unsupported).
func Choose(env string, s Support) (Choice, error) {
	best := s.Fastest()
	if env == "" {
		return best, nil
	}
	if _, ok := width[env]; !ok {
		return best, fmt.Errorf("kernel: %s=%q: unknown kernel path; want a float path (%s) or an integer path (%s)",
			Var, env, strings.Join(Names(Float), ", "), strings.Join(Names(Int), ", "))
	}
	var c Choice
	for _, f := range []Family{Float, Int} {
		var p string
		if slices.Contains(Names(f), env) {
			if !s.Has(f, env) {
				return best, fmt.Errorf("kernel: %s=%s: this CPU and build do not support the %s path %s (supported: float %s; integer %s)",
					Var, env, f, env, strings.Join(s.Float, ", "), strings.Join(s.Int, ", "))
			}
			p = env
		} else {
			// The other family's path of the same register width, or the widest narrower
			// one supported (generic, of width 0, always is).
			for _, q := range s.Of(f) {
				if width[q] <= width[env] {
					p = q
				}
			}
		}
		if f == Float {
			c.Float = p
		} else {
			c.Int = p
		}
	}
	return c, nil
}

var selected, selectErr = Choose(os.Getenv(Var), host)

// Selected returns the paths this process uses: Choose applied once at start to the
// variable's value and this CPU and build. A non-nil error is a value that could not be
// honoured (the choice is then the fastest paths); tinyq's commands refuse to run with it.
func Selected() (Choice, error) { return selected, selectErr }

// FloatAVX512 reports whether this process's float path (Selected) is avx512. The AVX-512
// element-wise loops of the training stack (tinyq/autograd's fake quantization, LSQ and ReLU,
// tinyq/train's Adam) run exactly then, so that TINYQ_KERNEL=generic or avx2 turns every
// float AVX-512 loop off at once. Those loops give the pure-Go loops' results bit for bit, so
// the choice changes only speed.
func FloatAVX512() bool { return selected.Float == "avx512" }
