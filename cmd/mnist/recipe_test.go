package main

import (
	"errors"
	"io"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"tinyq/arch"
	"tinyq/infer"
	"tinyq/nn"
	"tinyq/train"
)

// TestLoadFollowsRecipe: with -load, the FP32 recipe (learning rate, translations, and the
// schedule QAT fine-tunes along) is the loaded file's architecture's, not -arch's default
// MLP one, unless -lr or -shift is given; a loaded MLP keeps the MLP recipe.
func TestLoadFollowsRecipe(t *testing.T) {
	dir := t.TempDir()
	cnn, mlp := arch.CNN(false, 10), arch.MLP([]int{784, 16, 10}, arch.Shape{})
	for _, tc := range []struct {
		name  string
		net   arch.Arch
		flags []string
		lr    float64
		shift int
	}{
		{"cnn", cnn, nil, train.RecipeFor(cnn).LR, train.RecipeFor(cnn).Shift},
		{"cnn-given", cnn, []string{"-lr", "0.0005", "-shift", "1"}, 0.0005, 1},
		{"mlp", mlp, nil, train.RecipeFor(mlp).LR, train.RecipeFor(mlp).Shift},
	} {
		m, err := nn.New(tc.net, rand.New(rand.NewSource(1)))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, tc.name+".safetensors")
		if err := m.Save(path, ""); err != nil {
			t.Fatal(err)
		}
		o, err := parseFlags(append([]string{"-load", path, "-qat"}, tc.flags...), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := obtainFP32(&o, train.Data{}, train.Data{}, train.Config{}); err != nil {
			t.Fatal(err)
		}
		if o.LR != tc.lr || o.Shift != tc.shift || o.net.String() != tc.net.String() {
			t.Errorf("%s: -lr %v -shift %d, net %s; want %v, %d, %s", tc.name, o.LR, o.Shift, o.net, tc.lr, tc.shift, tc.net)
		}
	}
	if train.RecipeFor(cnn) == train.RecipeFor(mlp) {
		t.Fatal("the CNN and MLP recipes are the same: the test shows nothing")
	}
}

// TestLoadFreezeBNRefused: the float file mnist -save writes holds its BatchNorm folded into
// the convolutions, so -freeze-bn with -load of it (which would be recorded yet change
// nothing) is refused with one line naming the flag and the file, as a usage error.
func TestLoadFreezeBNRefused(t *testing.T) {
	m, err := nn.New(arch.CNN(true, 10), rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	fm, err := m.FloatModel() // BatchNorm folded, as mnist -save writes fp32.safetensors
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bn.safetensors")
	if err := infer.SaveFloat(path, fm, ""); err != nil {
		t.Fatal(err)
	}
	o, err := parseFlags([]string{"-load", path, "-qat", "-freeze-bn", "2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = obtainFP32(&o, train.Data{}, train.Data{}, train.Config{})
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "-freeze-bn 2: "+path+" has no BatchNorm layer") || strings.Contains(err.Error(), "\n") {
		t.Errorf("-load %s -freeze-bn 2: error %v, want one usage line naming the flag and the file", path, err)
	}
}
