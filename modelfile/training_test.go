package modelfile

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The training records of the default run (go run ./cmd/mnist -qat -checkpoint ...), as
// cmd/mnist wrote them by hand before the records were typed: the typed encoders must keep
// them byte for byte (resume compares them as strings).
const (
	exampleTraining    = `{"batch":128,"lr":0.001,"hidden":[256,128],"seed":1,"train_limit":0,"optimizer":"adam"}`
	exampleQATTraining = `{"fp32":{"batch":128,"lr":0.001,"hidden":[256,128],"seed":1,"train_limit":0,"optimizer":"adam"},"qat_lr":0.0001,"qat_init":"fp32","observer":"moving-average","lsq":false,"lsq_init":"meanabs","distill":false,"distill_t":4,"distill_alpha":0.5,"lr_schedule":"constant","lsq_learn_input":false,"fp32_model":"epochs 5 sha256 1add1a42078c4e88e534fb7b22fec00c8a5a218a31990a6209b6017026b3e63f"}`
)

func exampleRecords() (Training, QATTraining) {
	t := Training{Batch: 128, LR: 0.001, Hidden: []int{256, 128}, Seed: 1, TrainLimit: 0, Optimizer: "adam"}
	q := QATTraining{
		FP32: json.RawMessage(t.String()), LR: 0.0001, Init: "fp32", Observer: "moving-average",
		LSQInit: "meanabs", DistillT: 4, DistillAlpha: 0.5, Schedule: "constant",
		FP32Model: BaseIdentity(5, "1add1a42078c4e88e534fb7b22fec00c8a5a218a31990a6209b6017026b3e63f"),
	}
	return t, q
}

func TestTrainingRecordBytes(t *testing.T) {
	tr, q := exampleRecords()
	if got := tr.String(); got != exampleTraining {
		t.Errorf("Training.String:\n got %s\nwant %s", got, exampleTraining)
	}
	if got := q.String(); got != exampleQATTraining {
		t.Errorf("QATTraining.String:\n got %s\nwant %s", got, exampleQATTraining)
	}
	// Without a base model (-qat-init scratch) the field is left out.
	q.FP32Model = ""
	want := exampleQATTraining[:len(exampleQATTraining)-len(`,"fp32_model":"epochs 5 sha256 1add1a42078c4e88e534fb7b22fec00c8a5a218a31990a6209b6017026b3e63f"}`)] + "}"
	if got := q.String(); got != want {
		t.Errorf("QATTraining.String without a base:\n got %s\nwant %s", got, want)
	}
	// A loaded file's record that is not JSON gives "" (as the hand-written encoder did).
	q.FP32 = json.RawMessage("not json")
	if got := q.String(); got != "" {
		t.Errorf("QATTraining.String with a non-JSON FP32 record = %q, want \"\"", got)
	}
}

func TestTrainingRecordParse(t *testing.T) {
	tr, q := exampleRecords()
	got, err := ParseTraining(exampleTraining)
	if err != nil || !reflect.DeepEqual(got, tr) {
		t.Errorf("ParseTraining = %+v, %v; want %+v", got, err, tr)
	}
	gq, err := ParseQATTraining(exampleQATTraining)
	if err != nil || gq.String() != exampleQATTraining || gq.FP32Model != q.FP32Model {
		t.Errorf("ParseQATTraining = %+v, %v; want %+v", gq, err, q)
	}
	for _, bad := range []string{"", "{", `{"batch":"x"}`} {
		if _, err := ParseTraining(bad); err == nil {
			t.Errorf("ParseTraining(%q): no error", bad)
		}
	}
	for _, bad := range []string{"", "{", `{"qat_lr":"x"}`} {
		if _, err := ParseQATTraining(bad); err == nil {
			t.Errorf("ParseQATTraining(%q): no error", bad)
		}
	}
}

func TestFingerprint(t *testing.T) {
	// SHA-256 of the little-endian float32 bits of 1 (0x3f800000) and 2 (0x40000000).
	const want = "b9c80b5adeca450753a16950c3cc655d271f7bef7a485bc83f112b72fef21d37" // sha256sum of 00 00 80 3f 00 00 00 40
	a := Fingerprint([]float32{1}, []float32{2})
	b := Fingerprint([]float32{1, 2})
	if a != want || b != want {
		t.Errorf("Fingerprint = %q and %q, want %q (one stream of little-endian float32 bits)", a, b, want)
	}
	if Fingerprint([]float32{1}, []float32{3}) == a {
		t.Error("Fingerprint: different parameters, same fingerprint")
	}
}
