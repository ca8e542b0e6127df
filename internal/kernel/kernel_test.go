package kernel

import (
	"slices"
	"strings"
	"testing"
)

// cpus are feature sets of real CPU families, so that the rules are checked for every kind
// of machine whatever the one running the test.
var cpus = []struct {
	name string
	f    Features
}{
	{"no AVX (or purego, or not amd64)", Features{}},
	{"AVX2 without FMA", Features{AVX2: true}},
	{"Haswell (AVX2, FMA)", Features{AVX2: true, FMA: true}},
	{"Alder Lake (AVX-VNNI, no AVX-512)", Features{AVX2: true, FMA: true, AVXVNNI: true}},
	{"Skylake-X (AVX-512 without VNNI)", Features{AVX2: true, FMA: true, AVX512F: true, AVX512BW: true, AVX512VL: true}},
	{"Cascade Lake or Zen 4 (AVX-512 VNNI, no AVX-VNNI)", Features{AVX2: true, FMA: true, AVX512F: true, AVX512BW: true, AVX512VL: true, AVX512VNNI: true}},
	{"Sapphire Rapids (both VNNI)", Features{AVX2: true, FMA: true, AVXVNNI: true, AVX512F: true, AVX512BW: true, AVX512VL: true, AVX512VNNI: true}},
}

// TestSupport checks which paths each CPU family runs.
func TestSupport(t *testing.T) {
	want := [][2][]string{
		{{"generic"}, {"generic"}},
		{{"generic"}, {"generic", "avx2"}},
		{{"generic", "avx2"}, {"generic", "avx2"}},
		{{"generic", "avx2"}, {"generic", "avx2", "avxvnni"}},
		{{"generic", "avx2", "avx512"}, {"generic", "avx2"}},
		{{"generic", "avx2", "avx512"}, {"generic", "avx2", "avx512vnni"}},
		{{"generic", "avx2", "avx512"}, {"generic", "avx2", "avxvnni", "avx512vnni"}},
	}
	for i, c := range cpus {
		s := c.f.Support()
		if !slices.Equal(s.Float, want[i][0]) || !slices.Equal(s.Int, want[i][1]) {
			t.Errorf("%s: float %v, integer %v; want %v, %v", c.name, s.Float, s.Int, want[i][0], want[i][1])
		}
	}
}

// TestChoose checks every value of TINYQ_KERNEL on every CPU family: one vocabulary for both
// families, each name picking the other family's path of the same register width, and an
// error for an unknown name (listing both families) or an unsupported path (naming it). The
// expected choices are written out, not computed. Issue 18, item 15: avx512 was refused by
// qkernel, and gemm silently ignored unknown values.
func TestChoose(t *testing.T) {
	const refused = "refused"
	values := []string{"", "generic", "avx2", "avxvnni", "avx512", "avx512vnni", "bogus", "AVX512", " avx2"}
	// want[cpu][value]: "float/integer", or refused.
	want := [][]string{
		{"generic/generic", "generic/generic", refused, refused, refused, refused, refused, refused, refused},
		{"generic/avx2", "generic/generic", refused, refused, refused, refused, refused, refused, refused},
		{"avx2/avx2", "generic/generic", "avx2/avx2", refused, refused, refused, refused, refused, refused},
		{"avx2/avxvnni", "generic/generic", "avx2/avx2", "avx2/avxvnni", refused, refused, refused, refused, refused},
		{"avx512/avx2", "generic/generic", "avx2/avx2", refused, "avx512/avx2", refused, refused, refused, refused},
		{"avx512/avx512vnni", "generic/generic", "avx2/avx2", refused, "avx512/avx512vnni", "avx512/avx512vnni", refused, refused, refused},
		{"avx512/avx512vnni", "generic/generic", "avx2/avx2", "avx2/avxvnni", "avx512/avx512vnni", "avx512/avx512vnni", refused, refused, refused},
	}
	for i, c := range cpus {
		s := c.f.Support()
		for j, v := range values {
			got, err := Choose(v, s)
			g := got.Float + "/" + got.Int
			if err != nil {
				if got != s.Fastest() {
					t.Errorf("%s: %s=%q refused but chose %s, want the fastest paths", c.name, Var, v, g)
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, "kernel: TINYQ_KERNEL=") || !strings.Contains(msg, strings.TrimSpace(v)) {
					t.Errorf("%s: %s=%q: error %q, want one starting with the variable and naming the value", c.name, Var, v, msg)
				}
				g = refused
			}
			if g != want[i][j] {
				t.Errorf("%s: %s=%q: %s (%v), want %s", c.name, Var, v, g, err, want[i][j])
			}
		}
	}
	_, err := Choose("bogus", Features{}.Support())
	for _, name := range append(Names(Float), Names(Int)...) {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error for an unknown name does not list %s: %v", name, err)
		}
	}
	if want := `kernel: TINYQ_KERNEL="bogus": unknown kernel path; want a float path (generic, avx2, avx512) or an integer path (generic, avx2, avxvnni, avx512vnni)`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	_, err = Choose("avxvnni", cpus[5].f.Support())
	if want := "kernel: TINYQ_KERNEL=avxvnni: this CPU and build do not support the integer path avxvnni (supported: float generic, avx2, avx512; integer generic, avx2, avx512vnni)"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestHost checks that this machine's support is one of the rules' outcomes: generic first,
// every name known, slowest first. It logs the values of TINYQ_KERNEL this machine accepts, on a line .ci/run reads to run
// the kernel tests once per value.
func TestHost(t *testing.T) {
	s := Host()
	t.Logf("this CPU and build: float %v, integer %v", s.Float, s.Int)
	var accepted []string
	for _, v := range append(Names(Float), Names(Int)...) {
		if _, err := Choose(v, s); err == nil && !slices.Contains(accepted, v) {
			accepted = append(accepted, v)
		}
	}
	t.Logf("%s values accepted here: %s", Var, strings.Join(accepted, " "))
	for _, f := range []Family{Float, Int} {
		names := Names(f)
		got := s.Of(f)
		if len(got) == 0 || got[0] != "generic" {
			t.Errorf("%v paths %v: want generic first", f, got)
		}
		last := -1
		for _, n := range got {
			k := slices.Index(names, n)
			if k <= last {
				t.Errorf("%v paths %v: want known names, slowest first (%v)", f, got, names)
			}
			last = k
		}
	}
}
