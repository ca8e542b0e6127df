package nn

import (
	"fmt"

	"tinyq/infer"
)

// FloatModel returns the runtime's fp32 model of m (infer.FloatModel, BatchNorm folded into
// its layer with infer.FoldBatchNorm's rule) with m's input record
// (InputRecord): what infer runs, ptq calibrates and converts, and infer.SaveFloat writes.
// The parameters are copied; hooks are not part of it (a QAT model's fake-quant simulation
// is qat.Model.Simulation). Its Forward equals m's evaluation graph bit for bit on the same
// kernel path but for the sign of a zero (see infer.FloatModel.Forward).
func (m *MLP) FloatModel() (*infer.FloatModel, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	layers := make([]infer.FloatLayer, len(m.Layers))
	for i, l := range m.Layers {
		if l.Act != ReLU && l.Act != Identity {
			return nil, fmt.Errorf("nn: layer %s: activation %v has no runtime form", LayerName(i), l.Act)
		}
		w, b := append([]float32(nil), l.Weights()...), append([]float32(nil), l.Bias()...)
		if l.BN != nil {
			var err error
			if w, b, err = infer.FoldBatchNorm(w, b, l.In, l.Out, *l.BN.record()); err != nil {
				return nil, fmt.Errorf("nn: layer %s: %w", LayerName(i), err)
			}
		}
		layers[i] = infer.FloatLayer{
			Name: LayerName(i), In: l.In, Out: l.Out, ReLU: l.Act == ReLU, W: w, B: b,
			Conv: l.Conv, Pool: l.Pool,
		}
	}
	fm, err := infer.NewFloatModel(infer.F32, layers, nil)
	if err != nil {
		return nil, fmt.Errorf("nn: %w", err)
	}
	if err := fm.SetInput(m.InputRecord()); err != nil {
		return nil, fmt.Errorf("nn: %w", err)
	}
	return fm, nil
}

// FoldBatchNorm returns a copy of m with every BatchNorm folded into the layer before it
// (infer.FoldBatchNorm's rule, with the running statistics): the network the integer
// runtime computes. QAT starts from it, so that fake quantization sees the folded weights
// the converted model will hold (Jacob et al. 2018, with the statistics frozen, as PyTorch's
// fused ConvBn modules end up once freeze_bn_stats is set). A model without BatchNorm comes
// back as a plain copy (Clone).
func (m *MLP) FoldBatchNorm() (*MLP, error) {
	c := m.Clone()
	for i, l := range c.Layers {
		if l.BN == nil {
			continue
		}
		w, b, err := infer.FoldBatchNorm(l.Weights(), l.Bias(), l.In, l.Out, *l.BN.record())
		if err != nil {
			return nil, fmt.Errorf("nn: layer %s: %w", LayerName(i), err)
		}
		copy(l.Weights(), w)
		copy(l.Bias(), b)
		l.BN = nil
	}
	return c, nil
}
