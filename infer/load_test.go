package infer_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/internal/golden"
	"tinyq/internal/pyreader"
	"tinyq/modelfile"
	"tinyq/safetensors"
)

// baseFiles returns the committed files the loader tests edit (testdata, written by
// crosstest's TestInferTestdata from the 3-2-2 model of docs/FORMAT.md section 9), by name:
// "float", "int" (W4A8 static, FORMAT.md section 9), "int-dynamic" (W8), "int-mixed"
// (format_version 3, layer_bits [[2,8],[8,8]]) and "qat" (W4A8).
func baseFiles(t *testing.T) map[string]string {
	t.Helper()
	paths := map[string]string{
		"float":       "float.safetensors",
		"int":         "int-w4a8.safetensors",
		"int-dynamic": "int-w8-dynamic.safetensors",
		"int-mixed":   "int-mixed.safetensors",
		"qat":         "qat-w4a8.safetensors",
	}
	for name, f := range paths {
		paths[name] = filepath.Join("testdata", f)
		if _, err := os.Stat(paths[name]); err != nil {
			t.Fatal(err)
		}
	}
	return paths
}

// edit is a change to a decoded file; the edited file is written with modelfile.Write, so
// that its data checksum is right for its new data.
type edit func(t *testing.T, f *safetensors.File)

// setMeta sets a metadata key ("" deletes it).
func setMeta(key, value string) edit {
	return func(t *testing.T, f *safetensors.File) {
		if value == "" {
			delete(f.Metadata, key)
			return
		}
		f.Metadata[key] = value
	}
}

// replaceMeta replaces old by new, once, in a metadata value, which must contain old.
func replaceMeta(key, old, new string) edit {
	return func(t *testing.T, f *safetensors.File) {
		t.Helper()
		v := f.Metadata[key]
		if !strings.Contains(v, old) {
			t.Fatalf("metadata %s = %q has no %q", key, v, old)
		}
		f.Metadata[key] = strings.Replace(v, old, new, 1)
	}
}

// setF32 sets element i of an F32 tensor.
func setF32(name string, i int, v float32) edit {
	return func(t *testing.T, f *safetensors.File) {
		t.Helper()
		tn, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("no tensor %s", name)
		}
		vals, err := tn.F32()
		if err != nil {
			t.Fatal(err)
		}
		vals[i] = v
		*tn = safetensors.FromF32(name, tn.Shape, vals)
	}
}

// setTensor replaces (or adds) a tensor.
func setTensor(tn safetensors.Tensor) edit {
	return func(t *testing.T, f *safetensors.File) {
		if old, ok := f.Tensor(tn.Name); ok {
			*old = tn
			return
		}
		f.Tensors = append(f.Tensors, tn)
	}
}

// deleteTensor removes a tensor, which must be there.
func deleteTensor(name string) edit {
	return func(t *testing.T, f *safetensors.File) {
		t.Helper()
		for i := range f.Tensors {
			if f.Tensors[i].Name == name {
				f.Tensors = append(f.Tensors[:i], f.Tensors[i+1:]...)
				return
			}
		}
		t.Fatalf("no tensor %s", name)
	}
}

// rewrite writes a copy of the file at src with the edits applied, and returns its path.
func rewrite(t *testing.T, src, name string, edits ...edit) string {
	t.Helper()
	f, err := safetensors.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edits {
		e(t, f)
	}
	p := filepath.Join(t.TempDir(), name+".safetensors")
	if err := modelfile.Write(p, f); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadCase is one loader test: a base file, edits, and the expected outcome: an error
// containing want (and the file's path, on one line), or a model when want is "".
type loadCase struct {
	name  string
	base  string
	edits []edit
	want  string
	check func(t *testing.T, m infer.Model) // optional, for a model that loads
}

func runLoadCases(t *testing.T, base map[string]string, cases []loadCase) {
	t.Helper()
	for _, c := range cases {
		p := rewrite(t, base[c.base], strings.ReplaceAll(c.name, " ", "-"), c.edits...)
		m, err := infer.Load(p)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			} else if c.check != nil {
				c.check(t, m)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: loaded, want an error with %q", c.name, c.want)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, c.want) || !strings.Contains(msg, p) || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q, want one line with the path and %q", c.name, msg, c.want)
		}
	}
}

// TestLoadDegenerateScales: scales that are finite and > 0 but make the model compute
// nothing are refused at load (docs/FORMAT.md section 10): a subnormal weight scale, an
// input scale so tiny or so huge that a requantization multiplier flushes to 0, a logit
// scale below float32's normal range, a first-layer input scale under which every pixel
// quantizes to the zero point. Issue 18, item 8.
func TestLoadDegenerateScales(t *testing.T) {
	base := baseFiles(t)
	runLoadCases(t, base, []loadCase{
		{"valid int", "int", nil, "", nil},
		{"valid qat", "qat", nil, "", nil},
		{"int weight scale 1e-45", "int", []edit{setF32("fc1.w.scale", 0, 1e-45)}, "fc1.w.scale: element 0 is 1e-45", nil},
		{"int last weight scale 1e-45", "int", []edit{setF32("fc2.w.scale", 1, 1e-45)}, "fc2.w.scale: element 1 is 1e-45", nil},
		{"int input scale tiny", "int", []edit{setF32("fc1.in.scale", 0, 1e-30)}, "requantization multiplier 0 is", nil},
		{"int input scale huge", "int", []edit{setF32("fc2.in.scale", 0, 1e30)}, "flushes to 0", nil},
		{"int first input scale huge", "int", []edit{setF32("fc1.in.scale", 0, 1000)}, "every pixel quantizes to 0", nil},
		{"int logit scale subnormal", "int", []edit{setF32("fc2.w.scale", 0, 2e-38)}, "logit scale 0", nil},
		{"dynamic weight scale 1e-33", "int-dynamic", []edit{setF32("fc1.w.scale", 0, 1e-33)}, "fc1.w.scale: element 0 is 1e-33", nil},
		{"dynamic weight scale 1e-30", "int-dynamic", []edit{setF32("fc1.w.scale", 0, 1e-30)}, "", nil},
		// (A QAT bias must stay on the int32 grid of s_in·s_w: these channels have bias 0.)
		{"qat weight scale 1e-45", "qat", []edit{setF32("fc2.w.scale", 0, 1e-45)}, "fc2.w.scale: element 0 is 1e-45", nil},
		{"qat input scale 1e-40", "qat", []edit{setF32("fc2.b", 1, 0), setF32("fc2.in.scale", 0, 1e-40)}, "fc2.in.scale: element 0 is 1e-40", nil},
		{"qat first input scale huge", "qat", []edit{setF32("fc1.in.scale", 0, 1e6)}, "every image gives the same logits", nil},
	})
}

// TestLoadMatchesSpec: each place where docs/FORMAT.md and the loader disagreed, as decided
// (FORMAT.md sections 2 to 4 and 10). Issue 18, item 18.
func TestLoadMatchesSpec(t *testing.T) {
	base := baseFiles(t)
	wide := 65794 // modelfile.MaxIn + 1: too wide for an int32 accumulator, not for float32
	wideArch := replaceMeta(modelfile.KeyArch, `[3,`, `[65794,`)
	wideInput := setMeta(modelfile.KeyInput, `{"width":65794,"height":1,"pixel_divisor":255}`)
	inputIs := func(want infer.Input) func(t *testing.T, m infer.Model) {
		return func(t *testing.T, m infer.Model) {
			if m.Input() != want {
				t.Errorf("input %+v, want %+v", m.Input(), want)
			}
		}
	}
	runLoadCases(t, base, []loadCase{
		// (a) input absent: the default, in every version.
		{"a: no input", "float", []edit{setMeta(modelfile.KeyInput, "")}, "", inputIs(infer.Input{Width: 3, Height: 1, PixelDivisor: 255})},
		{"a: no input int", "int", []edit{setMeta(modelfile.KeyInput, "")}, "", inputIs(infer.Input{Width: 3, Height: 1, PixelDivisor: 255})},
		// (b) every field of input is required, not null, and known.
		{"b: input divisor missing", "float", []edit{setMeta(modelfile.KeyInput, `{"width":3,"height":1}`)}, "field pixel_divisor missing or null", nil},
		{"b: input width null", "float", []edit{setMeta(modelfile.KeyInput, `{"width":null,"height":1,"pixel_divisor":255}`)}, "field width missing or null", nil},
		{"b: input unknown field", "float", []edit{setMeta(modelfile.KeyInput, `{"width":3,"height":1,"pixel_divisor":255,"mean":0.13}`)}, `unknown field "mean"`, nil},
		{"b: input width 3.0", "float", []edit{setMeta(modelfile.KeyInput, `{"width":3.0,"height":1,"pixel_divisor":255}`)}, "field width is 3.0, want an integer", nil},
		{"b: input null", "float", []edit{setMeta(modelfile.KeyInput, `null`)}, "not a JSON object", nil},
		{"b: input complete", "float", []edit{setMeta(modelfile.KeyInput, `{"height":1,"pixel_divisor":1e2,"width":3}`)}, "", inputIs(infer.Input{Width: 3, Height: 1, PixelDivisor: 100})},
		// pixel_divisor is rounded once to float32: 1 + 2^-24 + 10^-24 is just above the
		// halfway point between 1 and the next float32, which rounding through float64 loses.
		{"b: divisor rounded once", "float", []edit{setMeta(modelfile.KeyInput, `{"width":3,"height":1,"pixel_divisor":1.000000059604644775390626}`)}, "", inputIs(infer.Input{Width: 3, Height: 1, PixelDivisor: 1 + 0x1p-23})},
		// (c) axis is normative from version 2: the stored tensor's channel axis, and only
		// for per-channel specs.
		{"c: int weight axis 1", "int", []edit{replaceMeta(modelfile.KeyQuant, `"axis":0`, `"axis":1`)}, "without axis 0", nil},
		{"c: qat weight axis 0", "qat", []edit{replaceMeta(modelfile.KeyQuant, `"axis":1`, `"axis":0`)}, "without axis 1", nil},
		{"c: int activation with axis", "int", []edit{replaceMeta(modelfile.KeyQuant, `"affine","granularity":"per-tensor"`, `"affine","granularity":"per-tensor","axis":0`)}, "activation: per-tensor spec with an axis", nil},
		{"c: qat activation with axis", "qat", []edit{replaceMeta(modelfile.KeyQuant, `"affine","granularity":"per-tensor"`, `"affine","granularity":"per-tensor","axis":0`)}, "activation: per-tensor spec with an axis", nil},
		{"c: v1 int axis 1", "int", []edit{setMeta(modelfile.KeyVersion, "1"), replaceMeta(modelfile.KeyQuant, `"axis":0`, `"axis":1`)}, "", nil},
		// (d) the 65,793-input limit is the int32 accumulator's: int files only.
		{"d: float 65794 inputs", "float", []edit{wideArch, wideInput, setTensor(safetensors.FromF32("fc1.w", []int{wide, 2}, make([]float32, 2*wide)))}, "", nil},
		{"d: int 65794 inputs", "int", []edit{wideArch, wideInput, setTensor(safetensors.FromU8("fc1.w", []int{wide}, make([]uint8, wide)))}, "65794 inputs", nil},
		// (e) layer_bits entries are exact pairs.
		{"e: valid layer_bits", "int-mixed", nil, "", nil},
		{"e: layer_bits triple", "int-mixed", []edit{replaceMeta(modelfile.KeyQuant, `[[2,8],`, `[[2,8,5],`)}, "layer_bits entry 1 is [2 8 5], want a pair", nil},
		{"e: layer_bits single", "int-mixed", []edit{replaceMeta(modelfile.KeyQuant, `[[2,8],`, `[[2],`)}, "layer_bits entry 1 is [2], want a pair", nil},
		// (f) a pixel_divisor under which a pixel would not give a finite input is refused.
		{"f: pixel_divisor 1e-38", "float", []edit{setMeta(modelfile.KeyInput, `{"width":3,"height":1,"pixel_divisor":1e-38}`)}, "pixel_divisor 1e-38", nil},
		{"f: pixel_divisor 1e-36", "float", []edit{setMeta(modelfile.KeyInput, `{"width":3,"height":1,"pixel_divisor":1e-36}`)}, "", nil},
		{"f: pixel_divisor 1e39", "float", []edit{setMeta(modelfile.KeyInput, `{"width":3,"height":1,"pixel_divisor":1e39}`)}, "want a number within float32's range", nil},
		// (g) informative values are not type-checked by the runtime.
		{"g: int calibration 7", "int", []edit{replaceMeta(modelfile.KeyQuant, `"calibration":"minmax"`, `"calibration":7`)}, "", nil},
		{"g: qat freeze x", "qat", []edit{replaceMeta(modelfile.KeyQuant, `"freeze_observers_after":0`, `"freeze_observers_after":"x"`)}, "", nil},
		{"g: qat observer 1", "qat", []edit{replaceMeta(modelfile.KeyQuant, `"observer":"moving-average"`, `"observer":1`)}, "", nil},
		{"g: spec logical_shape", "int", []edit{replaceMeta(modelfile.KeyQuant, `"axis":0`, `"axis":0,"logical_shape":"x","packed":1`)}, "", nil},
		{"g: tensor_specs", "int", []edit{setMeta(modelfile.KeySpecs, `[1,2]`)}, "", nil},
		{"g: tinyq_version", "int", []edit{setMeta(modelfile.KeyTinyq, `{}`)}, "", nil},
		// ... but what decides the arithmetic is.
		{"g: int bits string", "int", []edit{replaceMeta(modelfile.KeyQuant, `"bits":4`, `"bits":"4"`)}, "quantization", nil},
		// (h) format_version is a plain decimal integer.
		{"h: version 02", "float", []edit{setMeta(modelfile.KeyVersion, "02")}, `format_version "02"`, nil},
		{"h: version +2", "float", []edit{setMeta(modelfile.KeyVersion, "+2")}, `format_version "+2"`, nil},
		{"h: version 2.0", "float", []edit{setMeta(modelfile.KeyVersion, "2.0")}, `format_version "2.0"`, nil},
		{"h: version space", "float", []edit{setMeta(modelfile.KeyVersion, " 2")}, `format_version " 2"`, nil},
		{"h: version 2", "float", []edit{setMeta(modelfile.KeyVersion, "2")}, "", nil},
	})
	// (A QAT file's training settings are checked where they are used, continuing
	// training: crosstest's TestQATLoadChecksSettings.)
}

// TestLoadHeaderLimit: the header limit of docs/FORMAT.md section 2 is exactly 10^8 bytes,
// the reference implementation's: a header of 100,000,001 bytes is refused for its length
// (without reading the file: it is sparse), one of 100,000,000 bytes is read (this one is an
// empty object, then refused as no tinyq file; not under -short: it is a real 10^8-byte
// file). Issue 18, item 18 (i).
func TestLoadHeaderLimit(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		n    uint64
		want string
	}{
		{100_000_001, "header length 100000001 exceeds the limit of 100000000"},
		{100_000_000, "no format_version"},
	} {
		p := filepath.Join(dir, "h.safetensors")
		var data []byte
		if c.n > 100_000_000 {
			data = binary.LittleEndian.AppendUint64(nil, c.n)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, int64(8+c.n)); err != nil { // a sparse hole
				t.Fatal(err)
			}
		} else {
			if testing.Short() {
				continue
			}
			data = make([]byte, 8+c.n)
			binary.LittleEndian.PutUint64(data, c.n)
			copy(data[8:], "{}")
			for i := 10; i < len(data); i++ {
				data[i] = ' '
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := infer.Load(p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("header of %d bytes: %v, want %q", c.n, err, c.want)
		}
	}
}

// TestLoadDataChecksum: a flipped bit in the data section that leaves every value valid (a
// weight scale's lowest mantissa bit, a packed weight's sign bit) is refused as a checksum
// mismatch; a file without the checksum (as written before it existed) loads; a malformed
// checksum is refused. Issue 18, item 20.
func TestLoadDataChecksum(t *testing.T) {
	base := baseFiles(t)
	raw, err := os.ReadFile(base["int"])
	if err != nil {
		t.Fatal(err)
	}
	dataStart := 8 + int(binary.LittleEndian.Uint64(raw))
	f, err := safetensors.ReadFile(base["int"])
	if err != nil {
		t.Fatal(err)
	}
	// Byte offsets of two tensors in the data section: the tensors are laid out by name.
	offset := func(name string) int {
		o := 0
		for _, tn := range f.Tensors {
			if tn.Name == name {
				return dataStart + o
			}
			o += len(tn.Data)
		}
		t.Fatalf("no tensor %s", name)
		return 0
	}
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		at   int
		bit  byte
	}{
		{"scale mantissa", offset("fc1.w.scale"), 0x01},
		{"packed weight", offset("fc2.w"), 0x08},
		{"bias", offset("fc1.b"), 0x01},
		{"input scale", offset("fc2.in.scale") + 1, 0x01},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".safetensors")
		bad := append([]byte(nil), raw...)
		bad[c.at] ^= c.bit
		if err := os.WriteFile(p, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := infer.Load(p)
		if err == nil || !strings.Contains(err.Error(), "data checksum mismatch") || !strings.Contains(err.Error(), p) {
			t.Errorf("%s flipped: %v, want the path and \"data checksum mismatch\"", c.name, err)
		}
		// Without the checksum the same flip loads: it is what only the checksum catches.
		g, err := safetensors.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		delete(g.Metadata, modelfile.KeyDataSHA256)
		if err := safetensors.WriteFile(p, g); err != nil {
			t.Fatal(err)
		}
		if _, err := infer.Load(p); err != nil {
			t.Errorf("%s flipped, without checksum: %v", c.name, err)
		}
	}
	// Files without the checksum (written before it) load.
	for _, name := range []string{"float", "int", "qat"} {
		g, err := safetensors.ReadFile(base[name])
		if err != nil {
			t.Fatal(err)
		}
		delete(g.Metadata, modelfile.KeyDataSHA256)
		p := filepath.Join(dir, name+"-old.safetensors")
		if err := safetensors.WriteFile(p, g); err != nil {
			t.Fatal(err)
		}
		if _, err := infer.Load(p); err != nil {
			t.Errorf("%s without checksum: %v", name, err)
		}
	}
	// The checksum must be 64 lowercase hex digits (written here without modelfile.Write,
	// which would put the right one).
	g, err := safetensors.ReadFile(base["int"])
	if err != nil {
		t.Fatal(err)
	}
	sum := g.DataSHA256()
	g.Metadata[modelfile.KeyDataSHA256] = strings.ToUpper(string(hexDigits(sum[:])))
	p := filepath.Join(dir, "upper.safetensors")
	if err := safetensors.WriteFile(p, g); err != nil {
		t.Fatal(err)
	}
	if _, err := infer.Load(p); err == nil || !strings.Contains(err.Error(), "want 64 lowercase hex digits") {
		t.Errorf("upper-case checksum: %v", err)
	}
	g.Metadata[modelfile.KeyDataSHA256] = string(hexDigits(sum[:]))
	if err := safetensors.WriteFile(p, g); err != nil {
		t.Fatal(err)
	}
	if _, err := infer.Load(p); err != nil {
		t.Errorf("checksum computed by the test: %v", err)
	}
}

// hexDigits is hex.EncodeToString, spelled out so that the test does not share the code
// it checks.
func hexDigits(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		out = append(out, digits[x>>4], digits[x&15])
	}
	return out
}

// TestFormatReaderAgreesOnValidity: scripts/tinyq_reader.py, written from docs/FORMAT.md,
// accepts and refuses the same edited files as the loader (issue 18, items 8, 18 and 20):
// the spec states each rule the loader applies.
//
// The format version 4 cases (docs/FORMAT.md section 11) edit the golden convolutional
// W8A8 file ("conv") and the float and qat files with BatchNorm tensors of
// TestFormatReaderBatchNorm ("bn", "bn-qat"; an 8×8×2 input); they are skipped under -short.
func TestFormatReaderAgreesOnValidity(t *testing.T) {
	pyreader.Python(t)
	base := baseFiles(t)
	tmp := t.TempDir()
	base["conv"] = filepath.Join(filepath.FromSlash(golden.ConvDir), "conv-w8a8-static.safetensors")
	bn, _ := bnFiles(t, tmp)
	base["bn"], base["bn-qat"] = bn[0], bn[2]
	pixels := map[string]string{}
	for name := range base {
		n := 3 // one row of the 3-2-2 model
		switch name {
		case "conv":
			n = 28 * 28
		case "bn", "bn-qat":
			n = 8 * 8 * 2
		}
		pixels[name] = filepath.Join(tmp, name+".u8")
		px := make([]byte, n)
		for i := range px {
			px[i] = byte(i * 97)
		}
		if err := os.WriteFile(pixels[name], px, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	net := func(old, new string) edit { return replaceMeta(modelfile.KeyNet, old, new) }
	cases := []struct {
		name  string
		base  string
		edits []edit
		valid bool
	}{
		{"int", "int", nil, true},
		{"qat", "qat", nil, true},
		{"no input", "int", []edit{setMeta(modelfile.KeyInput, "")}, true},
		{"input divisor missing", "int", []edit{setMeta(modelfile.KeyInput, `{"width":3,"height":1}`)}, false},
		{"input unknown field", "int", []edit{setMeta(modelfile.KeyInput, `{"width":3,"height":1,"pixel_divisor":255,"x":1}`)}, false},
		{"pixel_divisor 1e-38", "int", []edit{setMeta(modelfile.KeyInput, `{"width":3,"height":1,"pixel_divisor":1e-38}`)}, false},
		{"version 02", "int", []edit{setMeta(modelfile.KeyVersion, "02")}, false},
		{"int weight axis 1", "int", []edit{replaceMeta(modelfile.KeyQuant, `"axis":0`, `"axis":1`)}, false},
		{"activation axis", "qat", []edit{replaceMeta(modelfile.KeyQuant, `"affine","granularity":"per-tensor"`, `"affine","granularity":"per-tensor","axis":0`)}, false},
		{"calibration 7", "int", []edit{replaceMeta(modelfile.KeyQuant, `"calibration":"minmax"`, `"calibration":7`)}, true},
		{"weight scale 1e-45", "int", []edit{setF32("fc1.w.scale", 0, 1e-45)}, false},
		{"multiplier flushes", "int", []edit{setF32("fc2.in.scale", 0, 1e30)}, false},
		{"logit scale subnormal", "int", []edit{setF32("fc2.w.scale", 0, 2e-38)}, false},
		{"first input scale huge", "int", []edit{setF32("fc1.in.scale", 0, 1000)}, false},
		{"qat first input scale huge", "qat", []edit{setF32("fc1.in.scale", 0, 1e6)}, false},
		// Format version 4 (FORMAT.md 11.1): the arch key.
		{"conv", "conv", nil, true},
		{"v4 without arch", "conv", []edit{setMeta(modelfile.KeyNet, "")}, false},
		{"arch not JSON", "conv", []edit{setMeta(modelfile.KeyNet, `{"input":`)}, false},
		{"arch unknown field", "conv", []edit{net(`"layers"`, `"dilation":2,"layers"`)}, false},
		{"layer kind avgpool", "conv", []edit{net(`"maxpool"`, `"avgpool"`)}, false},
		{"dense with a kernel", "conv", []edit{net(`"dense","out":10`, `"dense","out":10,"kernel":3`)}, false},
		{"dense kernel 0", "conv", []edit{net(`"dense","out":10`, `"dense","out":10,"kernel":0,"stride":0`)}, true},
		{"maxpool with relu", "conv", []edit{net(`"kind":"maxpool","kernel":2,"stride":2`, `"kind":"maxpool","kernel":2,"stride":2,"relu":true`)}, false},
		{"relu null", "conv", []edit{net(`"relu":true`, `"relu":null`)}, true},
		{"out 4.0", "conv", []edit{net(`"out":4`, `"out":4.0`)}, false},
		{"pad = kernel", "conv", []edit{net(`"pad":1`, `"pad":3`)}, false},
		{"window too large", "conv", []edit{net(`"kernel":3`, `"kernel":31`)}, false},
		{"stride 0 means 1", "conv", []edit{net(`"stride":1,`, `"stride":0,`)}, true},
		{"stride 2^20+1", "conv", []edit{net(`"stride":1,`, `"stride":1048577,`)}, false},
		{"no flatten", "conv", []edit{net(`{"kind":"flatten"},`, ``)}, true},
		{"flatten before maxpool", "conv", []edit{net(`{"kind":"maxpool","kernel":2,"stride":2},{"kind":"flatten"}`, `{"kind":"flatten"},{"kind":"maxpool","kernel":2,"stride":2}`)}, false},
		{"last layer not dense", "conv", []edit{net(`{"kind":"dense","out":10}`, `{"kind":"dense","out":10},{"kind":"maxpool","kernel":1}`)}, false},
		{"input over 2^26 values", "conv", []edit{net(`{"h":28,"w":28,"c":1}`, `{"h":8193,"w":8193,"c":1}`), net(`"kernel":3,"stride":1,"pad":1`, `"kernel":1,"stride":8193`)}, false},
		{"input 784x1 for 28x28", "conv", []edit{setMeta(modelfile.KeyInput, `{"width":784,"height":1,"pixel_divisor":255}`)}, false},
		{"input 8x16 for 8x8x2", "bn", []edit{setMeta(modelfile.KeyInput, `{"width":8,"height":16,"pixel_divisor":255}`)}, true},
		{"input 8x8 for 8x8x2", "bn", []edit{setMeta(modelfile.KeyInput, `{"width":8,"height":8,"pixel_divisor":255}`)}, false},
		{"no input 8x8x2", "bn", []edit{setMeta(modelfile.KeyInput, "")}, true},
		// 11.2: tensors.
		{"int conv weight [4, 9]", "conv", []edit{setTensor(safetensors.FromI8("fc1.w", []int{4, 9}, make([]int8, 36)))}, false},
		{"float conv weight [18, 3]", "bn", []edit{setTensor(safetensors.FromF32("fc1.w", []int{18, 3}, make([]float32, 54)))}, false},
		{"int with batchnorm", "conv", []edit{net(`"pad":1,"relu":true`, `"pad":1`), net(`{"kind":"maxpool"`, `{"kind":"batchnorm","relu":true},{"kind":"maxpool"`)}, false},
		{"dynamic with a convolution", "conv", []edit{replaceMeta(modelfile.KeyQuant, `"static"`, `"dynamic"`)}, false},
		{"layer_bits in version 4", "conv", []edit{replaceMeta(modelfile.KeyQuant, `"activation"`, `"layer_bits":[[8,8],[8,8]],"activation"`)}, true},
		{"bn", "bn", nil, true},
		{"bn-qat", "bn-qat", nil, true},
		{"batchnorm after relu", "bn", []edit{net(`{"kind":"dense","out":5}`, `{"kind":"dense","out":5,"relu":true}`)}, false},
		{"bn eps missing", "bn", []edit{deleteTensor("fc1.bn.eps")}, false},
		{"bn gamma missing", "bn-qat", []edit{deleteTensor("fc2.bn.gamma")}, false},
		{"bn eps [1, 1]", "bn", []edit{setTensor(safetensors.FromF32("fc1.bn.eps", []int{1, 1}, []float32{1e-5}))}, false},
		{"bn gamma F16", "bn", []edit{setTensor(safetensors.FromF16Bits("fc1.bn.gamma", []int{3}, []uint16{0x3c00, 0x3c00, 0x3c00}))}, false},
		{"bn eps -1e-6", "bn", []edit{setF32("fc2.bn.eps", 0, -1e-6)}, false},
		{"bn eps 0", "bn", []edit{setF32("fc2.bn.eps", 0, 0)}, true},
		{"bn var = -eps", "bn", []edit{setF32("fc2.bn.running_var", 0, -1e-5)}, false},
		{"bn var -0.5, eps 1", "bn", []edit{setF32("fc2.bn.running_var", 0, -0.5), setF32("fc2.bn.eps", 0, 1)}, true},
		{"bn folds to Inf", "bn", []edit{setF32("fc2.bn.gamma", 0, 3e38), setF32("fc2.bn.running_var", 0, 1e-30)}, false},
		{"bn tensors without batchnorm", "bn", []edit{net(`{"kind":"dense","out":5},{"kind":"batchnorm","relu":true}`, `{"kind":"dense","out":5,"relu":true}`)}, true},
	}
	for _, c := range cases {
		if v4 := c.base == "conv" || strings.HasPrefix(c.base, "bn"); v4 && testing.Short() {
			continue // about 40 starts of python3: not under -short (.ci/run runs them once, without it)
		}
		p := rewrite(t, base[c.base], strings.ReplaceAll(c.name, " ", "-"), c.edits...)
		if _, err := infer.Load(p); (err == nil) != c.valid {
			t.Fatalf("%s: the loader says %v, want valid %t", c.name, err, c.valid)
		}
		out, err := pyreader.Check(t, p, pixels[c.base])
		if (err == nil) != c.valid {
			t.Errorf("%s: the reader says %v (%s), want valid %t", c.name, err, out, c.valid)
		}
	}
	// A flipped bit under the file's original checksum.
	f, err := safetensors.ReadFile(base["int"])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.Tensor("fc1.b")
	b.Data = append([]byte(nil), b.Data...)
	b.Data[0] ^= 1
	p := filepath.Join(t.TempDir(), "flipped.safetensors")
	if err := safetensors.WriteFile(p, f); err != nil {
		t.Fatal(err)
	}
	out, err := pyreader.Check(t, p, pixels["int"])
	if err == nil || !strings.Contains(out, "data checksum mismatch") {
		t.Errorf("flipped bit: the reader says %v (%s), want a checksum mismatch", err, out)
	}
}

// TestLoadCorruptFiles: each damaged copy of a committed file (cut short, a bad header, an
// unknown version or kind, a NaN, a flipped bit, empty) gives one line naming the file and
// the problem, from every loader of the runtime.
func TestLoadCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	for _, base := range []string{"float", "int", "qat"} {
		data, err := os.ReadFile(baseFiles(t)[base])
		if err != nil {
			t.Fatal(err)
		}
		hdrEnd := 8 + int(binary.LittleEndian.Uint64(data))
		replaceIn := func(data []byte, old, new string) []byte {
			h := strings.Replace(string(data[8:hdrEnd]), old, new, 1)
			if len(h) != hdrEnd-8 || h == string(data[8:hdrEnd]) {
				t.Fatalf("%s: replacement %q -> %q changes the header length or nothing", base, old, new)
			}
			return append(append(append([]byte(nil), data[:8]...), h...), data[hdrEnd:]...)
		}
		// The NaN case hides the checksum (renamed to a key readers ignore, as in a file
		// written before it existed), so that the NaN itself is what the loader finds in the
		// first tensor by name, fc1.b: F32 in float and QAT files (in an integer file it is
		// I32, where any bits are a number).
		nan := replaceIn(data, `"data_sha256"`, `"data_sha25x"`)
		copy(nan[hdrEnd:], []byte{0, 0, 0xc0, 0x7f})
		flipped := append([]byte(nil), data...)
		flipped[len(flipped)-1] ^= 0x10
		cases := []struct {
			name string
			data []byte
			want string
		}{
			{"truncated", data[:len(data)-10], ""},
			{"short", data[:5], ""},
			{"header past end", append([]byte{0xff, 0xff, 0, 0, 0, 0, 0, 0}, data[8:]...), ""},
			{"bad json", replaceIn(data, `"__metadata__"`, `"__metadata__'`), ""},
			{"version", replaceIn(data, `"format_version":"2"`, `"format_version":"9"`), "format_version"},
			{"kind", replaceIn(data, `"kind":"`+base, `"kind":"x`+base[1:]), "kind"},
			{"flipped bit", flipped, "data checksum mismatch"},
			{"empty", nil, ""},
		}
		if base != "int" {
			cases = append(cases, struct {
				name string
				data []byte
				want string
			}{"nan", nan, "NaN"})
		}
		for _, c := range cases {
			p := filepath.Join(dir, base+"-"+strings.ReplaceAll(c.name, " ", "-")+".safetensors")
			if err := os.WriteFile(p, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := infer.Load(p)
			if err == nil {
				t.Errorf("%s %s: loaded", base, c.name)
				continue
			}
			if msg := err.Error(); !strings.Contains(msg, p) || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Errorf("%s %s: error %q, want one line with the path and %q", base, c.name, msg, c.want)
			}
		}
	}
	// An integer loader refuses a float file for its kind.
	if _, err := infer.LoadInt(baseFiles(t)["float"]); err == nil || !strings.Contains(err.Error(), "kind") {
		t.Errorf("LoadInt of a float file: %v", err)
	}
}
