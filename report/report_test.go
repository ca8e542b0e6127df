package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		in := append([]float64(nil), c.in...)
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Fatalf("Median modified its input")
			}
		}
	}
}

func TestTable(t *testing.T) {
	var b strings.Builder
	rows := []Row{
		{Name: "fp32", Accuracy: 98, WeightBytes: 1000, SamplesPerSecond: 10, EpochSeconds: []float64{3, 1, 2}},
		{Name: "ptq-w8a8-static", Accuracy: 97.5, WeightBytes: 255, SamplesPerSecond: 25, SamplesPerSecondBS1: 1234},
		{Name: "ptq-w4a4-static-per-tensor-longer", Accuracy: 97, WeightBytes: 120, SamplesPerSecond: 30},
	}
	if err := Table(&b, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	// Columns stay aligned however long a name is: the accuracy ends at the same place.
	end := strings.Index(lines[1], "%") // 98.00%
	for _, l := range lines[2:] {
		if strings.Index(l, "%") != end {
			t.Errorf("misaligned row (accuracy ends at %d, want %d):\n%s", strings.Index(l, "%"), end, b.String())
		}
	}
	for _, want := range []string{"-0.50", "25.5%", "2.00", "1234"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestWriteJSON(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.json")
	if err := WriteJSON(p, Document{Config: map[string]int{"epochs": 5}, Results: []Row{{Name: "fp32", Accuracy: 98.1}}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Config  map[string]int   `json:"config"`
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.Config["epochs"] != 5 || d.Results[0]["name"] != "fp32" || d.Results[0]["accuracy"] != 98.1 {
		t.Fatalf("%s", b)
	}
}
