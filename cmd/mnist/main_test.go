package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{[]string{"-bits", "9"}, "9 bits outside 2..8"},
		{[]string{"-bits", "1"}, "1 bits outside 2..8"},
		{[]string{"-bits", "4/x"}, `"4/x" is not N or W/A`},
		{[]string{"-bits", "8,,4"}, `"" is not N or W/A`},
		{[]string{"-bits", "8,8/8"}, "w8a8 listed twice"},
		{[]string{"-qat-init", "imagenet"}, "-qat-init"},
		{[]string{"-observer", "median"}, "-observer"},
		{[]string{"-qat-lr", "-1"}, "-qat-lr"},
		{[]string{"-freeze-observers", "-1"}, "-freeze-observers"},
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

// TestLowBitDefaults: with the flags left alone, LSQ is on for bit pairs with a width of 3
// bits or fewer and off otherwise; -lsq and -lsq=false override that.
func TestLowBitDefaults(t *testing.T) {
	o, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p    bitPair
		want bool
	}{{bitPair{8, 8}, false}, {bitPair{4, 4}, false}, {bitPair{4, 8}, false}, {bitPair{3, 3}, true}, {bitPair{2, 8}, true}, {bitPair{2, 2}, true}} {
		if got := o.LSQ.on(c.p); got != c.want {
			t.Errorf("default -lsq at %s: %t, want %t", c.p.name(), got, c.want)
		}
	}
	if o.Distill {
		t.Error("-distill is on by default")
	}
	o, err = parseFlags([]string{"-lsq"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !o.LSQ.on(bitPair{8, 8}) {
		t.Error("-lsq: off at w8a8")
	}
	o, err = parseFlags([]string{"-lsq=false"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.LSQ.on(bitPair{2, 2}) {
		t.Error("-lsq=false: on at w2a2")
	}
}

func TestParseBits(t *testing.T) {
	got, err := parseBits("8, 4/8,2")
	if err != nil {
		t.Fatal(err)
	}
	want := []bitPair{{8, 8}, {4, 8}, {2, 2}}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("parseBits = %v, want %v", got, want)
		}
	}
}
