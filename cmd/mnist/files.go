package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"tinyq/internal/atomicfile"
	"tinyq/mnist"
	"tinyq/modelfile"
	"tinyq/ptq"
	"tinyq/qat"
	"tinyq/study"
	"tinyq/train"
)

// modelNames are the files -save writes for o, without the extension.
func (o options) modelNames() []string {
	names := append([]string{"fp32"}, ptq.TableNames()...)
	if o.QAT {
		for _, b := range o.Bits {
			if !b.PerLayer() {
				names = append(names, "qat-"+b.Name())
			}
			names = append(names, "qat-"+b.Name()+"-int")
		}
	}
	return names
}

// checkOutputs proves before any training that every output can be written
// (atomicfile.CheckPlaces of places): an output that names the same file as an input or as
// another output is a usage error.
func checkOutputs(o options) error {
	err := atomicfile.CheckPlaces(o.places())
	var ce *atomicfile.ConflictError
	if errors.As(err, &ce) {
		return usageError{err.Error()}
	}
	return err
}

// places lists every file the run of o reads or writes, and the directories it writes into:
// -save's directory, each model file and the manifest; -study's directory and files; -json;
// -checkpoint and the QAT phase checkpoints derived from it; -load; and the MNIST files of
// -data (the files mnist.Load reads: NAME.gz if present, else NAME).
func (o options) places() []atomicfile.Place {
	var ps []atomicfile.Place
	if o.Save != "" {
		f := "-save " + o.Save
		ps = append(ps, atomicfile.Place{Via: f, Path: o.Save, Dir: true})
		for _, n := range o.modelNames() {
			ps = append(ps, atomicfile.Place{Via: f, Path: filepath.Join(o.Save, n+".safetensors")})
		}
		ps = append(ps, atomicfile.Place{Via: f, Path: filepath.Join(o.Save, modelfile.ManifestFile)})
	}
	if o.Study != "" {
		f := "-study " + o.Study
		ps = append(ps, atomicfile.Place{Via: f, Path: o.Study, Dir: true})
		for _, n := range append(study.OutputFiles(), study.ResultsFile) {
			ps = append(ps, atomicfile.Place{Via: f, Path: filepath.Join(o.Study, n)})
		}
	}
	if o.JSON != "" && o.JSON != "-" {
		ps = append(ps, atomicfile.Place{Via: "-json " + o.JSON, Path: o.JSON})
	}
	if o.Checkpoint != "" {
		f := "-checkpoint " + o.Checkpoint
		ps = append(ps, atomicfile.Place{Via: f, Path: o.Checkpoint})
		if o.QAT {
			for _, b := range o.Bits {
				ps = append(ps, atomicfile.Place{Via: f, Path: qat.PhaseCheckpoint(o.Checkpoint, "qat-"+b.Name())})
			}
		}
	}
	if o.Load != "" {
		ps = append(ps, atomicfile.Place{Via: "-load " + o.Load, Path: o.Load, Input: true})
	}
	if o.DataDir != "" {
		for _, p := range mnist.Files(o.DataDir) {
			ps = append(ps, atomicfile.Place{Via: "-data " + o.DataDir, Path: p, Input: true})
		}
	}
	return ps
}

// checkMemory refuses a model and batch that train.CheckMemory refuses, with one line naming
// the flag to change (what names the model: "-hidden 256,128" or "-load F").
func checkMemory(sizes []int, batch int, what string) error {
	var me *train.MemoryError
	if !errors.As(train.CheckMemory(sizes, batch), &me) {
		return nil
	}
	flag := what
	if me.Activations > me.Params {
		flag = fmt.Sprintf("-batch %d", batch)
	}
	return usagef("%s: training needs about %.1f GiB (estimated for %s with -batch %d), more than the %d GiB allowed; lower %s",
		flag, me.GiB(), what, batch, train.MaxTrainingBytes>>30, strings.Fields(flag)[0])
}

// hiddenFlag is the -hidden flag as given, for messages.
func (o options) hiddenFlag() string {
	parts := make([]string, len(o.Hidden))
	for i, n := range o.Hidden {
		parts[i] = strconv.Itoa(n)
	}
	return "-hidden " + strings.Join(parts, ",")
}

func (o options) trainingJSON() string {
	if o.Load != "" {
		return o.loadedTraining // the loaded model's own record; the flags did not train it
	}
	return modelfile.Training{Batch: o.Batch, LR: o.LR, Hidden: o.Hidden, Seed: o.Seed, TrainLimit: o.TrainLimit, Optimizer: train.Adam.String()}.String()
}
