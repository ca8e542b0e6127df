// Package crosstest holds the tests that cross floors: a model built or trained by the
// training stack (nn, train, qat, ptq) is saved and read back by the runtime (infer) or by
// the training stack itself, and must give the same parameters and logits. It has no code
// of its own, only tests, so that the ground floor's tests (infer, modelfile, quant,
// qkernel, gemm, safetensors, imageprep) link none of the training stack
// (cmd/classify's TestDependencies checks `go list -test -deps` of them).
//
// It also writes the runtime's committed test files (infer/testdata) from the training
// stack and checks that today's writers still produce them byte for byte:
//
//	go test ./crosstest -run TestInferTestdata -update
package crosstest
