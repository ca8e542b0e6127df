package analysis

import (
	"fmt"
	"strings"

	"tinyq/quant"
	"tinyq/study/schema"
)

// Percent formats an accuracy in percent with two decimals, "97.37%": the test set has
// 10 000 images, so one image is 0.01 points.
func Percent(a float64) string { return fmt.Sprintf("%.2f%%", a) }

// KB converts bytes to KB (1 KB = 1024 bytes).
func KB(bytes int) float64 { return float64(bytes) / 1024 }

// BudgetName formats a budget in KB without needless decimals ("64 KB", "100 KB").
func BudgetName(bytes int) string { return fmt.Sprintf("%g KB", KB(bytes)) }

// PairName writes a pair of widths as the figures and the report do, "W4A8": quant's name
// (quant.Widths.String) in capitals.
func PairName(p schema.Pair) string { return WidthsName(p.Widths()) }

// WidthsName writes widths as the figures and the report do, "W4A8".
func WidthsName(w quant.Widths) string { return strings.ToUpper(w.String()) }

// LayerWidths formats per-layer widths, "fc1 W2A8, fc2 W8A8", with the layer names of r when
// there are as many layers as widths ("W2A8, W8A8" otherwise).
func LayerWidths(r *schema.Results, bits []quant.Widths) string {
	parts := make([]string, len(bits))
	for i, wa := range bits {
		p := WidthsName(wa)
		if len(r.FP32.Layers) == len(bits) {
			p = r.FP32.Layers[i].Name + " " + p
		}
		parts[i] = p
	}
	return strings.Join(parts, ", ")
}

// ScaleMethod names a QAT run's scale method: "LSQ" (learned) or "observed".
func ScaleMethod(lsq bool) string {
	if lsq {
		return "LSQ"
	}
	return "observed"
}
