package train

import (
	"strings"
	"testing"

	"tinyq/arch"
)

func TestTrainingBytes(t *testing.T) {
	// 784-256-128-10 has 235,146 parameters (784·256+256 + 256·128+128 + 128·10+10) and a
	// width of 1,178 units; at batch 128: 6·4·235146 bytes of parameters and
	// 4·(6·128 + 2·1000)·1178 of activations.
	mlp := arch.MLP([]int{784, 256, 128, 10}, arch.Shape{})
	p, a, err := TrainingBytes(mlp, 128)
	if err != nil || p != 24*235146 || a != 4*(6*128+2000)*1178 {
		t.Errorf("TrainingBytes = %v, %v; want %v, %v", p, a, 24*235146, 4*(6*128+2000)*1178)
	}
	// The default run fits; batch 100,000 (measured at 1.8 GB) does not.
	if p+a > MaxTrainingBytes {
		t.Errorf("the default run is estimated at %v bytes, over MaxTrainingBytes", p+a)
	}
	if p, a, _ := TrainingBytes(mlp, 100000); p+a <= MaxTrainingBytes {
		t.Errorf("batch 100,000 estimated at %v bytes, within MaxTrainingBytes", p+a)
	}
	// The CNN (215,370 parameters) adds per sample its patches and outputs before pooling:
	// 784 + (784·(25+16) + 3136) + (196·(400+32) + 1568) + 128 + 10 = 122,442 values.
	p, a, err = TrainingBytes(arch.CNN(false, 10), 128)
	if err != nil || p != 24*215370 || a != 4*(6*128+2000)*122442 {
		t.Errorf("CNN: TrainingBytes = %v, %v, %v; want %v, %v", p, a, err, 24*215370, 4*(6*128+2000)*122442)
	}
	if _, _, err := TrainingBytes(arch.Arch{}, 1); err == nil {
		t.Error("an empty architecture was estimated")
	}
}

func TestDivergence(t *testing.T) {
	fine := &History{Epochs: []Epoch{{TrainLoss: 2, TestAccuracy: 50}, {TrainLoss: 0.3, TestAccuracy: 95}}}
	for _, h := range []*History{nil, {}, fine} {
		if w := Divergence("fp32", h); w != "" {
			t.Errorf("Divergence(%v) = %q, want \"\"", h, w)
		}
	}
	blown := &History{Epochs: []Epoch{{TrainLoss: 0.5, TestAccuracy: 90}, {TrainLoss: 300, TestAccuracy: 90}}}
	if w := Divergence("qat-w4a4", blown); !strings.HasPrefix(w, "qat-w4a4 diverged: training loss 300 in epoch 2") {
		t.Errorf("Divergence of a loss of 300 = %q", w)
	}
	chance := &History{Epochs: []Epoch{{TrainLoss: 2.3, TestAccuracy: 11.35}}}
	if w := Divergence("fp32", chance); !strings.HasPrefix(w, "fp32 learned nothing: test accuracy 11.35% after epoch 1") {
		t.Errorf("Divergence at chance = %q", w)
	}
}
