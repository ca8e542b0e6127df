package nn_test

import (
	"math"
	"math/rand"
	"reflect"
	"testing"

	"tinyq/mnist"
	"tinyq/modelfile"
	"tinyq/nn"
	"tinyq/ptq"
	"tinyq/quant"
	"tinyq/train"
)

// TestFloatModelCalibratesAsEvaluator (issue 19, part 2): the runtime's float model that
// ptq calibrates (MLP.FloatModel, infer.FloatModel.ForwardLayers) sees each layer's input
// exactly as nn's evaluation graph does, so every observer (at 8 and 4 bits) picks the same
// ranges through either: ptq without the training stack calibrates as it did with it. On a
// model trained briefly on real MNIST images, in batches of 256 with a padded last batch.
func TestFloatModelCalibratesAsEvaluator(t *testing.T) {
	dir, err := mnist.Locate("")
	if err != nil {
		t.Skip(err)
	}
	trainSet, _, err := mnist.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := nn.NewMLP([]int{784, 64, 32, 10}, rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	data := train.Data{Images: trainSet.Images[:2000*784], Labels: trainSet.Labels[:2000]}
	if _, err := train.Fit(m, data, train.Data{}, train.Config{Epochs: 1, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	fm, err := m.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	const n, batch = 1000, 256 // the last batch has 232 rows and 24 of padding
	x := trainSet.Images[:n*784]
	ev, err := m.NewEvaluator(batch)
	if err != nil {
		t.Fatal(err)
	}
	kinds := []quant.ObserverKind{quant.MinMaxObserver, quant.MovingAverageObserver, quant.PercentileObserver, quant.MSEObserver, quant.MeanAbsObserver}
	for _, bits := range []int{8, 4} {
		for _, k := range kinds {
			cfg := ptq.Spec(ptq.Static, 8, bits)
			cfg.Observer = quant.ObserverConfig{Kind: k}
			got, err := ptq.Calibrate(fm, cfg, x)
			if err != nil {
				t.Fatal(err)
			}
			// The reference: the observers fed from nn's evaluator, as ptq did before.
			var want []quant.Params
			obs := make([]quant.Observer, len(m.Layers))
			for i := range obs {
				if obs[i], err = quant.NewObserver(cfg.Spec.Layer(i).Activation, cfg.Observer); err != nil {
					t.Fatal(err)
				}
			}
			for lo := 0; lo < n; lo += batch {
				hi := min(lo+batch, n)
				if _, err := ev.Forward(x[lo*784:hi*784], hi-lo); err != nil {
					t.Fatal(err)
				}
				for i, l := range m.Layers {
					if err := obs[i].Observe(ev.LayerInput(i)[:(hi-lo)*l.In], []int{hi - lo, l.In}); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, o := range obs {
				p, err := o.Params()
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, p)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%v at %d bits: ranges through the runtime %+v, through nn's evaluator %+v", k, bits, got, want)
			}
		}
	}
}

// TestFloatModel: the conversion copies the parameters (changing the MLP afterwards does not
// change it), keeps the input record and the activations, leaves hooks out, and refuses an
// invalid MLP.
func TestFloatModel(t *testing.T) {
	m, err := nn.NewMLP([]int{12, 8, 3}, rand.New(rand.NewSource(2)))
	if err != nil {
		t.Fatal(err)
	}
	in := modelfile.Input{Width: 4, Height: 3, PixelDivisor: 127.5}
	m.Input = in
	fm, err := m.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	if fm.Input() != in || fm.Sim != nil || len(fm.Layers) != 2 || !fm.Layers[0].ReLU || fm.Layers[1].ReLU || fm.Layers[1].Name != "fc2" {
		t.Fatalf("float model: input %+v, layers %+v", fm.Input(), fm.Layers)
	}
	w0 := m.Layers[0].Weights()[0]
	m.Layers[0].Weights()[0] = w0 + 1
	if fm.Layers[0].W[0] != w0 {
		t.Error("the float model shares the MLP's weights")
	}
	m.Layers[1].Bias()[0] = float32(math.NaN())
	if _, err := m.FloatModel(); err == nil {
		t.Error("an MLP with a NaN bias converted")
	}
}
