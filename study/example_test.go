package study_test

import (
	"fmt"
	"math/rand"

	"tinyq/mnist"
	"tinyq/nn"
	"tinyq/study"
	"tinyq/study/figures"
	"tinyq/study/markdown"
	"tinyq/study/schema"
	"tinyq/train"
)

// runStudy runs the quick study on a trained float model into dir and writes its figures and
// report, as cmd/mnist -study-quick does.
func runStudy(dir string, model *nn.MLP, history *train.History, trainSet, testSet train.Data) error {
	s, err := study.Open(dir, schema.Config{Settings: study.Quick()})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.SetReference(model, history, history.Final().TestAccuracy, ""); err != nil {
		return err
	}
	if err := s.Run(study.Inputs{Model: model, Train: trainSet, Test: testSet}); err != nil {
		return err
	}
	figs, err := figures.Write(dir, &s.Results, model.Layers[0].Weights())
	if err != nil {
		return err
	}
	return markdown.Write(dir, &s.Results, figs)
}

// A quick study of a float model trained on MNIST. It takes minutes, so the example is
// compiled but not run.
func Example() {
	dir, err := mnist.Locate("") // the module cache or $TINYQ_MNIST_DIR
	if err != nil {
		fmt.Println(err)
		return
	}
	trainSet, testSet, err := mnist.Load(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	tr := train.Data{Images: trainSet.Images, Labels: trainSet.Labels}
	te := train.Data{Images: testSet.Images, Labels: testSet.Labels}
	model, err := nn.NewMLP([]int{784, 128, 10}, rand.New(rand.NewSource(1)))
	if err != nil {
		fmt.Println(err)
		return
	}
	history, err := train.Fit(model, tr, te, train.Config{Epochs: 5})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := runStudy("study-quick", model, history, tr, te); err != nil {
		fmt.Println(err)
	}
}
