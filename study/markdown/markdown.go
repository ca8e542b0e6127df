package markdown

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"tinyq/internal/atomicfile"
	"tinyq/study/analysis"
	"tinyq/study/schema"
)

// Write writes dir/report.md (schema.ReportFile), Render's text, atomically: a reader sees
// the old report or the whole new one.
func Write(dir string, r *schema.Results, figs []schema.Figure) error {
	md, err := Render(r, figs)
	if err != nil {
		return err
	}
	err = atomicfile.Write(filepath.Join(dir, schema.ReportFile), func(w io.Writer) error {
		_, err := io.WriteString(w, md)
		return err
	})
	if err != nil {
		return fmt.Errorf("markdown: %w", err)
	}
	return nil
}

// Render returns the report of r and its figures: how the study was run, the FP32
// reference, the findings (analysis.Findings), the tables of every part that has points, and
// the figures with their captions. A part without points is left out.
func Render(r *schema.Results, figs []schema.Figure) (string, error) {
	if r == nil {
		return "", fmt.Errorf("markdown: no results")
	}
	var b strings.Builder
	repRun(&b, r)
	repFP32(&b, r)
	repFindings(&b, r)
	repPTQ(&b, r)
	repQAT(&b, r)
	repSensitivity(&b, r)
	repMixed(&b, r)
	repFigures(&b, figs)
	return b.String(), nil
}

// repCell escapes a table cell.
func repCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// repRow writes one markdown table row.
func repRow(b *strings.Builder, cells ...string) {
	for i := range cells {
		cells[i] = repCell(cells[i])
	}
	fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
}

// repHeader writes a table's header row and its separator: the first column left-aligned
// (names), the others right-aligned (numbers).
func repHeader(b *strings.Builder, cells ...string) { repHeaderLeft(b, 1, cells...) }

// repHeaderLeft is repHeader with the first left columns left-aligned.
func repHeaderLeft(b *strings.Builder, left int, cells ...string) {
	repRow(b, cells...)
	seps := make([]string, len(cells))
	for i := range seps {
		seps[i] = "---:"
		if i < left {
			seps[i] = "---"
		}
	}
	fmt.Fprintf(b, "|%s|\n", strings.Join(seps, "|"))
}

// repSize formats a weight size as KB (1 KB = 1024 bytes) with the exact bytes.
func repSize(bytes int) string {
	return fmt.Sprintf("%.1f KB (%d B)", analysis.KB(bytes), bytes)
}

// repDuration formats seconds as "1 h 02 min", "12 min 05 s" or "42.0 s".
func repDuration(sec float64) string {
	switch {
	case sec >= 3600:
		m := int(math.Round(sec / 60))
		return fmt.Sprintf("%d h %02d min", m/60, m%60)
	case sec >= 60:
		s := int(math.Round(sec))
		return fmt.Sprintf("%d min %02d s", s/60, s%60)
	}
	return fmt.Sprintf("%.1f s", sec)
}

// repOr returns s, or "unknown" if s is empty.
func repOr(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// repRun writes the title and how the study was run.
func repRun(b *strings.Builder, r *schema.Results) {
	c := r.Config
	kind := "full"
	if c.Quick {
		kind = "quick (-study-quick)"
	}
	b.WriteString("# tinyq quantization study\n\n")
	fmt.Fprintf(b, "- Command: `%s`\n", repOr(c.Run.Command))
	fmt.Fprintf(b, "- Machine: %s\n", repOr(c.Run.Machine))
	fmt.Fprintf(b, "- Kernels: %s\n", repOr(c.Run.Kernels))
	if c.Run.Go != "" {
		fmt.Fprintf(b, "- Go: %s\n", c.Run.Go)
	}
	fmt.Fprintf(b, "- Date: %s\n", repOr(c.Run.Date))
	fmt.Fprintf(b, "- Seed: %d\n", c.Seed)
	fmt.Fprintf(b, "- Study: %s\n", kind)
	if c.Load != "" {
		fmt.Fprintf(b, "- FP32 model: loaded from `%s`\n", c.Load)
	} else {
		limit := "all"
		if c.TrainLimit > 0 {
			limit = fmt.Sprint(c.TrainLimit)
		}
		net := fmt.Sprintf("hidden layers %v", c.Hidden)
		if c.Arch != "" {
			net = fmt.Sprintf("network `%s`, translations of up to %d pixels", c.Arch, c.Shift)
		}
		fmt.Fprintf(b, "- FP32 model: %s, %d epochs, batch %d, learning rate %g, training images: %s\n",
			net, c.Epochs, c.Batch, c.LR, limit)
	}
	fmt.Fprintf(b, "- Calibration: the first %d training images; choices (observers, mixed bits) are scored on the last %d, "+
		"\"held-out\" below: kept apart from calibration and never the test set, though the FP32 model trained on them\n",
		c.CalibrationImages, c.ValidationImages)
	fmt.Fprintf(b, "- Total time: %s, over all runs that resumed the study\n", repDuration(r.Seconds))
	for _, n := range r.Notes {
		fmt.Fprintf(b, "- Note: %s\n", n)
	}
	b.WriteString("\n")
}

// repFP32 writes the float reference.
func repFP32(b *strings.Builder, r *schema.Results) {
	f := r.FP32
	if f.Accuracy == 0 && len(f.Layers) == 0 {
		return
	}
	b.WriteString("## FP32 reference\n\n")
	fmt.Fprintf(b, "Test accuracy %s; float32 weights %s.\n\n", analysis.Percent(f.Accuracy), repSize(f.WeightBytes))
	if f.Arch != "" {
		fmt.Fprintf(b, "Network: `%s`. A convolution's \"in\" is its patch length (kernel·kernel·channels) and its \"out\" its channels.\n\n", f.Arch)
	}
	if len(f.Layers) > 0 {
		repHeader(b, "layer", "kind", "in", "out", "weights")
		for _, l := range f.Layers {
			kind := "dense"
			if l.Kind != "" {
				kind = l.Kind
			}
			repRow(b, l.Name, kind, fmt.Sprint(l.In), fmt.Sprint(l.Out), fmt.Sprint(l.In*l.Out))
		}
		b.WriteString("\n")
	}
}

// repPTQ writes the PTQ tables: the static per-channel grid, per-tensor against
// per-channel with the dynamic points, and the observers.
func repPTQ(b *strings.Builder, r *schema.Results) {
	if len(r.PTQ) == 0 {
		return
	}
	b.WriteString("## Post-training quantization\n\n")
	b.WriteString("Integer runtime, full test set. Static points use, for each (weight, activation) width, " +
		"the observer (and under 8-bit weights the weight range: min/max, or MSE-clipped, \"weights mse\") with the lowest " +
		"logit MSE against FP32 on held-out training images (in brackets), not the best test accuracy.\n\n")
	pc := analysis.BestPTQ(r.PTQ, schema.PerChannel, schema.Static)
	if len(pc) > 0 {
		var ws, as []int
		for k := range pc {
			ws, as = append(ws, k.W), append(as, k.A)
		}
		ws, as = analysis.DistinctDesc(ws), analysis.DistinctDesc(as)
		b.WriteString("### Static, per-channel weights: weight bits x activation bits\n\n")
		head := []string{"weights \\ activations"}
		for _, a := range as {
			head = append(head, fmt.Sprintf("A%d", a))
		}
		repHeader(b, append(head, "weight size")...)
		for _, w := range ws {
			row := []string{fmt.Sprintf("W%d", w)}
			size := ""
			for _, a := range as {
				p, ok := pc[schema.Pair{W: w, A: a}]
				if !ok {
					row = append(row, "")
					continue
				}
				row = append(row, fmt.Sprintf("%s (%s)", analysis.Percent(p.Accuracy), analysis.Calibration(p)))
				size = repSize(p.WeightBytes)
			}
			repRow(b, append(row, size)...)
		}
		b.WriteString("\n")
	}
	pt := analysis.BestPTQ(r.PTQ, schema.PerTensor, schema.Static)
	dc := analysis.BestPTQ(r.PTQ, schema.PerChannel, schema.Dynamic)
	dt := analysis.BestPTQ(r.PTQ, schema.PerTensor, schema.Dynamic)
	var ws []int
	for _, m := range []map[schema.Pair]schema.PTQPoint{pc, pt, dc, dt} {
		for k := range m {
			if k.A == 8 {
				ws = append(ws, k.W)
			}
		}
	}
	if ws = analysis.DistinctDesc(ws); len(ws) > 0 {
		b.WriteString("### Per-tensor against per-channel weights, static and dynamic activations (8-bit activations)\n\n")
		repHeader(b, "weight bits", "per-channel static", "per-tensor static", "per-tensor - per-channel", "per-channel dynamic", "per-tensor dynamic", "weight size (per-channel)")
		acc := func(m map[schema.Pair]schema.PTQPoint, w int) string {
			if p, ok := m[schema.Pair{W: w, A: 8}]; ok {
				return analysis.Percent(p.Accuracy)
			}
			return ""
		}
		for _, w := range ws {
			k := schema.Pair{W: w, A: 8}
			diff := ""
			if a, ok := pc[k]; ok {
				if t, ok := pt[k]; ok {
					diff = fmt.Sprintf("%+.2f", t.Accuracy-a.Accuracy)
				}
			}
			size := ""
			if p, ok := pc[k]; ok {
				size = repSize(p.WeightBytes)
			} else if p, ok := dc[k]; ok {
				size = repSize(p.WeightBytes)
			}
			repRow(b, fmt.Sprintf("W%d", w), acc(pc, w), acc(pt, w), diff, acc(dc, w), acc(dt, w), size)
		}
		b.WriteString("\n")
	}
	repObservers(b, r)
	repWeightRanges(b, r)
}

// repWeightRanges writes, for the static per-channel points with weights under 8 bits, the
// test accuracy with min/max weight ranges against MSE-clipped ones, each with its
// activations' best observer (lowest held-out logit MSE); nothing for a study without
// MSE-clipped points.
func repWeightRanges(b *strings.Builder, r *schema.Results) {
	var pts, mse []schema.PTQPoint
	for _, p := range r.PTQ {
		if p.Granularity == schema.PerChannel && p.Mode == schema.Static && p.WBits < 8 {
			if p.WeightRange == schema.MSEWeights {
				mse = append(mse, p)
			} else {
				pts = append(pts, p)
			}
		}
	}
	if len(mse) == 0 {
		return
	}
	minmax, clipped := analysis.BestPTQ(pts, schema.PerChannel, schema.Static), analysis.BestPTQ(mse, schema.PerChannel, schema.Static)
	var ws, as []int
	for k := range clipped {
		ws, as = append(ws, k.W), append(as, k.A)
	}
	ws, as = analysis.DistinctDesc(ws), analysis.DistinctDesc(as)
	b.WriteString("### Weight ranges (static, per-channel): test accuracy with min/max ranges -> MSE-clipped ranges\n\n")
	head := []string{"weights \\ activations"}
	for _, a := range as {
		head = append(head, fmt.Sprintf("A%d", a))
	}
	repHeader(b, head...)
	for _, w := range ws {
		row := []string{fmt.Sprintf("W%d", w)}
		for _, a := range as {
			k := schema.Pair{W: w, A: a}
			m, ok1 := minmax[k]
			c, ok2 := clipped[k]
			if !ok1 || !ok2 {
				row = append(row, "")
				continue
			}
			row = append(row, fmt.Sprintf("%s -> %s", analysis.Percent(m.Accuracy), analysis.Percent(c.Accuracy)))
		}
		repRow(b, row...)
	}
	b.WriteString("\n")
}

// repObservers writes, at the widest weights of the static per-channel points, each
// observer's accuracy and held-out logit MSE per activation width; the lowest MSE (the
// observer used elsewhere) is in bold.
func repObservers(b *strings.Builder, r *schema.Results) {
	var obs []string
	w := 0
	for _, p := range r.PTQ {
		if p.Granularity == schema.PerChannel && p.Mode == schema.Static {
			w = max(w, p.WBits)
			if !slices.Contains(obs, p.Observer) {
				obs = append(obs, p.Observer)
			}
		}
	}
	if len(obs) < 2 {
		return
	}
	byKey := map[string]schema.PTQPoint{}
	var as []int
	for _, p := range r.PTQ {
		if p.Granularity == schema.PerChannel && p.Mode == schema.Static && p.WBits == w && p.WeightRange == "" {
			byKey[fmt.Sprintf("%d/%s", p.ABits, p.Observer)] = p
			as = append(as, p.ABits)
		}
	}
	as = analysis.DistinctDesc(as)
	best := analysis.BestPTQ(r.PTQ, schema.PerChannel, schema.Static)
	fmt.Fprintf(b, "### Observers (static, per-channel, W%d): test accuracy (held-out logit MSE)\n\n", w)
	repHeader(b, append([]string{"activations"}, obs...)...)
	for _, a := range as {
		row := []string{fmt.Sprintf("A%d", a)}
		for _, o := range obs {
			p, ok := byKey[fmt.Sprintf("%d/%s", a, o)]
			if !ok {
				row = append(row, "")
				continue
			}
			cell := fmt.Sprintf("%s (%.3g)", analysis.Percent(p.Accuracy), p.LogitMSE)
			if best[schema.Pair{W: w, A: a}].Observer == o {
				cell = "**" + cell + "**"
			}
			row = append(row, cell)
		}
		repRow(b, row...)
	}
	b.WriteString("\n")
}

// repQAT writes the QAT table, each run beside static per-channel PTQ at the same widths.
func repQAT(b *strings.Builder, r *schema.Results) {
	if len(r.QAT) == 0 {
		return
	}
	qat := analysis.SortedQAT(r.QAT)
	pc := analysis.BestPTQ(r.PTQ, schema.PerChannel, schema.Static)
	b.WriteString("## Quantization-aware training\n\n")
	b.WriteString("Fine-tuned from the FP32 model with tinyq's default recipe (qat.Default): at 3 bits or fewer the FP32 learning rate with a cosine decay, " +
		"wider a tenth of it, constant; LSQ scales start from the LSQ paper's 2·mean|x|/sqrt(Qp) with the input scale fixed, observed ranges are a moving average of min/max. Fake-quant: the training graph's accuracy; integer: the converted model in the integer runtime, " +
		"compared with static per-channel PTQ at the same widths.\n\n")
	repHeaderLeft(b, 2, "widths", "scales", "fake-quant", "integer", "PTQ", "integer - PTQ", "weight size", "s/epoch")
	for _, q := range qat {
		ptq, diff := "", ""
		if p, ok := pc[schema.Pair{W: q.WBits, A: q.ABits}]; ok {
			ptq = analysis.Percent(p.Accuracy)
			diff = fmt.Sprintf("%+.2f", q.IntAccuracy-p.Accuracy)
		}
		repRow(b, analysis.PairName(schema.Pair{W: q.WBits, A: q.ABits}), analysis.ScaleMethod(q.LSQ), analysis.Percent(q.Accuracy), analysis.Percent(q.IntAccuracy),
			ptq, diff, repSize(q.WeightBytes), fmt.Sprintf("%.1f", q.EpochSeconds))
	}
	b.WriteString("\n")
}

// repSensitivity writes the per-layer sensitivity table: drop and logit MSE per layer and
// width.
func repSensitivity(b *strings.Builder, r *schema.Results) {
	if len(r.Sensitivity) == 0 {
		return
	}
	var names []string
	var bits []int
	byKey := map[string]schema.SensitivityPoint{}
	for _, s := range r.Sensitivity {
		names, bits = append(names, s.Layer), append(bits, s.WBits)
		byKey[fmt.Sprintf("%s/%d", s.Layer, s.WBits)] = s
	}
	layers := analysis.LayerOrder(r, names)
	bits = analysis.DistinctDesc(bits)
	b.WriteString("## Per-layer sensitivity\n\n")
	b.WriteString("One layer's weights and input quantized at W = A bits, the rest in FP32 (fake-quant, full test set): " +
		"accuracy drop in points against FP32 (logit MSE against FP32).\n\n")
	head := []string{"layer"}
	for _, w := range bits {
		head = append(head, fmt.Sprintf("%d bits", w))
	}
	repHeader(b, head...)
	for _, l := range layers {
		row := []string{l}
		for _, w := range bits {
			s, ok := byKey[fmt.Sprintf("%s/%d", l, w)]
			if !ok {
				row = append(row, "")
				continue
			}
			row = append(row, fmt.Sprintf("%.2f (%.3g)", s.Drop, s.LogitMSE))
		}
		repRow(b, row...)
	}
	b.WriteString("\n")
}

// repMixed writes the mixed-precision front and the budgets.
func repMixed(b *strings.Builder, r *schema.Results) {
	front := analysis.Front(r.Mixed)
	if len(front) == 0 && len(r.Budgets) == 0 {
		return
	}
	b.WriteString("## Mixed precision\n\n")
	if len(front) > 0 {
		fmt.Fprintf(b, "The Pareto front among %d candidates: every combination of per-layer widths is scored on held-out training images by its logit MSE against FP32 "+
			"(the front: no smaller candidate has a lower MSE), then the front is measured on the test set; every candidate is a mixed integer model run by the runtime. "+
			"Weight widths that pack into the same bytes as a wider one in the grid are skipped (3 bits is stored as int4, 5 and 6 as int8). "+
			"The front's knee and each budget's choice are fine-tuned with QAT for %d epoch(s).\n\n", len(r.Mixed), r.Config.KneeQATEpochs)
		repHeader(b, "widths per layer", "weight size", "held-out MSE", "held-out", "test", "after QAT")
		for _, m := range front {
			q := ""
			if (m.Knee || m.Budget) && m.QATAccuracy > 0 {
				q = analysis.Percent(m.QATAccuracy)
			}
			repRow(b, analysis.LayerWidths(r, m.Bits), repSize(m.WeightBytes), fmt.Sprintf("%.3g", m.ValLogitMSE), analysis.Percent(m.ValAccuracy), analysis.Percent(m.Accuracy), q)
		}
		b.WriteString("\n")
	}
	if len(r.Budgets) > 0 {
		b.WriteString("### Best model under a weight budget\n\n")
		b.WriteString("Test accuracy of the integer model (PTQ), and after QAT fine-tuning; the fine-tuned integer model is saved in this directory " +
			"(run it with `go run ./cmd/classify -model FILE image.png`).\n\n")
		repHeaderLeft(b, 2, "budget", "widths per layer", "weight size", "test", "after QAT", "file")
		for _, bu := range r.Budgets {
			if bu.Bits == nil {
				repRow(b, "under "+analysis.BudgetName(bu.Bytes), "none fits", "", "", "", "")
				continue
			}
			q, file := "", ""
			if bu.QATAccuracy > 0 {
				q = analysis.Percent(bu.QATAccuracy)
			}
			if bu.File != "" {
				file = fmt.Sprintf("[%s](%s)", bu.File, bu.File)
			}
			repRow(b, "under "+analysis.BudgetName(bu.Bytes), analysis.LayerWidths(r, bu.Bits), repSize(bu.WeightBytes), analysis.Percent(bu.Accuracy), q, file)
		}
		b.WriteString("\n")
	}
}

// repFigures embeds the figures with their captions.
func repFigures(b *strings.Builder, figs []schema.Figure) {
	if len(figs) == 0 {
		return
	}
	b.WriteString("## Figures\n\n")
	for _, f := range figs {
		fmt.Fprintf(b, "### %s\n\n![%s](%s)\n\n%s\n\n", f.Title, f.Title, f.File, f.Caption)
	}
}

// repFindings writes the findings section, if any finding has its data.
func repFindings(b *strings.Builder, r *schema.Results) {
	fs := analysis.Findings(r)
	if len(fs) == 0 {
		return
	}
	b.WriteString("## Findings\n\n")
	for _, f := range fs {
		fmt.Fprintf(b, "- %s\n", f)
	}
	b.WriteString("\n")
}
