package study

import (
	"fmt"
	"math/rand"
	"os"
	"strings"
	"testing"

	"tinyq/nn"
	"tinyq/study/schema"
)

func testModel(t *testing.T, seed int64) *nn.MLP {
	t.Helper()
	m, err := nn.NewMLP([]int{12, 8, 10}, rand.New(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestOpenHoldsDirectory (issue 18, item 4): a study holds its directory from Open to Close;
// a second Open meanwhile is refused with one line naming the directory and the holder.
func TestOpenHoldsDirectory(t *testing.T) {
	dir := t.TempDir()
	cfg := schema.Config{Settings: Quick()}
	s, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, cfg)
	want := fmt.Sprintf("study: %s is in use by another run (process %d)", dir, os.Getpid())
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("second Open: %v, want %q", err, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, cfg)
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	s.Close()
}

// TestModelChecksRecord (issue 18, item 4): a resumed study's Model refuses a model file that
// is not the one SetReference recorded, saying what differs: the training record (another
// seed), or, with the same record, the parameters' fingerprint; SetReference refuses another
// model too.
func TestModelChecksRecord(t *testing.T) {
	dir := t.TempDir()
	cfg := schema.Config{Settings: Quick()}
	const rec1, rec2 = `{"batch":128,"seed":1}`, `{"batch":128,"seed":2}`
	s, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m1 := testModel(t, 1)
	if err := s.SetReference(m1, nil, 90, rec1); err != nil {
		t.Fatal(err)
	}
	s.Close()

	reopen := func() *Study {
		t.Helper()
		s, err := Open(dir, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !s.HasModel() {
			t.Fatal("no model on resume")
		}
		return s
	}
	s = reopen()
	if _, err := s.Model(rec1); err != nil {
		t.Fatalf("its own model: %v", err)
	}
	if err := s.SetReference(testModel(t, 2), nil, 90, rec1); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("SetReference of another model on a resumed study: %v", err)
	}
	s.Close()

	edited := m1.Clone()
	edited.Layers[1].Bias()[3] += 1e-3
	for _, c := range []struct {
		m    *nn.MLP
		rec  string
		want string
	}{
		{testModel(t, 2), rec2, "its training record has seed 2, the study's 1"},
		{edited, rec1, "its parameters' SHA-256 is"},
	} {
		if err := c.m.Save(s.ModelPath(), c.rec); err != nil {
			t.Fatal(err)
		}
		s := reopen()
		_, err := s.Model("")
		s.Close()
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), s.ModelPath()) {
			t.Errorf("Model: %v, want %q", err, c.want)
		}
	}
}
