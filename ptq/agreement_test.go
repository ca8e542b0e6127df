package ptq_test

import (
	"math/rand"
	"testing"

	"tinyq/mnist"
	"tinyq/nn"
	"tinyq/ptq"
	"tinyq/qat"
	"tinyq/train"
)

// TestQATIntegerAgreement trains a small QAT model on real MNIST, converts it with the scales it
// observed, and checks that the integer runtime and the fake-quant float simulation predict the
// same class on at least 99.9% of the 10,000 test images (they may differ only where a float
// rounding error lands on a rounding tie).
func TestQATIntegerAgreement(t *testing.T) {
	dir, err := mnist.Locate("")
	if err != nil {
		t.Fatal(err)
	}
	trainSet, testSet, err := mnist.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	trainSet = trainSet.Slice(0, 4000)
	for _, bits := range [][2]int{{8, 8}, {4, 4}} {
		m, err := nn.NewMLP([]int{784, 64, 32, 10}, rand.New(rand.NewSource(1)))
		if err != nil {
			t.Fatal(err)
		}
		qm, err := qat.Prepare(m, qat.Spec(bits[0], bits[1]))
		if err != nil {
			t.Fatal(err)
		}
		data := train.Data{Images: trainSet.Images, Labels: trainSet.Labels}
		if _, err := train.Fit(qm.MLP, data, train.Data{}, qm.TrainConfig(train.Config{Epochs: 1})); err != nil {
			t.Fatal(err)
		}
		qm.SetObserving(false)
		var plan ptq.Plan
		for i := range qm.Layers {
			plan.Inputs = append(plan.Inputs, qm.Inputs[i].Params())
			plan.Weights = append(plan.Weights, qm.Weights[i].Params())
		}
		im, err := ptq.Convert(qm.MLP, ptq.Spec(ptq.Static, bits[0], bits[1]), plan)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := qm.MLP.NewEvaluator(1000)
		if err != nil {
			t.Fatal(err)
		}
		same, n := 0, testSet.N
		for lo := 0; lo < n; lo += 1000 {
			x := testSet.Images[lo*784 : (lo+1000)*784]
			fl, err := ev.Forward(x, 1000)
			if err != nil {
				t.Fatal(err)
			}
			ip, err := im.Predict(x, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for r := range ip {
				if nn.Argmax(fl[r*10:(r+1)*10]) == ip[r] {
					same++
				}
			}
		}
		t.Logf("w%da%d: %d of %d predictions agree", bits[0], bits[1], same, n)
		if same*1000 < n*999 {
			t.Errorf("w%da%d: integer and simulated predictions agree on %d of %d, want >= 99.9%%", bits[0], bits[1], same, n)
		}
	}
}
