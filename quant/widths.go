package quant

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Widths are one layer's bit widths: its weights' and its input activations'.
type Widths struct {
	Weight     int // weight bits, MinBits..MaxBits
	Activation int // input activation bits, MinBits..MaxBits
}

// String returns the widths' name, "w4a8": the one place it is formatted (model names,
// file names, reports).
func (w Widths) String() string { return fmt.Sprintf("w%da%d", w.Weight, w.Activation) }

// WeightName returns the name of the weight width alone, "w8": the name of a model whose
// activations are quantized at run time (dynamic mode).
func (w Widths) WeightName() string { return fmt.Sprintf("w%d", w.Weight) }

// Validate reports a width outside MinBits..MaxBits (CheckBits).
func (w Widths) Validate() error {
	if err := CheckBits(w.Weight); err != nil {
		return err
	}
	return CheckBits(w.Activation)
}

// MarshalJSON writes the pair [Weight, Activation].
func (w Widths) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]int{w.Weight, w.Activation})
}

// UnmarshalJSON reads a pair [Weight, Activation] (not validated: call Validate).
func (w *Widths) UnmarshalJSON(b []byte) error {
	var p []int
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("quant: widths: %w", err)
	}
	if len(p) != 2 {
		return fmt.Errorf("quant: widths %v, want a pair [weight bits, activation bits]", p)
	}
	w.Weight, w.Activation = p[0], p[1]
	return nil
}

// ParseWidths parses "W/A" (for example "4/8": 4-bit weights, 8-bit activations) or "N"
// (N-bit weights and activations), each MinBits..MaxBits.
func ParseWidths(s string) (Widths, error) {
	w, ok := parseWidths(s)
	if !ok {
		return Widths{}, fmt.Errorf("quant: %q is not N or W/A", s)
	}
	return w, w.Validate()
}

// parseWidths reads "W/A" or "N" without checking the range; ok is false if s is neither.
func parseWidths(s string) (w Widths, ok bool) {
	ws, as, pair := strings.Cut(s, "/")
	if !pair {
		as = ws
	}
	wb, err1 := strconv.Atoi(ws)
	ab, err2 := strconv.Atoi(as)
	return Widths{Weight: wb, Activation: ab}, err1 == nil && err2 == nil
}

// ParseLayerWidths parses the widths of a model: one entry for every layer ("4/8" or "4",
// as ParseWidths), or one per layer joined by "+" ("2/8+2/8+4/8": fc1, fc2 and fc3 at their
// own widths, a mixed-precision model; spaces around an entry are ignored). A ModelSpec
// takes the result (ModelSpec.WithWidths).
func ParseLayerWidths(s string) ([]Widths, error) {
	var out []Widths
	for _, l := range strings.Split(s, "+") {
		w, ok := parseWidths(strings.TrimSpace(l))
		if !ok {
			return nil, fmt.Errorf("quant: %q is not N, W/A or per-layer W/A+W/A (one per layer)", s)
		}
		if err := w.Validate(); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// LayerWidthsName names a model's widths: "w4a8" for one entry (every layer), or one name
// per layer joined by "-", "w2a8-w2a8-w4a8".
func LayerWidthsName(ws []Widths) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = w.String()
	}
	return strings.Join(parts, "-")
}

// Narrowest returns the narrowest weight and the narrowest activation width among ws (the
// zero Widths for none).
func Narrowest(ws []Widths) Widths {
	if len(ws) == 0 {
		return Widths{}
	}
	n := ws[0]
	for _, w := range ws[1:] {
		n.Weight, n.Activation = min(n.Weight, w.Weight), min(n.Activation, w.Activation)
	}
	return n
}
