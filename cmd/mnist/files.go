package main

import (
	"errors"
	"fmt"
	"strings"

	"tinyq/arch"
	"tinyq/internal/atomicfile"
	"tinyq/mnist"
	"tinyq/modelfile"
	"tinyq/ptq"
	"tinyq/study"
	"tinyq/train"
)

// places lists every file the run of o reads or writes, and the directories it writes into:
// -save's directory, each model file and the manifest; -study's directory and files; -json;
// -checkpoint and the QAT phase checkpoints derived from it; -load; and the MNIST files of
// -data (the files mnist.Load reads: NAME.gz if present, else NAME).
func (o options) places() []atomicfile.Place {
	var ps []atomicfile.Place
	add := func(via string, input bool, paths ...string) {
		for _, p := range paths {
			ps = append(ps, atomicfile.Place{Via: via, Path: p, Input: input})
		}
	}
	if o.Save != "" {
		ps = append(ps, atomicfile.Place{Via: "-save " + o.Save, Path: o.Save, Dir: true})
		names := append([]string{"fp32"}, ptq.TableNames()...) // the models -save writes
		for _, t := range o.Bits {
			if o.QAT {
				names = append(names, t.ModelNames()...)
			}
		}
		add("-save "+o.Save, false, modelfile.SetFiles(o.Save, names)...)
	}
	if o.Study != "" {
		ps = append(ps, atomicfile.Place{Via: "-study " + o.Study, Path: o.Study, Dir: true})
		add("-study "+o.Study, false, study.Files(o.Study)...)
	}
	if o.JSON != "" && o.JSON != "-" {
		add("-json "+o.JSON, false, o.JSON)
	}
	if o.Checkpoint != "" {
		add("-checkpoint "+o.Checkpoint, false, o.Checkpoint)
	}
	if o.QAT {
		add("-checkpoint "+o.Checkpoint, false, o.qat.Checkpoints(o.Bits)...)
	}
	if o.Load != "" {
		add("-load "+o.Load, true, o.Load)
	}
	if o.DataDir != "" {
		add("-data "+o.DataDir, true, mnist.Files(o.DataDir)...)
	}
	return ps
}

// checkMemory refuses a model and batch that train.CheckMemory refuses, with one line naming
// the flag to change (what names the model: "-hidden 256,128", "-arch cnn" or "-load F").
func checkMemory(a arch.Arch, batch int, what string) error {
	var me *train.MemoryError
	if err := train.CheckMemory(a, batch); !errors.As(err, &me) {
		return err
	}
	flag := what
	if me.Activations > me.Params {
		flag = fmt.Sprintf("-batch %d", batch)
	}
	return usagef("%s: training needs about %.1f GiB (estimated for %s with -batch %d), more than the %d GiB allowed; lower %s",
		flag, me.GiB(), what, batch, train.MaxTrainingBytes>>30, strings.Fields(flag)[0])
}

// trainingJSON is the training record of the run's FP32 model (modelfile.Training).
func (o options) trainingJSON() string {
	if o.Load != "" {
		return o.loadedTraining // the loaded model's own record; the flags did not train it
	}
	t := modelfile.Training{Batch: o.Batch, LR: o.LR, Hidden: o.Hidden, Seed: o.Seed, TrainLimit: o.TrainLimit, Optimizer: train.Adam.String(), Arch: o.Arch, Shift: o.Shift}
	if r := train.RecipeFor(o.net); r.Schedule == train.CosineLR {
		t.Schedule = r.Schedule.String()
	}
	return t.String()
}
