package infer_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand"
	randv2 "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/internal/atomicfile"
	"tinyq/nn"
	"tinyq/ptq"
	"tinyq/qkernel"
)

var update = flag.Bool("update", false, "rewrite the golden model files and logits in testdata/golden")

// goldenDir holds small integer model files and the float32 bits of their logits on
// goldenInputs, written by `go test ./infer -run TestGoldenLogits -update` on amd64.
const goldenDir = "testdata/golden"

// goldenSizes is the tiny MLP of the golden models: MNIST's input and classes, two small
// hidden layers (three layers, so an inner requantization is exercised), about 12.7k weights
// (12.7 kB at 8 bits).
var goldenSizes = []int{784, 16, 12, 10}

// goldenConfigs are the conversions tested: 8-, 4- and 2-bit weights, static (per channel
// and per tensor) and dynamic.
var goldenConfigs = []ptq.Config{
	ptq.Spec(ptq.Static, 8, 8),
	ptq.Spec(ptq.Static, 8, 8).PerTensor(),
	ptq.Spec(ptq.Static, 4, 4),
	ptq.Spec(ptq.Static, 2, 8),
	ptq.Spec(ptq.Dynamic, 8, 8),
	ptq.Spec(ptq.Dynamic, 4, 8),
}

// goldenRows is how many inputs the logits are recorded for: 14 MNIST-like rows, one black
// and one white image.
const goldenRows = 16

// goldenInputs returns n rows of 784 values k/255 from a PCG stream (math/rand/v2's PCG is
// the same on every platform, and k/255 is correctly rounded everywhere): about 80% zeros as
// in MNIST, the rest uniform in 1..255; with extremes, the last two rows are all 0 and all 1.
func goldenInputs(seed uint64, n int, extremes bool) []float32 {
	r := randv2.New(randv2.NewPCG(seed, 18))
	x := make([]float32, n*784)
	for i := range x {
		if r.IntN(5) == 0 {
			x[i] = float32(1+r.IntN(255)) / 255
		}
	}
	if extremes {
		clear(x[(n-2)*784 : (n-1)*784])
		for i := (n - 1) * 784; i < n*784; i++ {
			x[i] = 1
		}
	}
	return x
}

// goldenFile is testdata/golden/logits.json: per model file, the logits' float32 bits in hex,
// one string of classes values per input row.
type goldenFile struct {
	Note   string              `json:"note"`
	Logits map[string][]string `json:"logits"`
}

// writeGolden writes the golden models and their logits (-update).
func writeGolden(t *testing.T) {
	if err := os.MkdirAll(goldenDir, 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := nn.NewMLP(goldenSizes, rand.New(rand.NewSource(18)))
	if err != nil {
		t.Fatal(err)
	}
	calib := goldenInputs(1, 256, false)
	g := goldenFile{
		Note:   "float32 bits of each model's logits on goldenInputs(2, 16, true), one row per input; written by go test ./infer -run TestGoldenLogits -update",
		Logits: map[string][]string{},
	}
	x := goldenInputs(2, goldenRows, true)
	for _, c := range goldenConfigs {
		ch, err := ptq.Choose(m, c, calib, nil)
		if err != nil {
			t.Fatal(err)
		}
		name := c.Name() + ".safetensors"
		if err := infer.SaveInt(filepath.Join(goldenDir, name), ch.Model, "issue 18 golden model: random init, seed 18, no training"); err != nil {
			t.Fatal(err)
		}
		loaded, err := infer.Load(filepath.Join(goldenDir, name))
		if err != nil {
			t.Fatal(err)
		}
		g.Logits[name] = logitRows(t, loaded, x)
	}
	b, err := json.MarshalIndent(g, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(filepath.Join(goldenDir, "logits.json"), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// logitRows runs m on x and returns each row's logits as float32 bits in hex.
func logitRows(t *testing.T, m infer.Model, x []float32) []string {
	t.Helper()
	_, classes := m.Shape()
	rows := len(x) / 784
	logits := make([]float32, rows*classes)
	if err := m.Forward(x, rows, logits); err != nil {
		t.Fatal(err)
	}
	out := make([]string, rows)
	for r := range rows {
		var s []string
		for _, v := range logits[r*classes : (r+1)*classes] {
			s = append(s, fmt.Sprintf("%08x", math.Float32bits(v)))
		}
		out[r] = strings.Join(s, " ")
	}
	return out
}

// TestGoldenLogits loads the committed integer model files (8-, 4- and 2-bit weights, static
// and dynamic) and checks their logits on fixed inputs against the committed float32 bits,
// on this architecture (amd64, arm64 under qemu and js/wasm under Node in .ci/run) and, in a
// child process per TINYQ_KERNEL value, on every integer path this CPU supports: the integer
// runtime gives the same logits, bit for bit, everywhere. Issue 18, item 2.
func TestGoldenLogits(t *testing.T) {
	if *update {
		writeGolden(t)
	}
	b, err := os.ReadFile(filepath.Join(goldenDir, "logits.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Logits) != len(goldenConfigs) {
		t.Fatalf("%d models in logits.json, want %d", len(g.Logits), len(goldenConfigs))
	}
	x := goldenInputs(2, goldenRows, true)
	for name, want := range g.Logits {
		m, err := infer.Load(filepath.Join(goldenDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.(*infer.IntModel); !ok {
			t.Fatalf("%s: %T, want an integer model", name, m)
		}
		got := logitRows(t, m, x)
		if len(want) != len(got) {
			t.Fatalf("%s: %d rows in logits.json, want %d", name, len(want), len(got))
		}
		for r := range want {
			if got[r] != want[r] {
				t.Errorf("%s on %s/%s, integer path %v: row %d logits\n%s\nwant\n%s", name, runtime.GOOS, runtime.GOARCH, qkernel.Kernel(), r, got[r], want[r])
			}
		}
	}
	t.Logf("%d models x %d rows equal the golden logits on %s/%s, integer path %v", len(g.Logits), goldenRows, runtime.GOOS, runtime.GOARCH, qkernel.Kernel())
	if os.Getenv("TINYQ_GOLDEN_CHILD") != "" || t.Failed() {
		return
	}
	for _, p := range qkernel.Supported() {
		if p == qkernel.Kernel() {
			continue
		}
		cmd := exec.Command(os.Args[0], "-test.run", "^TestGoldenLogits$", "-test.v")
		cmd.Env = append(os.Environ(), "TINYQ_KERNEL="+p.String(), "TINYQ_GOLDEN_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "integer path "+p.String()) {
			t.Errorf("TINYQ_KERNEL=%v: %v\n%s", p, err, out)
		}
	}
}
