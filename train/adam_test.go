package train

import (
	"math"
	"math/rand"
	"testing"
)

// TestAdamPaths checks that adamStep (AVX-512 where available) equals adamGo bit for bit, on
// lengths that are not multiples of 16, over several steps.
func TestAdamPaths(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, n := range []int{1, 15, 16, 17, 100, 1000} {
		p := make([]float32, n)
		g := make([]float32, n)
		for i := range p {
			p[i] = float32(rng.NormFloat64())
		}
		p2 := append([]float32(nil), p...)
		m, v := make([]float32, n), make([]float32, n)
		m2, v2 := make([]float32, n), make([]float32, n)
		for step := range 5 {
			for i := range g {
				g[i] = float32(rng.NormFloat64()) * float32(math.Pow(10, float64(rng.Intn(8)-6)))
			}
			alpha := float32(0.001 * float64(step+1))
			adamStep(p, g, m, v, alpha, adamEps)
			adamGo(p2, g, m2, v2, alpha, adamEps)
			for i := range p {
				if math.Float32bits(p[i]) != math.Float32bits(p2[i]) || m[i] != m2[i] || v[i] != v2[i] {
					t.Fatalf("n=%d step %d: element %d: adamStep p=%v m=%v v=%v, adamGo p=%v m=%v v=%v", n, step, i, p[i], m[i], v[i], p2[i], m2[i], v2[i])
				}
			}
		}
	}
	// Zero gradients after one step: m decays by 0.9 a step through adamTiny to exactly 0,
	// never into subnormals, on both paths alike; v (0.999 a step) stays above it.
	n := 37
	p, g := make([]float32, n), make([]float32, n)
	m, v, m2, v2 := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range g {
		g[i] = float32(rng.NormFloat64()) * 1e-3
	}
	p2 := append([]float32(nil), p...)
	for step := range 900 {
		adamStep(p, g, m, v, 1e-3, adamEps)
		adamGo(p2, g, m2, v2, 1e-3, adamEps)
		clear(g)
		for i := range p {
			if math.Float32bits(p[i]) != math.Float32bits(p2[i]) || m[i] != m2[i] || v[i] != v2[i] {
				t.Fatalf("zero gradients, step %d: element %d differs: %v %v %v, %v %v %v", step, i, p[i], m[i], v[i], p2[i], m2[i], v2[i])
			}
			if m[i] != 0 && math.Abs(float64(m[i])) < adamTiny || v[i] != 0 && float64(v[i]) < adamTiny {
				t.Fatalf("step %d: element %d: moments %v, %v below adamTiny", step, i, m[i], v[i])
			}
		}
	}
	for i := range m {
		if m[i] != 0 || v[i] == 0 {
			t.Fatalf("after 900 steps without gradient: m %v, v %v; want m 0, v > 0", m[i], v[i])
		}
	}
}
