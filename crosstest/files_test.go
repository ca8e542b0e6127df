package crosstest_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/modelfile"
	"tinyq/nn"
	"tinyq/ptq"
	"tinyq/qat"
	"tinyq/quant"
	"tinyq/safetensors"
	"tinyq/train"
)

func testModel(t testing.TB) *nn.MLP {
	t.Helper()
	m, err := nn.NewMLP([]int{12, 8, 6, 3}, rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		for j := range l.Bias() {
			l.Bias()[j] = 0.01 * float32(j+1)
		}
	}
	return m
}

func images(n, in int) []float32 {
	rng := rand.New(rand.NewSource(2))
	x := make([]float32, n*in)
	for i := range x {
		x[i] = rng.Float32()
	}
	return x
}

func sameFloat(t *testing.T, a, b *nn.MLP) {
	t.Helper()
	if len(a.Layers) != len(b.Layers) {
		t.Fatalf("%d layers, want %d", len(b.Layers), len(a.Layers))
	}
	for i := range a.Layers {
		if a.Layers[i].Act != b.Layers[i].Act {
			t.Fatalf("layer %d activation %v, want %v", i, b.Layers[i].Act, a.Layers[i].Act)
		}
		for _, p := range [][2][]float32{{a.Layers[i].Weights(), b.Layers[i].Weights()}, {a.Layers[i].Bias(), b.Layers[i].Bias()}} {
			for j := range p[0] {
				if math.Float32bits(p[0][j]) != math.Float32bits(p[1][j]) {
					t.Fatalf("layer %d parameter %d: %v, want %v", i, j, p[1][j], p[0][j])
				}
			}
		}
	}
}

func TestFloatRoundTrip(t *testing.T) {
	m := testModel(t)
	p := filepath.Join(t.TempDir(), "fp32.safetensors")
	if err := m.Save(p, `{"seed":1}`); err != nil {
		t.Fatal(err)
	}
	got, info, err := nn.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	sameFloat(t, m, got)
	if info.Kind != modelfile.Float || info.Training != `{"seed":1}` || len(info.Arch.Sizes) != 4 {
		t.Fatalf("info %+v", info)
	}
}

func TestQATRoundTrip(t *testing.T) {
	qm, err := qat.Prepare(testModel(t), qat.Spec(4, 4))
	if err != nil {
		t.Fatal(err)
	}
	x := images(50, 12)
	// Observe some data so the scales are not the initial ones.
	ev, err := qm.NewEvaluator(50)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Forward(x, 50); err != nil {
		t.Fatal(err)
	}
	qm.SetObserving(false)
	p := filepath.Join(t.TempDir(), "qat.safetensors")
	if err := qm.Save(p, ""); err != nil {
		t.Fatal(err)
	}
	got, _, err := qat.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	sameFloat(t, qm.MLP, got.MLP)
	for i, q := range qm.Quantizers() {
		a, b := q.Params(), got.Quantizers()[i].Params()
		for c := range a.Scales {
			if a.Scales[c] != b.Scales[c] || a.ZeroPoints[c] != b.ZeroPoints[c] {
				t.Fatalf("%s channel %d: scale %v zp %d, want %v %d", q.Name, c, b.Scales[c], b.ZeroPoints[c], a.Scales[c], a.ZeroPoints[c])
			}
		}
	}
	// The loaded model simulates the same logits.
	ev2, err := got.NewEvaluator(50)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ev.Forward(x, 50)
	want = append([]float32(nil), want...)
	have, err := ev2.Forward(x, 50)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if want[i] != have[i] {
			t.Fatalf("logit %d: %v after loading, %v before", i, have[i], want[i])
		}
	}
}

func TestIntRoundTrip(t *testing.T) {
	m, err := testModel(t).FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	x := images(40, 12)
	for _, cfg := range []ptq.Config{ptq.Spec(ptq.Static, 8, 8), ptq.Spec(ptq.Static, 4, 4), ptq.Spec(ptq.Dynamic, 8, 8), ptq.Spec(ptq.Static, 3, 5), ptq.Spec(ptq.Static, 2, 4)} {
		var plan ptq.Plan
		if cfg.Mode == ptq.Static {
			r, err := ptq.Calibrate(m, cfg, x)
			if err != nil {
				t.Fatal(err)
			}
			plan.Inputs = r
		}
		im, err := ptq.Convert(m, cfg, plan)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "int.safetensors")
		if err := infer.SaveInt(p, im, ""); err != nil {
			t.Fatal(err)
		}
		got, err := infer.LoadInt(p)
		if err != nil {
			t.Fatalf("%s: %v", cfg.Name(), err)
		}
		a, b := make([]float32, 40*3), make([]float32, 40*3)
		if err := im.Forward(x, 40, a); err != nil {
			t.Fatal(err)
		}
		if err := got.Forward(x, 40, b); err != nil {
			t.Fatal(err)
		}
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("%s: logit %d %v after loading, %v before", cfg.Name(), i, b[i], a[i])
			}
		}
		if got.WeightBytes() != im.WeightBytes() {
			t.Fatalf("%s: %d bytes after loading, %d before", cfg.Name(), got.WeightBytes(), im.WeightBytes())
		}
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	m := testModel(t)
	st := train.State{Epochs: 2, History: []train.Epoch{{TrainLoss: 1}, {TrainLoss: 0.5}}}
	st.Solver.Kind, st.Solver.Steps = train.Adam, 7
	for _, l := range m.Layers {
		for _, n := range []int{l.In * l.Out, l.Out} {
			mv, vv := make([]float32, n), make([]float32, n)
			for i := range mv {
				mv[i], vv[i] = float32(i)*0.5, float32(i)*0.25
			}
			st.Solver.M = append(st.Solver.M, mv)
			st.Solver.V = append(st.Solver.V, vv)
		}
	}
	p := filepath.Join(t.TempDir(), "ckpt.safetensors")
	if err := train.SaveCheckpoint(p, m, st, "cfg"); err != nil {
		t.Fatal(err)
	}
	got, gst, info, err := train.LoadCheckpoint(p)
	if err != nil {
		t.Fatal(err)
	}
	sameFloat(t, m, got)
	if info.Training != "cfg" || gst.Epochs != 2 || gst.Solver.Steps != 7 || len(gst.History) != 2 || gst.History[1].TrainLoss != 0.5 {
		t.Fatalf("state %+v", gst)
	}
	for k := range st.Solver.M {
		for i := range st.Solver.M[k] {
			if st.Solver.M[k][i] != gst.Solver.M[k][i] || st.Solver.V[k][i] != gst.Solver.V[k][i] {
				t.Fatalf("moment %d[%d] differs", k, i)
			}
		}
	}
}

// TestLoadErrors: each corrupt file gives an error naming the file and the problem.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := testModel(t).Save(good, ""); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	hdrEnd := 8 + int(uint64(data[0])|uint64(data[1])<<8|uint64(data[2])<<16|uint64(data[3])<<24)
	replaceIn := func(data []byte, old, new string) []byte {
		h := strings.Replace(string(data[8:hdrEnd]), old, new, 1)
		if len(h) != hdrEnd-8 || h == string(data[8:hdrEnd]) {
			t.Fatalf("replacement %q -> %q changes the header length or nothing", old, new)
		}
		return append(append(append([]byte(nil), data[:8]...), h...), data[hdrEnd:]...)
	}
	replace := func(old, new string) []byte { return replaceIn(data, old, new) }
	// The NaN case hides the checksum (renamed to a key readers ignore, as in a file written
	// before it existed), so that the NaN itself is what the loader finds.
	nan := replaceIn(data, `"data_sha256"`, `"data_sha25x"`)
	copy(nan[hdrEnd:], []byte{0, 0, 0xc0, 0x7f}) // the first parameter becomes NaN
	flipped := append([]byte(nil), data...)
	flipped[len(flipped)-1] ^= 0x10 // one bit of the last bias: a finite value, in range
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", data[:len(data)-10], ""},
		{"short", data[:5], ""},
		{"header past end", append([]byte{0xff, 0xff, 0, 0, 0, 0, 0, 0}, data[8:]...), ""},
		{"bad json", replace(`"__metadata__"`, `"__metadata__'`), ""},
		{"version", replace(`"format_version":"2"`, `"format_version":"9"`), "format_version"},
		{"kind", replace(`"kind":"float"`, `"kind":"floot"`), "kind"},
		{"nan", nan, "NaN"},
		{"flipped bit", flipped, "data checksum mismatch"},
		{"empty", nil, ""},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name+".safetensors")
		if err := os.WriteFile(p, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := nn.Load(p)
		if err == nil {
			t.Errorf("%s: loaded", c.name)
			continue
		}
		if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want the path and %q", c.name, err, c.want)
		}
		if strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("%s: error spans lines: %q", c.name, err)
		}
	}
	// A float file is not an integer model, and shapes must match the architecture.
	if _, err := infer.LoadInt(good); err == nil || !strings.Contains(err.Error(), "kind") {
		t.Errorf("LoadInt of a float file: %v", err)
	}
	if _, _, err := nn.Load(filepath.Join(dir, "missing.safetensors")); err == nil {
		t.Error("missing file loaded")
	}
}

// checkQATResume trains a model prepared with cfg for tcfg.Epochs (2) epochs uninterrupted,
// and for one epoch, a checkpoint, a restore into a fresh model and one more epoch, and fails
// unless both end bit-identical. It returns the checkpoint's path.
func checkQATResume(t *testing.T, cfg qat.Config, tcfg train.Config) string {
	t.Helper()
	x := images(96, 12)
	labels := make([]uint8, 96)
	for i := range labels {
		labels[i] = uint8(i % 3)
	}
	data := train.Data{Images: x, Labels: labels}
	cfg.LearnScales = true // the scales' solver state must survive too
	prepare := func() (*qat.Model, *train.Trainer) {
		qm, err := qat.Prepare(testModel(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := qm.NewTrainer(tcfg)
		if err != nil {
			t.Fatal(err)
		}
		return qm, tr
	}
	full, trFull := prepare()
	for range 2 {
		if _, err := trFull.Epoch(data, train.Data{}); err != nil {
			t.Fatal(err)
		}
	}
	half, trHalf := prepare()
	if _, err := trHalf.Epoch(data, train.Data{}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "qck.safetensors")
	if err := half.SaveCheckpoint(p, trHalf.State(&train.History{Epochs: make([]train.Epoch, 1)}), "cfg"); err != nil {
		t.Fatal(err)
	}
	resumed, trRes := prepare()
	st, info, err := resumed.LoadCheckpoint(p)
	if err != nil {
		t.Fatal(err)
	}
	if info.Training != "cfg" || st.Epochs != 1 || st.Extra.Steps == 0 {
		t.Fatalf("state %+v", st)
	}
	if err := trRes.Restore(st); err != nil {
		t.Fatal(err)
	}
	if _, err := trRes.Epoch(data, train.Data{}); err != nil {
		t.Fatal(err)
	}
	sameFloat(t, full.MLP, resumed.MLP)
	for i, q := range full.Quantizers() {
		a, b := q.Params(), resumed.Quantizers()[i].Params()
		for c := range a.Scales {
			if a.Scales[c] != b.Scales[c] {
				t.Fatalf("%s scale %d: %v resumed, %v uninterrupted", q.Name, c, b.Scales[c], a.Scales[c])
			}
		}
	}
	return p
}

// TestQATCheckpoint: a QAT model trained one epoch, checkpointed, restored into a freshly
// prepared model and trained one more epoch ends bit-identical to two uninterrupted epochs;
// also with cmd/mnist's low-bit recipe (learned scales from the LSQ paper's initial value, the
// input scale fixed, a cosine learning-rate decay).
func TestQATCheckpoint(t *testing.T) {
	low := qat.Spec(2, 2)
	low.LearnScales, low.LSQInit, low.FixInputScale = true, qat.InitMeanAbs, true
	checkQATResume(t, low, train.Config{Epochs: 2, Batch: 32, Seed: 3, Schedule: train.CosineLR})
	p := checkQATResume(t, qat.Spec(4, 4), train.Config{Epochs: 2, Batch: 32, Seed: 3})
	// A model prepared differently is refused.
	other, err := qat.Prepare(testModel(t), qat.Spec(8, 8))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.LoadCheckpoint(p); err == nil || !strings.Contains(err.Error(), "quantization") {
		t.Fatalf("checkpoint loaded into a W8A8 model: %v", err)
	}
	// Histogram observers cannot be checkpointed.
	pc := qat.Spec(4, 4)
	pc.Observer.Kind = quant.PercentileObserver
	hm, err := qat.Prepare(testModel(t), pc)
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := hm.NewEvaluator(4)
	if _, err := ev.Forward(images(96, 12)[:48], 4); err != nil {
		t.Fatal(err)
	}
	if err := hm.SaveCheckpoint(filepath.Join(t.TempDir(), "h"), train.State{}, ""); err == nil || !strings.Contains(err.Error(), "histogram") {
		t.Fatalf("percentile observer checkpointed: %v", err)
	}
}

// TestEveryWriterAddsChecksum: every tinyq writer (float fp32 and fp16, int static and
// dynamic, qat, checkpoint, qat-checkpoint) stores data_sha256, the SHA-256 of every byte
// after the header in lowercase hex, and the file loads. Issue 18, item 20.
func TestEveryWriterAddsChecksum(t *testing.T) {
	dir := t.TempDir()
	m := testModel(t)
	x := images(40, 12)
	qm, err := qat.Prepare(testModel(t), qat.Spec(4, 4))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := qm.NewEvaluator(40)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Forward(x, 40); err != nil {
		t.Fatal(err)
	}
	writers := map[string]func(p string) error{
		"nn float": func(p string) error { return m.Save(p, "") },
		"checkpoint": func(p string) error {
			return train.SaveCheckpoint(p, m, train.State{}, "")
		},
		"qat":            func(p string) error { return qm.Save(p, "") },
		"qat-checkpoint": func(p string) error { return qm.SaveCheckpoint(p, train.State{}, "") },
	}
	for _, prec := range []infer.Precision{infer.F32, infer.F16} {
		writers["float "+prec.String()] = func(p string) error {
			fm, err := m.FloatModel()
			if err == nil && prec == infer.F16 {
				fm, err = ptq.Float16(fm)
			}
			if err != nil {
				return err
			}
			return infer.SaveFloat(p, fm, "")
		}
	}
	for _, cfg := range []ptq.Config{ptq.Spec(ptq.Static, 4, 8), ptq.Spec(ptq.Dynamic, 8, 8)} {
		writers["int "+cfg.Name()] = func(p string) error {
			var plan ptq.Plan
			fm, err := m.FloatModel()
			if err != nil {
				return err
			}
			if cfg.Mode == ptq.Static {
				r, err := ptq.Calibrate(fm, cfg, x)
				if err != nil {
					return err
				}
				plan.Inputs = r
			}
			im, err := ptq.Convert(fm, cfg, plan)
			if err != nil {
				return err
			}
			return infer.SaveInt(p, im, "")
		}
	}
	for name, write := range writers {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".safetensors")
		if err := write(p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		n := binary.LittleEndian.Uint64(raw)
		var header struct {
			Meta map[string]string `json:"__metadata__"`
		}
		if err := json.Unmarshal(raw[8:8+n], &header); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(raw[8+n:])
		if got, want := header.Meta[modelfile.KeyDataSHA256], hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s: data_sha256 %q, want %q", name, got, want)
		}
		load := func(p string) error { _, _, err := nn.Load(p); return err }
		if strings.HasPrefix(name, "int") {
			load = func(p string) error { _, err := infer.LoadInt(p); return err }
		}
		if err := load(p); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestQATLoadChecksSettings: the training settings of a QAT file, which the runtime does not
// read, are checked where they are used, continuing training: qat.Load refuses a
// freeze_observers_after that is not an integer.
func TestQATLoadChecksSettings(t *testing.T) {
	f, err := safetensors.ReadFile(filepath.Join(inferTestdata, "qat-w4a8.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	q := f.Metadata[modelfile.KeyQuant]
	if !strings.Contains(q, `"freeze_observers_after":0`) {
		t.Fatalf("quantization %s has no freeze_observers_after 0", q)
	}
	f.Metadata[modelfile.KeyQuant] = strings.Replace(q, `"freeze_observers_after":0`, `"freeze_observers_after":"x"`, 1)
	p := filepath.Join(t.TempDir(), "qat-freeze.safetensors")
	if err := modelfile.Write(p, f); err != nil {
		t.Fatal(err)
	}
	if _, err := infer.Load(p); err != nil {
		t.Errorf("infer.Load with freeze_observers_after \"x\" (informative for the runtime): %v", err)
	}
	if _, _, err := qat.Load(p); err == nil || !strings.Contains(err.Error(), "freeze_observers_after") {
		t.Errorf("qat.Load with freeze_observers_after \"x\": %v", err)
	}
}
