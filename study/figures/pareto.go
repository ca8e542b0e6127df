package figures

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"tinyq/study/analysis"
	"tinyq/study/schema"
)

// figPareto draws accuracy against weight bytes: uniform PTQ points, the mixed-precision
// front, QAT points, the knee points after fine-tuning and the budgets.
func figPareto(r *schema.Results, _ []float32) (*figDraft, error) {
	best := analysis.BestPTQ(r.PTQ, schema.PerChannel, schema.Static)
	front := analysis.Front(r.Mixed)
	if len(best) == 0 && len(front) == 0 && len(r.QAT) == 0 {
		return nil, nil
	}
	var ptqXYs, frontXYs, qatXYs, kneeXYs plotter.XYs
	var names []string // parallel to all the points, for the clip note
	var all plotter.XYs
	for _, k := range analysis.Pairs(best) {
		xy := plotter.XY{X: analysis.KB(best[k].WeightBytes), Y: best[k].Accuracy}
		ptqXYs = append(ptqXYs, xy)
		all, names = append(all, xy), append(names, "PTQ "+analysis.PairName(k))
	}
	for _, m := range front {
		xy := plotter.XY{X: analysis.KB(m.WeightBytes), Y: m.Accuracy}
		frontXYs = append(frontXYs, xy)
		all, names = append(all, xy), append(names, fmt.Sprintf("front %.1f KB", xy.X))
		if (m.Knee || m.Budget) && m.QATAccuracy > 0 {
			kxy := plotter.XY{X: xy.X, Y: m.QATAccuracy}
			kneeXYs = append(kneeXYs, kxy)
			all, names = append(all, kxy), append(names, fmt.Sprintf("knee+QAT %.1f KB", kxy.X))
		}
	}
	for _, q := range r.QAT {
		xy := plotter.XY{X: analysis.KB(q.WeightBytes), Y: q.Accuracy}
		qatXYs = append(qatXYs, xy)
		name := "QAT " + analysis.PairName(schema.Pair{W: q.WBits, A: q.ABits})
		if q.LSQ {
			name += " LSQ"
		}
		all, names = append(all, xy), append(names, name)
	}
	vals := make([]float64, 0, len(all)+1)
	xmax := 0.0
	for _, xy := range all {
		vals = append(vals, xy.Y)
		xmax = math.Max(xmax, xy.X)
	}
	for _, b := range r.Config.Budgets {
		xmax = math.Max(xmax, analysis.KB(b))
	}
	if r.FP32.Accuracy > 0 {
		vals = append(vals, r.FP32.Accuracy)
	}
	lo, hi := figAccRange(vals)
	var clipped []figClipped
	for i, xy := range all {
		if xy.Y < lo {
			clipped = append(clipped, figClipped{names[i], xy.Y})
		}
	}
	p := figNewPlot("Accuracy against weight size", "weight size (KB)"+figAxisNote(lo, len(clipped)), "test accuracy (%)")
	xmax *= 1.05
	// Budgets first, so that the points are drawn over them.
	var budgetLabels plotter.XYLabels
	for _, b := range r.Config.Budgets {
		x := analysis.KB(b)
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: lo}, {X: x, Y: hi}})
		if err != nil {
			return nil, fmt.Errorf("figures: %s: %w", schema.FigurePareto, err)
		}
		l.Color = figGrey
		l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		l.Width = vg.Points(1)
		p.Add(l)
		budgetLabels.XYs = append(budgetLabels.XYs, plotter.XY{X: x, Y: lo})
		budgetLabels.Labels = append(budgetLabels.Labels, fmt.Sprintf("%g KB", x))
	}
	if len(budgetLabels.XYs) > 0 {
		bl, err := plotter.NewLabels(budgetLabels)
		if err != nil {
			return nil, fmt.Errorf("figures: %s: %w", schema.FigurePareto, err)
		}
		for i := range bl.TextStyle {
			bl.TextStyle[i].Font.Size = vg.Points(figTickSize)
			bl.TextStyle[i].Color = color.RGBA{90, 90, 90, 255}
			bl.TextStyle[i].XAlign = draw.XLeft
			bl.TextStyle[i].YAlign = draw.YBottom
		}
		// At the foot of each budget line, where the front (rising to the right) is least
		// likely to be.
		bl.Offset = vg.Point{X: vg.Points(3), Y: vg.Points(3)}
		p.Add(bl)
	}
	if r.FP32.Accuracy > 0 {
		if err := figHLine(p, fmt.Sprintf("FP32 %.2f%%", r.FP32.Accuracy), r.FP32.Accuracy, 0, xmax, figGrey); err != nil {
			return nil, fmt.Errorf("figures: %s: %w", schema.FigurePareto, err)
		}
	}
	if len(ptqXYs) > 0 {
		if err := figScatter(p, "PTQ uniform (per-channel)", ptqXYs, figLight, draw.CircleGlyph{}, vg.Points(3.5)); err != nil {
			return nil, fmt.Errorf("figures: %s: %w", schema.FigurePareto, err)
		}
	}
	if len(frontXYs) > 0 {
		if err := figLinePoints(p, "mixed-precision front", frontXYs, figBlue, draw.CircleGlyph{}, nil); err != nil {
			return nil, fmt.Errorf("figures: %s: %w", schema.FigurePareto, err)
		}
	}
	if len(qatXYs) > 0 {
		if err := figScatter(p, "QAT uniform (fake-quant)", qatXYs, figRed, draw.SquareGlyph{}, vg.Points(3.5)); err != nil {
			return nil, fmt.Errorf("figures: %s: %w", schema.FigurePareto, err)
		}
	}
	if len(kneeXYs) > 0 {
		if err := figScatter(p, "knee / budget choice + QAT", kneeXYs, figOrange, draw.PyramidGlyph{}, vg.Points(5)); err != nil {
			return nil, fmt.Errorf("figures: %s: %w", schema.FigurePareto, err)
		}
	}
	p.X.Min, p.X.Max = 0, xmax
	p.Y.Min, p.Y.Max = lo, hi
	p.Y.Tick.Marker = figNiceTicks
	p.Legend.Top, p.Legend.Left = false, false
	caption := "Test accuracy against the weights' size (1 KB = 1024 bytes): uniform static per-channel PTQ points (grey, best calibration each), " +
		"the mixed-precision Pareto front (chosen on held-out training images, measured on the test set), uniform QAT runs, and the front's knee and each budget's choice after QAT fine-tuning."
	if len(r.Config.Budgets) > 0 {
		caption += " Dotted verticals: the weight budgets."
	}
	caption += figClipNote(lo, clipped)
	return &figDraft{
		fig:  schema.Figure{File: schema.FigurePareto, Title: "Accuracy against weight size", Caption: caption},
		w:    figWidth,
		h:    figHeight,
		draw: func(dc draw.Canvas) { p.Draw(dc) },
	}, nil
}
