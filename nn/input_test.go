package nn

import (
	"path/filepath"
	"strings"
	"testing"

	"tinyq/modelfile"
)

// TestInputRecordTravels (issue 18, item 11): a model's input record is read from its file,
// written back by Save and kept by Clone; the zero record is the default; a record that does
// not fit the first layer is refused by Validate.
func TestInputRecordTravels(t *testing.T) {
	m := testModel(t)
	if got, want := m.InputRecord(), modelfile.DefaultInput(12); got != want {
		t.Fatalf("zero record: %+v, want the default %+v", got, want)
	}
	in := modelfile.Input{Width: 4, Height: 3, PixelDivisor: 127.5}
	m.Input = in
	if got := m.Clone().InputRecord(); got != in {
		t.Errorf("Clone: %+v, want %+v", got, in)
	}
	p := filepath.Join(t.TempDir(), "m.safetensors")
	if err := m.Save(p, ""); err != nil {
		t.Fatal(err)
	}
	l, info, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if l.Input != in || info.Input != in {
		t.Errorf("saved and loaded: %+v (info %+v), want %+v", l.Input, info.Input, in)
	}
	m.Input = modelfile.Input{Width: 5, Height: 3, PixelDivisor: 255}
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "nn: input") {
		t.Errorf("a 5x3 record for 12 inputs: %v", err)
	}
}
