package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tinyq/qat"
	"tinyq/quant"
	"tinyq/train"
)

func TestBadFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-epochs", "0"}, "-epochs 0"},
		{[]string{"-batch", "-5"}, "-batch -5"},
		{[]string{"-lr", "0"}, "-lr 0"},
		{[]string{"-lr", "NaN"}, "-lr NaN"},
		{[]string{"-hidden", "256,x"}, `-hidden "256,x"`},
		{[]string{"-hidden", "256,0"}, `-hidden "256,0"`},
		{[]string{"-train-limit", "-1"}, "-train-limit -1"},
		{[]string{"-arch", "cnn", "-hidden", "12"}, "-hidden sizes the layers of -arch mlp only"},
		{[]string{"-bn"}, "-bn puts a BatchNorm after each convolution; -arch mlp has none"},
		{[]string{"-arch", "conv(4,3"}, `-arch "conv(4,3": arch: unclosed`},
		{[]string{"-arch", "conv(4,3),relu,dense(5)"}, "gives 5 classes, want 10"},
		{[]string{"-arch", "conv(4,30),dense(10)"}, "does not fit"},
		{[]string{"-shift", "9"}, "-shift 9"},
		{[]string{"-epochs", "abc"}, "invalid value"},
		{[]string{"-nosuchflag"}, "not defined"},
		{[]string{"extra"}, "unexpected argument"},
	}
	for _, c := range cases {
		var stderr bytes.Buffer
		err := run(c.args, &bytes.Buffer{}, &stderr)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: error %v, want a usage error (exit status 2)", c.args, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %q does not mention %q", c.args, err, c.want)
		}
		if stderr.Len() != 0 || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: more than the one-line error: %q and stderr %q", c.args, err, stderr.String())
		}
	}
	var stderr bytes.Buffer
	if err := run([]string{"-h"}, &bytes.Buffer{}, &stderr); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "-qat") {
		t.Errorf("-h: error %v, usage %q", err, stderr.String())
	}
}

func TestMissingDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	err := run([]string{"-data", dir, "-quiet"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %v, want one naming %s", err, dir)
	}
}

// TestRunJSON runs the command end to end on a small slice and checks the JSON schema.
func TestRunJSON(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.json")
	var stdout bytes.Buffer
	if err := run([]string{"-epochs", "1", "-train-limit", "3000", "-quiet", "-qat", "-bits", "4", "-json", out}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Config  map[string]any `json:"config"`
		Results []struct {
			Name             string    `json:"name"`
			Accuracy         float64   `json:"accuracy"`
			WeightBytes      int       `json:"weight_bytes"`
			EpochSeconds     []float64 `json:"epoch_seconds"`
			SamplesPerSecond float64   `json:"samples_per_second"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Config["epochs"] != 1.0 || len(doc.Results) == 0 {
		t.Fatalf("config %v, %d results", doc.Config, len(doc.Results))
	}
	r := doc.Results[0]
	// 784·256+256 + 256·128+128 + 128·10+10 = 235,146 parameters, 4 bytes each.
	if r.Name != "fp32" || r.WeightBytes != 940584 || len(r.EpochSeconds) != 1 || r.SamplesPerSecond <= 0 {
		t.Fatalf("fp32 row %+v", r)
	}
	// One epoch on 3,000 images reaches about 88%; 80 is a floor that still catches a broken run.
	if r.Accuracy < 80 {
		t.Fatalf("accuracy %.2f%%", r.Accuracy)
	}
	names := map[string]float64{}
	for _, r := range doc.Results {
		names[r.Name] = r.Accuracy
	}
	for _, n := range []string{"fp16", "ptq-w8a8-static", "ptq-w8a8-static-per-tensor", "ptq-w8-dynamic", "ptq-w4a8-static", "ptq-w4a4-static", "ptq-w4a4-static-per-tensor", "qat-w4a4", "qat-w4a4-int"} {
		if acc, ok := names[n]; !ok || acc < 70 {
			t.Errorf("row %s: present %v, accuracy %.2f%%", n, ok, acc)
		}
	}
	if !strings.Contains(stdout.String(), "fp32") {
		t.Fatalf("no table in output:\n%s", stdout.String())
	}
}

func TestBadQATFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-bits", "9"}, "bits 9 outside 2..8"},
		{[]string{"-bits", "1"}, "bits 1 outside 2..8"},
		{[]string{"-bits", "4/x"}, `"4/x" is not N, W/A or per-layer`},
		{[]string{"-bits", "8,,4"}, `"" is not N, W/A or per-layer`},
		{[]string{"-bits", "8,8/8"}, "w8a8 listed twice"},
		{[]string{"-qat-init", "imagenet"}, "-qat-init"},
		{[]string{"-observer", "median"}, "-observer"},
		{[]string{"-qat-lr", "-1"}, "-qat-lr"},
		{[]string{"-freeze-observers", "-1"}, "-freeze-observers"},
		{[]string{"-qat", "-arch", "cnn", "-bn", "-freeze-bn", "-2"}, "-freeze-bn -2: want -1"},
		{[]string{"-qat", "-arch", "cnn", "-freeze-bn", "2"}, "-freeze-bn 2: the network has no BatchNorm"},
		{[]string{"-arch", "cnn", "-bn", "-freeze-bn", "2"}, "-freeze-bn without -qat"},
		{[]string{"-lsq=maybe"}, "-lsq"},
		{[]string{"-lsq-init", "max"}, "-lsq-init"},
		{[]string{"-distill-t", "0"}, "-distill-t"},
		{[]string{"-distill-alpha", "1.5"}, "-distill-alpha"},
		{[]string{"-lr-schedule", "step"}, "-lr-schedule"},
		{[]string{"-distill", "-qat-init", "scratch"}, "-distill needs -qat-init fp32"},
	}
	for _, c := range cases {
		err := run(c.args, &bytes.Buffer{}, &bytes.Buffer{})
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want a usage error mentioning %q", c.args, err, c.want)
		}
	}
}

// TestFreezeBNFlag: -freeze-bn N reaches the QAT options (qat.Choices.FreezeBNAfter) and
// the run's record; left alone, the recipe's value stands and nothing is recorded.
func TestFreezeBNFlag(t *testing.T) {
	o, err := parseFlags([]string{"-qat", "-arch", "cnn", "-bn", "-freeze-bn", "2"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.qat.FreezeBNAfter == nil || *o.qat.FreezeBNAfter != 2 || o.FreezeBN == nil || *o.FreezeBN != 2 {
		t.Errorf("-freeze-bn 2: options %v, record %v", o.qat.FreezeBNAfter, o.FreezeBN)
	}
	if o, err = parseFlags([]string{"-qat", "-arch", "cnn", "-bn"}, &bytes.Buffer{}); err != nil || o.qat.FreezeBNAfter != nil || o.FreezeBN != nil {
		t.Errorf("no -freeze-bn: err %v, options %v, record %v; want the recipe's", err, o.qat.FreezeBNAfter, o.FreezeBN)
	}
}

// TestLowBitDefaults: with the flags left alone, LSQ is on for bit pairs with a width of 3
// bits or fewer and off otherwise; -lsq and -lsq=false override that.
func TestLowBitDefaults(t *testing.T) {
	o, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p    quant.Widths
		want bool
	}{{quant.Widths{Weight: 8, Activation: 8}, false}, {quant.Widths{Weight: 4, Activation: 4}, false}, {quant.Widths{Weight: 4, Activation: 8}, false}, {quant.Widths{Weight: 3, Activation: 3}, true}, {quant.Widths{Weight: 2, Activation: 8}, true}, {quant.Widths{Weight: 2, Activation: 2}, true}} {
		if got := lsqOn(o, c.p); got != c.want {
			t.Errorf("default -lsq at %s: %t, want %t", c.p, got, c.want)
		}
	}
	if o.Distill {
		t.Error("-distill is on by default")
	}
	o, err = parseFlags([]string{"-qat", "-lsq"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !lsqOn(o, quant.Widths{Weight: 8, Activation: 8}) {
		t.Error("-lsq: off at w8a8")
	}
	o, err = parseFlags([]string{"-qat", "-lsq=false"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if lsqOn(o, quant.Widths{Weight: 2, Activation: 2}) {
		t.Error("-lsq=false: on at w2a2")
	}
}

// lsqOn reports whether the QAT model of p learns its scales under o.
func lsqOn(o options, p quant.Widths) bool {
	r, _ := o.qat.Recipe(qat.Target{p}, train.Config{LR: o.LR})
	return r.Config.LearnScales
}

func TestParseBitsPerLayer(t *testing.T) {
	for args, want := range map[string]string{
		"-qat -bits 2+2":                              "gives 2 layers their widths, the model has 3",
		"-qat -bits 2+2+x":                            "is not N, W/A or per-layer",
		"-qat -bits 2+2+9":                            "bits 9 outside",
		"-qat -bits 2+4+8,2+4+8":                      "listed twice",
		"-qat -bits 2+4+8 -checkpoint ck.safetensors": "cannot be checkpointed",
	} {
		err := run(strings.Fields(args), &bytes.Buffer{}, &bytes.Buffer{})
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a usage error with %q", args, err, want)
		}
	}
}

// A per-layer -bits entry trains a mixed-precision QAT model whose integer conversion runs,
// agrees with it, and is the model saved (a QAT file has one width for all layers).
func TestRunPerLayerBits(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "r.json")
	if err := run([]string{"-epochs", "1", "-train-limit", "3000", "-hidden", "64,32", "-quiet", "-qat", "-bits", "2/8+4/4+8/8", "-json", out, "-save", filepath.Join(dir, "m")}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []struct {
			Name        string  `json:"name"`
			Accuracy    float64 `json:"accuracy"`
			WeightBytes int     `json:"weight_bytes"`
			Note        string  `json:"note"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	acc := map[string]float64{}
	for _, r := range doc.Results {
		acc[r.Name] = r.Accuracy
		if r.Name == "qat-w2a8-w4a4-w8a8-int" {
			// 784x64 at 2 bits (4 per byte), 64x32 at 4 bits (2 per byte), 32x10 at 8 bits,
			// plus biases, per-channel scales and zero points, and each layer's input scale and
			// zero point.
			want := 784*64/4 + 64*32/2 + 32*10 + 4*(64+32+10) + 8*(64+32+10) + 3*8
			if r.WeightBytes != want || !strings.Contains(r.Note, "agrees with qat-w2a8-w4a4-w8a8 on") {
				t.Errorf("mixed row: %d bytes (want %d), note %q", r.WeightBytes, want, r.Note)
			}
		}
	}
	// FP32 reaches 68% after one epoch on 3,000 images at this size; the mixed QAT model 74.6%.
	if acc["qat-w2a8-w4a4-w8a8"] < 60 || math.Abs(acc["qat-w2a8-w4a4-w8a8-int"]-acc["qat-w2a8-w4a4-w8a8"]) > 0.1 {
		t.Errorf("mixed rows %v", acc)
	}
	if _, err := os.Stat(filepath.Join(dir, "m", "qat-w2a8-w4a4-w8a8-int.safetensors")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "m", "qat-w2a8-w4a4-w8a8.safetensors")); err == nil {
		t.Error("a mixed QAT model was saved as a QAT file")
	}
}
