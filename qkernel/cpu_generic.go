//go:build !amd64 || purego

package qkernel

func supported() []Path { return []Path{Generic} }
