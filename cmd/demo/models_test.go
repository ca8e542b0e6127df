package main

import (
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"tinyq/infer"
	"tinyq/mnist"
	"tinyq/nn"
	"tinyq/ptq"
	"tinyq/qat"
	"tinyq/train"
)

// The test binary may link the training stack (the command may not: TestDependencies):
// it trains the small models that the browser tests run.

var (
	modelsOnce  sync.Once
	modelsFiles map[string][]byte // file name -> bytes
	modelsTest  *mnist.Set
	modelsErr   error
)

// int8Model is the name of the test directory's int8 model (as mnist -save names it).
const int8Model = "ptq-w8a8-static"

// testModels writes a model directory of every kind the runtime runs into a temporary
// directory of t and returns it with the MNIST test set. The float model (784-128-10) is
// trained once per test binary, one epoch on 20,000 MNIST training images (about 2 s;
// about 93% on the test set), and converted as mnist -save would name them: fp32, fp16,
// ptq-w8a8-static, ptq-w4a4-static, ptq-w2a8-static, ptq-w8-dynamic, and qat-w4a4 (the
// fake-quant simulation, its ranges observed on one batch: QAT's file kind without QAT's
// training).
func testModels(t *testing.T) (string, *mnist.Set) {
	t.Helper()
	modelsOnce.Do(func() { modelsFiles, modelsTest, modelsErr = makeModels() })
	if modelsErr != nil {
		t.Fatal(modelsErr)
	}
	dir := t.TempDir()
	for name, b := range modelsFiles {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, modelsTest
}

func makeModels() (map[string][]byte, *mnist.Set, error) {
	dir, err := mnist.Locate("")
	if err != nil {
		return nil, nil, err
	}
	trainSet, testSet, err := mnist.Load(dir)
	if err != nil {
		return nil, nil, err
	}
	trainSet = trainSet.Slice(0, 20000)
	m, err := nn.NewMLP([]int{784, 128, 10}, rand.New(rand.NewSource(1)))
	if err != nil {
		return nil, nil, err
	}
	if _, err := train.Fit(m, train.Data{Images: trainSet.Images, Labels: trainSet.Labels}, train.Data{}, train.Config{Epochs: 1, Seed: 1}); err != nil {
		return nil, nil, err
	}
	fm, err := m.FloatModel()
	if err != nil {
		return nil, nil, err
	}
	tmp, err := os.MkdirTemp("", "demo-models")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(tmp)
	save := map[string]func(p string) error{
		"fp32": func(p string) error { return infer.SaveFloat(p, fm, "") },
	}
	fp16, err := ptq.Float16(fm)
	if err != nil {
		return nil, nil, err
	}
	save["fp16"] = func(p string) error { return infer.SaveFloat(p, fp16, "") }
	const in = 28 * 28
	calib := trainSet.Images[:1024*in] // calibrate on training images, never on test images
	for _, c := range []ptq.Config{ptq.Spec(ptq.Static, 8, 8), ptq.Spec(ptq.Static, 4, 4), ptq.Spec(ptq.Static, 2, 8), ptq.Spec(ptq.Dynamic, 8, 8)} {
		var plan ptq.Plan
		if c.Mode == ptq.Static {
			if plan.Inputs, err = ptq.Calibrate(fm, c, calib); err != nil {
				return nil, nil, err
			}
		}
		im, err := ptq.Convert(fm, c, plan)
		if err != nil {
			return nil, nil, err
		}
		save["ptq-"+c.Name()] = func(p string) error { return infer.SaveInt(p, im, "") }
	}
	qm, err := qat.Prepare(m, qat.Spec(4, 4))
	if err != nil {
		return nil, nil, err
	}
	ev, err := qm.NewEvaluator(256)
	if err != nil {
		return nil, nil, err
	}
	qm.SetObserving(true) // observe every quantizer's range on one batch, then freeze
	if _, err := ev.Forward(calib[:256*in], 256); err != nil {
		return nil, nil, err
	}
	qm.SetObserving(false)
	save["qat-w4a4"] = func(p string) error { return qm.Save(p, "") }
	files := map[string][]byte{}
	for name, f := range save {
		p := filepath.Join(tmp, name+".safetensors")
		if err := f(p); err != nil {
			return nil, nil, err
		}
		if files[name+".safetensors"], err = os.ReadFile(p); err != nil {
			return nil, nil, err
		}
	}
	return files, testSet, nil
}
