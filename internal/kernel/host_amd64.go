//go:build amd64 && gc && !purego

package kernel

import "golang.org/x/sys/cpu"

// hostSupport reads this CPU's features.
func hostSupport() Support {
	return Features{
		AVX2: cpu.X86.HasAVX2, FMA: cpu.X86.HasFMA, AVXVNNI: cpu.X86.HasAVXVNNI,
		AVX512F: cpu.X86.HasAVX512F, AVX512BW: cpu.X86.HasAVX512BW, AVX512VL: cpu.X86.HasAVX512VL,
		AVX512VNNI: cpu.X86.HasAVX512VNNI,
	}.Support()
}
