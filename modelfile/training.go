package modelfile

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
)

// Training is the `training` record of a float model trained from scratch: the settings
// that determine its FP32 training. A checkpoint records it, and a resumed run refuses a
// checkpoint written with another. Its JSON (String) is the metadata value byte for byte:
// the fields in this order, compact.
type Training struct {
	Batch      int     `json:"batch"`
	LR         float64 `json:"lr"`
	Hidden     []int   `json:"hidden"`
	Seed       int64   `json:"seed"`
	TrainLimit int     `json:"train_limit"`
	Optimizer  string  `json:"optimizer"`
	// Arch is the network in arch.Parse's grammar when it is not the MLP of Hidden; Schedule
	// ("cosine") and Shift the FP32 training's schedule and translations when not constant
	// and none. Empty for an MLP trained as before they existed, so its record is unchanged.
	Arch     string `json:"arch,omitempty"`
	Schedule string `json:"schedule,omitempty"`
	Shift    int    `json:"shift,omitempty"`
}

// String returns the record as the metadata value: compact JSON, fields in declaration
// order. The fields are numbers, a list and a string: it cannot fail except for a NaN or
// infinite learning rate, which is given as "".
func (t Training) String() string {
	b, err := json.Marshal(t)
	if err != nil {
		return ""
	}
	return string(b)
}

// ParseTraining parses a Training record (String's form); fields it does not know are ignored.
func ParseTraining(s string) (Training, error) {
	var t Training
	if err := json.Unmarshal([]byte(s), &t); err != nil {
		return Training{}, fmt.Errorf("modelfile: training record: %w", err)
	}
	return t, nil
}

// QATTraining is the `training` record of a QAT phase checkpoint: the FP32 record (FP32, as
// the FP32 model's file holds it, which for a loaded model may be any text), the QAT-only
// settings, and, when QAT fine-tunes the FP32 model, that model's identity (FP32Model,
// BaseIdentity), so that a phase is never resumed on top of another FP32 model.
type QATTraining struct {
	FP32         json.RawMessage `json:"fp32"`
	LR           float64         `json:"qat_lr"`
	Init         string          `json:"qat_init"`
	Observer     string          `json:"observer"`
	LSQ          bool            `json:"lsq"`
	LSQInit      string          `json:"lsq_init"`
	Distill      bool            `json:"distill"`
	DistillT     float64         `json:"distill_t"`
	DistillAlpha float64         `json:"distill_alpha"`
	Schedule     string          `json:"lr_schedule"`
	LearnInput   bool            `json:"lsq_learn_input"`
	FP32Model    string          `json:"fp32_model,omitempty"`
	// FreezeBNAfter is the epochs of BatchNorm statistics (qat.Config.FreezeBNAfter) of a
	// model with BatchNorm; absent for one without, or with the BatchNorms folded at once.
	FreezeBNAfter int `json:"freeze_bn_after,omitempty"`
}

// String returns the record as the metadata value: compact JSON, fields in declaration
// order, FP32 embedded as given. "" if FP32 is not JSON (as before the record was typed: the
// record of a loaded file without one).
func (q QATTraining) String() string {
	b, err := json.Marshal(q)
	if err != nil {
		return ""
	}
	return string(b)
}

// ParseQATTraining parses a QATTraining record (String's form); fields it does not know are ignored.
func ParseQATTraining(s string) (QATTraining, error) {
	var q QATTraining
	if err := json.Unmarshal([]byte(s), &q); err != nil {
		return QATTraining{}, fmt.Errorf("modelfile: QAT training record: %w", err)
	}
	return q, nil
}

// BaseIdentity names a trained FP32 model in a QATTraining record (FP32Model): its epochs
// and the SHA-256 of its parameters (Fingerprint).
func BaseIdentity(epochs int, fingerprint string) string {
	return fmt.Sprintf("epochs %d sha256 %s", epochs, fingerprint)
}

// Fingerprint is the SHA-256, in hex, of a model's parameters given in order (each layer's
// weights then biases) as little-endian float32 bits.
func Fingerprint(params ...[]float32) string {
	h := sha256.New()
	var buf []byte
	for _, v := range params {
		buf = buf[:0]
		for _, x := range v {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}
