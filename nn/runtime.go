package nn

import (
	"fmt"

	"tinyq/arch"
	"tinyq/infer"
	"tinyq/modelfile"
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
// runtime computes. QAT starts from it (qat.Config.FreezeBNAfter 0), or ends with it after
// training the layers in their ConvBn form (Layer.FoldBN), so that fake quantization sees
// the folded weights the converted model will hold (Jacob et al. 2018; with the statistics
// frozen, as PyTorch's fused ConvBn modules end up once freeze_bn_stats is set). A model
// without BatchNorm comes back as a plain copy (Clone).
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

// FromFloatModel returns the trainable network of a runtime float model (fp32, or fp16
// widened; not a QAT simulation), for example one imported from ONNX, with copies of its
// parameters and its input record. A BatchNorm the runtime model was loaded with is already
// folded into its layer, so the network has none.
func FromFloatModel(fm *infer.FloatModel) (*MLP, error) {
	if fm.Sim != nil {
		return nil, fmt.Errorf("nn: %s is a QAT simulation, not a float model", fm.Name())
	}
	a := fm.Arch()
	var m *MLP
	var err error
	if a.IsMLP() {
		m, err = FromParams(modelfile.Arch{Sizes: a.Sizes(), Activations: activations(a)}, floatParams(fm))
	} else {
		m, err = fromNet(a, floatParams(fm))
	}
	if err != nil {
		return nil, err
	}
	m.Input = fm.Input()
	return m, m.Validate()
}

// activations returns an MLP architecture's activation names per layer.
func activations(a arch.Arch) []string {
	var acts []string
	for _, l := range a.Layers {
		if l.ReLU {
			acts = append(acts, ReLU.String())
		} else {
			acts = append(acts, Identity.String())
		}
	}
	return acts
}

// floatParams returns a runtime model's weights and biases as files store them (shared).
func floatParams(fm *infer.FloatModel) modelfile.FloatParams {
	var p modelfile.FloatParams
	for _, l := range fm.Layers {
		p.Weights = append(p.Weights, l.W)
		p.Biases = append(p.Biases, l.B)
	}
	return p
}
