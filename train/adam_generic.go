//go:build !amd64 || !gc || purego

package train

// adamStep applies adamGo's update (no assembly in this build).
func adamStep(p, g, m, v []float32, alpha, eps float32) { adamGo(p, g, m, v, alpha, eps) }
