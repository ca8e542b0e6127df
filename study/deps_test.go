package study

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsFlowOneWay: the schema, the analysis, the figures and the report never link the
// runner or the training stack (so they can be read, drawn and tested on results alone), and
// only the figures link gonum/plot. The runner may import the analysis, never the figures or
// the report: Run does not draw.
func TestImportsFlowOneWay(t *testing.T) {
	training := []string{"tinyq/study", "tinyq/nn", "tinyq/train", "tinyq/qat", "tinyq/ptq", "tinyq/autograd", "tinyq/infer", "gorgonia.org/"}
	plot := "gonum.org/v1/plot"
	for pkg, banned := range map[string][]string{
		"tinyq/study/schema":   append([]string{"tinyq/study/", plot}, training...),
		"tinyq/study/analysis": append([]string{"tinyq/study/figures", "tinyq/study/markdown", plot}, training...),
		"tinyq/study/markdown": append([]string{"tinyq/study/figures", plot}, training...),
		"tinyq/study/figures":  append([]string{"tinyq/study/markdown"}, training...),
		"tinyq/study":          {"tinyq/study/figures", "tinyq/study/markdown", plot},
	} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		for _, d := range deps {
			if d == pkg {
				continue
			}
			for _, b := range banned {
				if d == b || (strings.HasSuffix(b, "/") && strings.HasPrefix(d, b)) || (b == plot && strings.HasPrefix(d, plot)) {
					t.Errorf("%s links %s", pkg, d)
				}
			}
		}
	}
}
