//go:build amd64 && !purego

package qkernel

import "golang.org/x/sys/cpu"

func supported() []Path {
	s := []Path{Generic}
	if cpu.X86.HasAVX2 {
		s = append(s, AVX2)
		if cpu.X86.HasAVXVNNI {
			s = append(s, AVXVNNI)
		}
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI {
		s = append(s, AVX512VNNI)
	}
	return s
}
