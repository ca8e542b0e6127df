package crosstest_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"tinyq/infer"
	"tinyq/modelfile"
	"tinyq/nn"
	"tinyq/ptq"
	"tinyq/qat"
	"tinyq/safetensors"
	"tinyq/train"
)

// seedFiles returns one valid file of each kind.
func seedFiles(f *testing.F) [][]byte {
	dir := f.TempDir()
	m := testModel(f)
	x := images(20, 12)
	var out [][]byte
	add := func(name string, save func(string) error) {
		p := filepath.Join(dir, name)
		if err := save(p); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	add("f", func(p string) error { return m.Save(p, `{"a":1}`) })
	qm, err := qat.Prepare(m, qat.Spec(4, 4))
	if err != nil {
		f.Fatal(err)
	}
	add("q", func(p string) error { return qm.Save(p, "") })
	add("h", func(p string) error {
		h, err := m.FloatModel()
		if err == nil {
			h, err = ptq.Float16(h)
		}
		if err != nil {
			return err
		}
		return infer.SaveFloat(p, h, "")
	})
	for _, cfg := range []ptq.Config{ptq.Spec(ptq.Static, 4, 4), ptq.Spec(ptq.Dynamic, 8, 8)} {
		var plan ptq.Plan
		fm, err := m.FloatModel()
		if err != nil {
			f.Fatal(err)
		}
		if cfg.Mode == ptq.Static {
			if plan.Inputs, err = ptq.Calibrate(fm, cfg, x); err != nil {
				f.Fatal(err)
			}
		}
		im, err := ptq.Convert(fm, cfg, plan)
		if err != nil {
			f.Fatal(err)
		}
		add("i"+cfg.Name(), func(p string) error { return infer.SaveInt(p, im, "") })
	}
	add("c", func(p string) error { return train.SaveCheckpoint(p, m, train.State{}, "") })
	add("qc", func(p string) error { return qm.SaveCheckpoint(p, train.State{}, "") })
	return out
}

// FuzzLoad: no file makes a loader panic, and whatever loads is valid enough to run.
func FuzzLoad(f *testing.F) {
	// One thread: gemm's warm workers would otherwise make coverage depend on timing, and the
	// fuzzer would spend its time minimizing inputs that only looked new.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, b := range seedFiles(f) {
		f.Add(b)
		f.Add(b[:len(b)/2])
		c := append([]byte(nil), b...)
		c[len(c)-3] ^= 0xff
		f.Add(c)
		d := append([]byte(nil), b...)
		d[20] ^= 0x20
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		f, err := safetensors.Decode(data)
		if err != nil {
			return
		}
		if m, _, err := nn.Decode(f, modelfile.Float, modelfile.QAT, modelfile.Checkpoint, modelfile.QATCheckpoint); err == nil {
			if err := m.Validate(); err != nil {
				t.Fatalf("a loaded float model is invalid: %v", err)
			}
		}
		if qm, _, err := qat.Decode(f); err == nil {
			if err := qm.Validate(); err != nil {
				t.Fatalf("a loaded QAT model is invalid: %v", err)
			}
			for _, q := range qm.Quantizers() {
				if err := q.Params().Validate(); err != nil {
					t.Fatalf("a loaded QAT model has invalid %s parameters: %v", q.Name, err)
				}
			}
		}
		if im, err := infer.Decode(f); err == nil {
			in, out := im.Shape()
			if err := im.Forward(make([]float32, in), 1, make([]float32, out)); err != nil {
				t.Fatalf("a loaded %s model does not run: %v", im.Name(), err)
			}
		}
		if qm, err := qat.Prepare(testModel(t), qat.Spec(4, 4)); err == nil {
			if st, _, err := qm.DecodeCheckpoint(f); err == nil && st.Epochs < 0 {
				t.Fatalf("a loaded QAT checkpoint has %d epochs", st.Epochs)
			}
		}
		if m, st, _, err := train.DecodeCheckpoint(f); err == nil {
			if err := m.Validate(); err != nil || st.Epochs < 0 {
				t.Fatalf("a loaded checkpoint is invalid: %v (epochs %d)", err, st.Epochs)
			}
		}
	})
}
