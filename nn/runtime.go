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
