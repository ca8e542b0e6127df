package study

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"tinyq/internal/atomicfile"
)

// repNearFP32 is the tolerance, in accuracy points, of the finding "stays within 0.5 points
// of FP32": about the standard error of an accuracy near 98% on MNIST's 10 000 test images
// (sqrt(0.98*0.02/10000) = 0.14 points) times 3.5, so that a point inside it is not
// distinguishable from FP32 by this test set.
const repNearFP32 = 0.5

// WriteReport writes dir/report.md from r and the figures: how the study was run, the FP32
// reference, the tables of every part that has points, the figures with their captions and
// findings computed from the numbers. The file is written atomically.
func WriteReport(dir string, r *Results, figs []Figure) error {
	if r == nil {
		return fmt.Errorf("study: report: no results")
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
	err := atomicfile.Write(filepath.Join(dir, ReportFile), func(w io.Writer) error {
		_, err := io.WriteString(w, b.String())
		return err
	})
	if err != nil {
		return fmt.Errorf("study: report: %w", err)
	}
	return nil
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

// repAcc formats an accuracy in percent.
func repAcc(a float64) string { return fmt.Sprintf("%.2f%%", a) }

// repSize formats a weight size as KB (1 KB = 1024 bytes) with the exact bytes.
func repSize(bytes int) string {
	return fmt.Sprintf("%.1f KB (%d B)", figKB(bytes), bytes)
}

// repKB formats a budget in KB without needless decimals (64 KB, 100 KB).
func repKB(bytes int) string { return fmt.Sprintf("%g KB", figKB(bytes)) }

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
func repRun(b *strings.Builder, r *Results) {
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
		fmt.Fprintf(b, "- FP32 model: hidden layers %v, %d epochs, batch %d, learning rate %g, training images: %s\n",
			c.Hidden, c.Epochs, c.Batch, c.LR, limit)
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
func repFP32(b *strings.Builder, r *Results) {
	f := r.FP32
	if f.Accuracy == 0 && len(f.Layers) == 0 {
		return
	}
	b.WriteString("## FP32 reference\n\n")
	fmt.Fprintf(b, "Test accuracy %s; float32 weights %s.\n\n", repAcc(f.Accuracy), repSize(f.WeightBytes))
	if len(f.Layers) > 0 {
		repHeader(b, "layer", "in", "out", "weights")
		for _, l := range f.Layers {
			repRow(b, l.Name, fmt.Sprint(l.In), fmt.Sprint(l.Out), fmt.Sprint(l.In*l.Out))
		}
		b.WriteString("\n")
	}
}

// repPTQ writes the PTQ tables: the static per-channel grid, per-tensor against
// per-channel with the dynamic points, and the observers.
func repPTQ(b *strings.Builder, r *Results) {
	if len(r.PTQ) == 0 {
		return
	}
	b.WriteString("## Post-training quantization\n\n")
	b.WriteString("Integer runtime, full test set. Static points use, for each (weight, activation) width, " +
		"the observer with the lowest logit MSE against FP32 on held-out training images (in brackets), not the best test accuracy.\n\n")
	pc := figBestPTQ(r.PTQ, PerChannel, Static)
	if len(pc) > 0 {
		var ws, as []int
		for k := range pc {
			ws, as = append(ws, k.W), append(as, k.A)
		}
		ws, as = figSortedDesc(ws), figSortedDesc(as)
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
				p, ok := pc[Pair{w, a}]
				if !ok {
					row = append(row, "")
					continue
				}
				row = append(row, fmt.Sprintf("%s (%s)", repAcc(p.Accuracy), p.Observer))
				size = repSize(p.WeightBytes)
			}
			repRow(b, append(row, size)...)
		}
		b.WriteString("\n")
	}
	pt := figBestPTQ(r.PTQ, PerTensor, Static)
	dc := figBestPTQ(r.PTQ, PerChannel, Dynamic)
	dt := figBestPTQ(r.PTQ, PerTensor, Dynamic)
	var ws []int
	for _, m := range []map[Pair]PTQPoint{pc, pt, dc, dt} {
		for k := range m {
			if k.A == 8 {
				ws = append(ws, k.W)
			}
		}
	}
	if ws = figSortedDesc(ws); len(ws) > 0 {
		b.WriteString("### Per-tensor against per-channel weights, static and dynamic activations (8-bit activations)\n\n")
		repHeader(b, "weight bits", "per-channel static", "per-tensor static", "per-tensor - per-channel", "per-channel dynamic", "per-tensor dynamic", "weight size (per-channel)")
		acc := func(m map[Pair]PTQPoint, w int) string {
			if p, ok := m[Pair{w, 8}]; ok {
				return repAcc(p.Accuracy)
			}
			return ""
		}
		for _, w := range ws {
			k := Pair{w, 8}
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
}

// repObservers writes, at the widest weights of the static per-channel points, each
// observer's accuracy and held-out logit MSE per activation width; the lowest MSE (the
// observer used elsewhere) is in bold.
func repObservers(b *strings.Builder, r *Results) {
	var obs []string
	w := 0
	for _, p := range r.PTQ {
		if p.Granularity == PerChannel && p.Mode == Static {
			w = max(w, p.WBits)
			if !slices.Contains(obs, p.Observer) {
				obs = append(obs, p.Observer)
			}
		}
	}
	if len(obs) < 2 {
		return
	}
	byKey := map[string]PTQPoint{}
	var as []int
	for _, p := range r.PTQ {
		if p.Granularity == PerChannel && p.Mode == Static && p.WBits == w {
			byKey[fmt.Sprintf("%d/%s", p.ABits, p.Observer)] = p
			as = append(as, p.ABits)
		}
	}
	as = figSortedDesc(as)
	best := figBestPTQ(r.PTQ, PerChannel, Static)
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
			cell := fmt.Sprintf("%s (%.3g)", repAcc(p.Accuracy), p.LogitMSE)
			if best[Pair{w, a}].Observer == o {
				cell = "**" + cell + "**"
			}
			row = append(row, cell)
		}
		repRow(b, row...)
	}
	b.WriteString("\n")
}

// repQATName names a QAT run's scale method.
func repQATName(lsq bool) string {
	if lsq {
		return "LSQ"
	}
	return "observed"
}

// repQAT writes the QAT table, each run beside static per-channel PTQ at the same widths.
func repQAT(b *strings.Builder, r *Results) {
	if len(r.QAT) == 0 {
		return
	}
	qat := figSortedQAT(r.QAT)
	pc := figBestPTQ(r.PTQ, PerChannel, Static)
	b.WriteString("## Quantization-aware training\n\n")
	b.WriteString("Fine-tuned from the FP32 model with tinyq's default recipe (qat.Default): at 3 bits or fewer the FP32 learning rate with a cosine decay, " +
		"wider a tenth of it, constant; LSQ scales start from the LSQ paper's 2·mean|x|/sqrt(Qp) with the input scale fixed, observed ranges are a moving average of min/max. Fake-quant: the training graph's accuracy; integer: the converted model in the integer runtime, " +
		"compared with static per-channel PTQ at the same widths.\n\n")
	repHeaderLeft(b, 2, "widths", "scales", "fake-quant", "integer", "PTQ", "integer - PTQ", "weight size", "s/epoch")
	for _, q := range qat {
		ptq, diff := "", ""
		if p, ok := pc[Pair{q.WBits, q.ABits}]; ok {
			ptq = repAcc(p.Accuracy)
			diff = fmt.Sprintf("%+.2f", q.IntAccuracy-p.Accuracy)
		}
		repRow(b, figPairName(Pair{q.WBits, q.ABits}), repQATName(q.LSQ), repAcc(q.Accuracy), repAcc(q.IntAccuracy),
			ptq, diff, repSize(q.WeightBytes), fmt.Sprintf("%.1f", q.EpochSeconds))
	}
	b.WriteString("\n")
}

// repBool orders false before true.
func repBool(v bool) int {
	if v {
		return 1
	}
	return 0
}

// repSensitivity writes the per-layer sensitivity table: drop and logit MSE per layer and
// width.
func repSensitivity(b *strings.Builder, r *Results) {
	if len(r.Sensitivity) == 0 {
		return
	}
	var names []string
	var bits []int
	byKey := map[string]SensitivityPoint{}
	for _, s := range r.Sensitivity {
		names, bits = append(names, s.Layer), append(bits, s.WBits)
		byKey[fmt.Sprintf("%s/%d", s.Layer, s.WBits)] = s
	}
	layers := figLayerOrder(r, names)
	bits = figSortedDesc(bits)
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

// repBits formats per-layer widths, with the layer names when they match.
func repBits(r *Results, bits [][2]int) string {
	parts := make([]string, len(bits))
	for i, wa := range bits {
		p := figPairName(Pair{wa[0], wa[1]})
		if len(r.FP32.Layers) == len(bits) {
			p = r.FP32.Layers[i].Name + " " + p
		}
		parts[i] = p
	}
	return strings.Join(parts, ", ")
}

// repMixed writes the mixed-precision front and the budgets.
func repMixed(b *strings.Builder, r *Results) {
	front := figFront(r.Mixed)
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
				q = repAcc(m.QATAccuracy)
			}
			repRow(b, repBits(r, m.Bits), repSize(m.WeightBytes), fmt.Sprintf("%.3g", m.ValLogitMSE), repAcc(m.ValAccuracy), repAcc(m.Accuracy), q)
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
				repRow(b, "under "+repKB(bu.Bytes), "none fits", "", "", "", "")
				continue
			}
			q, file := "", ""
			if bu.QATAccuracy > 0 {
				q = repAcc(bu.QATAccuracy)
			}
			if bu.File != "" {
				file = fmt.Sprintf("[%s](%s)", bu.File, bu.File)
			}
			repRow(b, "under "+repKB(bu.Bytes), repBits(r, bu.Bits), repSize(bu.WeightBytes), repAcc(bu.Accuracy), q, file)
		}
		b.WriteString("\n")
	}
}

// repFigures embeds the figures with their captions.
func repFigures(b *strings.Builder, figs []Figure) {
	if len(figs) == 0 {
		return
	}
	b.WriteString("## Figures\n\n")
	for _, f := range figs {
		fmt.Fprintf(b, "### %s\n\n![%s](%s)\n\n%s\n\n", f.Title, f.Title, f.File, f.Caption)
	}
}

// repFindings writes the findings section, if any finding has its data.
func repFindings(b *strings.Builder, r *Results) {
	fs := repFindingsOf(r)
	if len(fs) == 0 {
		return
	}
	b.WriteString("## Findings\n\n")
	for _, f := range fs {
		fmt.Fprintf(b, "- %s\n", f)
	}
	b.WriteString("\n")
}

// repFindingsOf returns the report's findings, each a sentence computed from r; a finding
// whose data is missing is left out.
func repFindingsOf(r *Results) []string {
	var out []string
	for _, f := range []func(*Results) string{
		repFindNearFP32, repFindGranularity, repFindObserver, repFindFragile, repFindQAT, repFindBudget,
	} {
		if s := f(r); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// repFindNearFP32: how far down static per-channel PTQ stays within repNearFP32 of FP32.
func repFindNearFP32(r *Results) string {
	pc := figBestPTQ(r.PTQ, PerChannel, Static)
	if len(pc) == 0 || r.FP32.Accuracy == 0 {
		return ""
	}
	ks := figPairs(pc) // descending
	var low, top *Pair
	for i := range ks {
		k := ks[i]
		if top == nil || pc[k].Accuracy > pc[*top].Accuracy {
			top = &ks[i]
		}
		if pc[k].Accuracy >= r.FP32.Accuracy-repNearFP32 {
			// Fewest weight bits, then fewest activation bits.
			if low == nil || k.W < low.W || (k.W == low.W && k.A < low.A) {
				low = &ks[i]
			}
		}
	}
	if low == nil {
		return fmt.Sprintf("No static per-channel PTQ point stays within %.1f points of FP32 (%s); the best is W%dA%d at %s.",
			repNearFP32, repAcc(r.FP32.Accuracy), top.W, top.A, repAcc(pc[*top].Accuracy))
	}
	return fmt.Sprintf("Static per-channel PTQ stays within %.1f points of FP32 down to W%dA%d (%s against %s).",
		repNearFP32, low.W, low.A, repAcc(pc[*low].Accuracy), repAcc(r.FP32.Accuracy))
}

// repFindGranularity: per-tensor against per-channel weights at 4 bits (or the fewest bits
// both have), 8-bit static activations.
func repFindGranularity(r *Results) string {
	pc := figBestPTQ(r.PTQ, PerChannel, Static)
	pt := figBestPTQ(r.PTQ, PerTensor, Static)
	var ws []int
	for k := range pc {
		if _, ok := pt[k]; ok && k.A == 8 {
			ws = append(ws, k.W)
		}
	}
	if len(ws) == 0 {
		return ""
	}
	w := slices.Min(ws)
	if slices.Contains(ws, 4) {
		w = 4
	}
	k := Pair{w, 8}
	c, t := pc[k].Accuracy, pt[k].Accuracy
	verb, d := "lose", c-t
	if d < 0 {
		verb, d = "gain", -d
	}
	return fmt.Sprintf("Per-tensor weights %s %.2f points against per-channel at %d bits (W%dA8, static): %s against %s.",
		verb, d, w, w, repAcc(t), repAcc(c))
}

// repFindObserver: the observer with the best test accuracy at 4-bit activations (or the
// fewest activation bits below 8), with static per-channel weights at the widest width all
// observers have: with wide weights the activations' range is what differs. It also says
// whether the held-out logit MSE picks the same observer.
func repFindObserver(r *Results) string {
	acts := map[int]bool{}
	for _, p := range r.PTQ {
		if p.Granularity == PerChannel && p.Mode == Static {
			acts[p.ABits] = true
		}
	}
	a := 0
	if acts[4] {
		a = 4
	} else {
		for b := range acts {
			if b < 8 && (a == 0 || b < a) {
				a = b
			}
		}
	}
	if a == 0 {
		return ""
	}
	acc := map[string]map[int]float64{}
	var obs []string
	for _, p := range r.PTQ {
		if p.Granularity != PerChannel || p.Mode != Static || p.ABits != a {
			continue
		}
		if acc[p.Observer] == nil {
			acc[p.Observer] = map[int]float64{}
			obs = append(obs, p.Observer)
		}
		acc[p.Observer][p.WBits] = p.Accuracy
	}
	if len(obs) < 2 {
		return ""
	}
	slices.Sort(obs)
	w := 0
	for cand := range acc[obs[0]] {
		all := true
		for _, o := range obs {
			if _, ok := acc[o][cand]; !ok {
				all = false
			}
		}
		if all && cand > w {
			w = cand
		}
	}
	if w == 0 {
		return ""
	}
	best := obs[0]
	for _, o := range obs {
		if acc[o][w] > acc[best][w] {
			best = o
		}
	}
	var others []string
	for _, o := range obs {
		if o != best {
			others = append(others, fmt.Sprintf("%s for %s", repAcc(acc[o][w]), o))
		}
	}
	out := fmt.Sprintf("At %d-bit activations (static, %d-bit per-channel weights) the best observer is %s: %s against %s; ",
		a, w, best, repAcc(acc[best][w]), strings.Join(others, " and "))
	chosen := figBestPTQ(r.PTQ, PerChannel, Static)[Pair{w, a}].Observer
	if chosen == best {
		return out + "the held-out logit MSE picks it too."
	}
	return out + fmt.Sprintf("the held-out logit MSE picks %s.", chosen)
}

// repFindFragile: the layer with the largest drop at the fewest sensitivity bits.
func repFindFragile(r *Results) string {
	if len(r.Sensitivity) == 0 {
		return ""
	}
	bits := r.Sensitivity[0].WBits
	for _, s := range r.Sensitivity {
		bits = min(bits, s.WBits)
	}
	var pts []SensitivityPoint
	for _, s := range r.Sensitivity {
		if s.WBits == bits {
			pts = append(pts, s)
		}
	}
	most, least := pts[0], pts[0]
	for _, s := range pts {
		if s.Drop > most.Drop {
			most = s
		}
		if s.Drop < least.Drop {
			least = s
		}
	}
	out := fmt.Sprintf("The most fragile layer is %s: at %d bits alone (weights and input) it costs %.2f points", most.Layer, bits, most.Drop)
	if len(pts) > 1 && least.Layer != most.Layer {
		out += fmt.Sprintf("; the most robust, %s, costs %.2f", least.Layer, least.Drop)
	}
	return out + "."
}

// repFindQAT: what QAT recovers over static per-channel PTQ at the fewest W = A bits both
// have, in the integer runtime, with the better of the scale methods.
func repFindQAT(r *Results) string {
	pc := figBestPTQ(r.PTQ, PerChannel, Static)
	var best *QATPoint
	for i := range r.QAT {
		q := &r.QAT[i]
		if q.WBits != q.ABits {
			continue
		}
		if _, ok := pc[Pair{q.WBits, q.ABits}]; !ok {
			continue
		}
		if best == nil || q.WBits < best.WBits || (q.WBits == best.WBits && q.IntAccuracy > best.IntAccuracy) {
			best = q
		}
	}
	if best == nil {
		return ""
	}
	p := pc[Pair{best.WBits, best.ABits}]
	d := best.IntAccuracy - p.Accuracy
	verb := "recovers"
	if d < 0 {
		verb, d = "loses", -d
	}
	return fmt.Sprintf("QAT %s %.2f points over PTQ at W%dA%d in the integer runtime: %s with %s scales against %s for static per-channel PTQ.",
		verb, d, best.WBits, best.ABits, repAcc(best.IntAccuracy), repQATName(best.LSQ), repAcc(p.Accuracy))
}

// repFindBudget: the best mixed model under the smallest budget something fits in.
func repFindBudget(r *Results) string {
	if len(r.Budgets) == 0 {
		return ""
	}
	bs := slices.Clone(r.Budgets)
	slices.SortStableFunc(bs, func(a, b Budget) int { return cmp.Compare(a.Bytes, b.Bytes) })
	var none []string
	for _, b := range bs {
		if b.Bits == nil {
			none = append(none, repKB(b.Bytes))
			continue
		}
		out := ""
		if len(none) > 0 {
			out = fmt.Sprintf("No mixed model fits under %s; u", strings.Join(none, " or "))
		} else {
			out = "U"
		}
		out += fmt.Sprintf("nder %s of weights the best mixed model (%s; %.1f KB) reaches %s",
			repKB(b.Bytes), repBits(r, b.Bits), figKB(b.WeightBytes), repAcc(b.Accuracy))
		if b.QATAccuracy > 0 {
			out += fmt.Sprintf(", %s after QAT fine-tuning", repAcc(b.QATAccuracy))
		}
		return out + "."
	}
	return fmt.Sprintf("No mixed model fits under any budget (%s).", strings.Join(none, ", "))
}
