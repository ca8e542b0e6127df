package qat

import (
	"math/rand"
	"testing"

	"tinyq/mnist"
	"tinyq/nn"
	"tinyq/train"
)

// loadMNIST returns the first nTrain training and nTest test images of real MNIST.
func loadMNIST(t testing.TB, nTrain, nTest int) (train.Data, train.Data) {
	t.Helper()
	dir, err := mnist.Locate("")
	if err != nil {
		t.Fatal(err)
	}
	tr, te, err := mnist.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tr, te = tr.Slice(0, nTrain), te.Slice(0, nTest)
	return train.Data{Images: tr.Images, Labels: tr.Labels}, train.Data{Images: te.Images, Labels: te.Labels}
}

// newModel returns the 784-256-128-10 MLP with seeded He initialisation.
func newModel(t testing.TB, seed int64) *nn.MLP {
	t.Helper()
	m, err := nn.NewMLP([]int{784, 256, 128, 10}, rand.New(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
