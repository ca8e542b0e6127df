package main

import (
	"fmt"
	"os"
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

// checkOutputs proves before any training that every output can be written: no output names
// the same file as an input or as another output (checkSamePaths), -save and -study are (or
// become) directories, and in them, as for -json (unless "-", stdout) and -checkpoint with
// its QAT phase files, a file can be created and removed and none of the files the run will
// replace is a directory, device or FIFO.
func checkOutputs(o options) error {
	if err := checkSamePaths(o.places()); err != nil {
		return err
	}
	for _, p := range o.places() {
		switch {
		case p.input:
		case p.dir:
			if err := os.MkdirAll(p.path, 0o755); err != nil {
				return fmt.Errorf("%s: %w", p.flag, err)
			}
		default:
			if err := atomicfile.Probe(p.path); err != nil {
				return fmt.Errorf("%s: cannot write there: %w", p.flag, err)
			}
		}
	}
	return nil
}

// place is a path that a flag reads or writes: a file, or with dir, the directory -save or
// -study writes its files into.
type place struct {
	flag  string // the flag as given, for messages: "-save out"
	path  string
	dir   bool
	input bool // read, not written (-load, the MNIST files of -data)
}

// name is the place for messages: the flag, and the path when the flag names it only
// indirectly ("-save out (out/fp32.safetensors)").
func (p place) name() string {
	if _, v, _ := strings.Cut(p.flag, " "); v == p.path {
		return p.flag
	}
	return p.flag + " (" + p.path + ")"
}

// places lists every file the run of o reads or writes, and the directories it writes into:
// -save's directory, each model file and the manifest; -study's directory and files; -json;
// -checkpoint and the QAT phase checkpoints derived from it; -load; and the MNIST files of
// -data (the files mnist.Load reads: NAME.gz if present, else NAME).
func (o options) places() []place {
	var ps []place
	if o.Save != "" {
		f := "-save " + o.Save
		ps = append(ps, place{flag: f, path: o.Save, dir: true})
		for _, n := range o.modelNames() {
			ps = append(ps, place{flag: f, path: filepath.Join(o.Save, n+".safetensors")})
		}
		ps = append(ps, place{flag: f, path: filepath.Join(o.Save, modelfile.ManifestFile)})
	}
	if o.Study != "" {
		f := "-study " + o.Study
		ps = append(ps, place{flag: f, path: o.Study, dir: true})
		for _, n := range append(study.OutputFiles(), study.ResultsFile) {
			ps = append(ps, place{flag: f, path: filepath.Join(o.Study, n)})
		}
	}
	if o.JSON != "" && o.JSON != "-" {
		ps = append(ps, place{flag: "-json " + o.JSON, path: o.JSON})
	}
	if o.Checkpoint != "" {
		f := "-checkpoint " + o.Checkpoint
		ps = append(ps, place{flag: f, path: o.Checkpoint})
		if o.QAT {
			for _, b := range o.Bits {
				ps = append(ps, place{flag: f, path: qat.PhaseCheckpoint(o.Checkpoint, "qat-"+b.Name())})
			}
		}
	}
	if o.Load != "" {
		ps = append(ps, place{flag: "-load " + o.Load, path: o.Load, input: true})
	}
	if o.DataDir != "" {
		for _, p := range mnist.Files(o.DataDir) {
			ps = append(ps, place{flag: "-data " + o.DataDir, path: p, input: true})
		}
	}
	return ps
}

// checkSamePaths refuses two places of different flags that are the same file, unless both
// are read: an output that would overwrite an input, or another output (before, -load m
// -json m replaced the only model with JSON, and -checkpoint out/fp32.safetensors -save out
// destroyed the checkpoint). Paths are compared as the system resolves them (see atomicfile.SamePath).
func checkSamePaths(ps []place) error {
	for i, a := range ps {
		for _, b := range ps[i+1:] {
			if a.flag == b.flag || (a.input && b.input) || !atomicfile.SamePath(a.path, b.path) {
				continue
			}
			// Name the output to change first: the one that would overwrite an input, or of
			// two outputs the one that names the file itself (-json out/manifest.json, not -save
			// out), else the later flag.
			first, second, verb := b, a, "one would overwrite the other"
			switch {
			case a.name() == a.flag && b.name() != b.flag:
				first, second = a, b
			case a.input:
				first, second, verb = b, a, "it would be overwritten"
			case b.input:
				first, second, verb = a, b, "it would be overwritten"
			}
			what := "the same file as"
			if a.dir || b.dir {
				what = "the same path as"
			}
			return usagef("%s names %s %s: %s; give %s another path", first.name(), what, second.name(), verb, strings.Fields(first.flag)[0])
		}
	}
	return nil
}

// checkMemory refuses a model and batch estimated to need more than train.MaxTrainingBytes, with
// one line naming the flag to change (what names the model: "-hidden 256,128" or "-load F").
func checkMemory(sizes []int, batch int, what string) error {
	p, a := train.TrainingBytes(sizes, batch)
	if p+a <= train.MaxTrainingBytes {
		return nil
	}
	flag := what
	if a > p {
		flag = fmt.Sprintf("-batch %d", batch)
	}
	return usagef("%s: training needs about %.1f GiB (estimated for %s with -batch %d), more than the %d GiB allowed; lower %s",
		flag, (p+a)/(1<<30), what, batch, train.MaxTrainingBytes>>30, strings.Fields(flag)[0])
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
