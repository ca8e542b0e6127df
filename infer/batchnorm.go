package infer

import (
	"fmt"
	"math"

	"tinyq/modelfile"
	"tinyq/quant"
)

// BatchNorm is a batch normalization's evaluation-time parameters, one per channel:
// y = (x - Mean)/sqrt(Var + Eps)·Gamma + Beta, with the running statistics (as a float
// file stores them).
type BatchNorm = modelfile.BatchNorm

// FoldBatchNorm folds bn into the layer before it, whose weights w are [in, out] (the
// training layout: [KH, KW, C, Out] for a convolution) and bias b [out], and returns the
// new weights and bias (w and b are not modified). The rule, per output channel o, is
// computed in float64 and rounded to float32 once per value:
//
//	f[o]     = gamma[o] / sqrt(var[o] + eps)                         (float64, not rounded)
//	w'[i, o] = float32(w[i, o] · f[o])
//	b'[o]    = float32((b[o] - mean[o]) · f[o] + beta[o])
//
// with every float32 operand widened exactly to float64 first, sqrt the correctly rounded
// float64 square root, and the operations in the order written. This is what
// docs/FORMAT.md specifies for a float file with BatchNorm tensors, and what PyTorch's
// fuse_conv_bn_weights computes (in the tensors' precision). Refused: wrong lengths,
// non-finite values, var[o] + eps not > 0, and folded values that are not finite.
func FoldBatchNorm(w, b []float32, in, out int, bn BatchNorm) (wf, bf []float32, err error) {
	if len(w) != in*out || len(b) != out {
		return nil, nil, fmt.Errorf("infer: batchnorm: %d weights and %d biases for %dx%d", len(w), len(b), in, out)
	}
	for _, t := range []struct {
		name string
		v    []float32
	}{{"gamma", bn.Gamma}, {"beta", bn.Beta}, {"running mean", bn.Mean}, {"running var", bn.Var}} {
		if len(t.v) != out {
			return nil, nil, fmt.Errorf("infer: batchnorm %s: %d values for %d channels", t.name, len(t.v), out)
		}
		if k := quant.FirstNonFinite(t.v); k >= 0 {
			return nil, nil, fmt.Errorf("infer: batchnorm %s: value %d is %v", t.name, k, t.v[k])
		}
	}
	if math.IsNaN(float64(bn.Eps)) || math.IsInf(float64(bn.Eps), 0) || bn.Eps < 0 {
		return nil, nil, fmt.Errorf("infer: batchnorm eps %v, want finite and >= 0", bn.Eps)
	}
	f := make([]float64, out)
	for o := range f {
		v := float64(bn.Var[o]) + float64(bn.Eps)
		if !(v > 0) {
			return nil, nil, fmt.Errorf("infer: batchnorm channel %d: running var + eps = %g, want > 0", o, v)
		}
		f[o] = float64(bn.Gamma[o]) / math.Sqrt(v)
	}
	wf, bf = make([]float32, len(w)), make([]float32, out)
	for i := 0; i < in; i++ {
		for o := 0; o < out; o++ {
			wf[i*out+o] = float32(float64(w[i*out+o]) * f[o])
		}
	}
	for o := range bf {
		bf[o] = float32((float64(b[o])-float64(bn.Mean[o]))*f[o] + float64(bn.Beta[o]))
	}
	for _, v := range [][]float32{wf, bf} {
		if k := quant.FirstNonFinite(v); k >= 0 {
			return nil, nil, fmt.Errorf("infer: batchnorm: folded value %d is %v", k, v[k])
		}
	}
	return wf, bf, nil
}
