package figures

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"tinyq/study/analysis"
	"tinyq/study/schema"
)

// figSeries is one line of an accuracy-against-bits panel.
type figSeries struct {
	name   string
	xys    plotter.XYs
	color  color.Color
	shape  draw.GlyphDrawer
	dashes []vg.Length
}

// figQATUniform returns the QAT points at W = A with the given scale method, by weight bits.
func figQATUniform(qat []schema.QATPoint, lsq bool) []schema.QATPoint {
	var out []schema.QATPoint
	for _, q := range qat {
		if q.WBits == q.ABits && q.LSQ == lsq {
			out = append(out, q)
		}
	}
	slices.SortFunc(out, func(a, b schema.QATPoint) int { return cmp.Compare(a.WBits, b.WBits) })
	return out
}

// figAccPanel builds one panel of accuracy against bits. It returns nil if no series has a
// point. Points below the axis are appended to clipped with the panel's prefix.
func figAccPanel(title, xLabel string, series []figSeries, fp32 float64, pairOf func(w int) schema.Pair, clipped *[]figClipped) (*plot.Plot, error) {
	var vals []float64
	var bits []int
	for _, s := range series {
		for _, xy := range s.xys {
			vals = append(vals, xy.Y)
			bits = append(bits, int(xy.X))
		}
	}
	if len(vals) == 0 {
		return nil, nil
	}
	if fp32 > 0 {
		vals = append(vals, fp32)
	}
	lo, hi := figAccRange(vals)
	n := 0
	for _, s := range series {
		for _, xy := range s.xys {
			if xy.Y < lo {
				n++
				name := s.name + " " + analysis.PairName(pairOf(int(xy.X)))
				*clipped = append(*clipped, figClipped{name, xy.Y})
			}
		}
	}
	p := figNewPlot(title, xLabel+figAxisNote(lo, n), "test accuracy (%)")
	bits = analysis.Distinct(bits)
	x0, x1 := float64(bits[0])-0.4, float64(bits[len(bits)-1])+0.4
	for _, s := range series {
		if len(s.xys) == 0 {
			continue
		}
		if err := figLinePoints(p, s.name, s.xys, s.color, s.shape, s.dashes); err != nil {
			return nil, err
		}
	}
	if fp32 > 0 {
		if err := figHLine(p, fmt.Sprintf("FP32 %.2f%%", fp32), fp32, x0, x1, figGrey); err != nil {
			return nil, err
		}
	}
	p.X.Min, p.X.Max = x0, x1
	p.Y.Min, p.Y.Max = lo, hi
	p.Y.Tick.Marker = figNiceTicks
	p.X.Tick.Marker = figIntTicks(bits)
	p.Legend.Top = false
	p.Legend.Left = false
	return p, nil
}

// figPTQXYs returns the points of best with activation bits a (or a = w if a is 0), as
// (weight bits, accuracy) sorted by weight bits.
func figPTQXYs(best map[schema.Pair]schema.PTQPoint, a int) plotter.XYs {
	var xys plotter.XYs
	for k, p := range best {
		if (a == 0 && k.A == k.W) || (a != 0 && k.A == a) {
			xys = append(xys, plotter.XY{X: float64(k.W), Y: p.Accuracy})
		}
	}
	slices.SortFunc(xys, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
	return xys
}

// figPTQBits draws accuracy against weight bits: PTQ at 8-bit activations (left) and at
// W = A with QAT (right).
func figPTQBits(r *schema.Results, _ []float32) (*figDraft, error) {
	pc := analysis.BestPTQ(r.PTQ, schema.PerChannel, schema.Static)
	pt := analysis.BestPTQ(r.PTQ, schema.PerTensor, schema.Static)
	dc := analysis.BestPTQ(r.PTQ, schema.PerChannel, schema.Dynamic)
	dt := analysis.BestPTQ(r.PTQ, schema.PerTensor, schema.Dynamic)
	circle, square, tri, ring, cross, pyramid := draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.RingGlyph{}, draw.CrossGlyph{}, draw.PyramidGlyph{}
	left := []figSeries{
		{"PTQ per-channel", figPTQXYs(pc, 8), figBlue, circle, nil},
		{"PTQ per-tensor", figPTQXYs(pt, 8), figOrange, square, nil},
		{"PTQ dynamic per-channel", figPTQXYs(dc, 8), figGreen, tri, figDash},
		{"PTQ dynamic per-tensor", figPTQXYs(dt, 8), figPurple, pyramid, figDash},
	}
	qatXYs := func(lsq bool) plotter.XYs {
		var xys plotter.XYs
		for _, q := range figQATUniform(r.QAT, lsq) {
			xys = append(xys, plotter.XY{X: float64(q.WBits), Y: q.Accuracy})
		}
		return xys
	}
	right := []figSeries{
		{"PTQ per-channel", figPTQXYs(pc, 0), figBlue, circle, nil},
		{"QAT observed", qatXYs(false), figRed, ring, nil},
		{"QAT LSQ", qatXYs(true), figGreen, cross, nil},
	}
	var clipped []figClipped
	lp, err := figAccPanel("PTQ, 8-bit activations", "weight bits", left, r.FP32.Accuracy,
		func(w int) schema.Pair { return schema.Pair{W: w, A: 8} }, &clipped)
	if err != nil {
		return nil, fmt.Errorf("figures: %s: %w", schema.FigurePTQBits, err)
	}
	rp, err := figAccPanel("Uniform W = A: PTQ and QAT", "weight = activation bits", right, r.FP32.Accuracy,
		func(w int) schema.Pair { return schema.Pair{W: w, A: w} }, &clipped)
	if err != nil {
		return nil, fmt.Errorf("figures: %s: %w", schema.FigurePTQBits, err)
	}
	var panels []*plot.Plot
	var parts []string
	if lp != nil {
		panels = append(panels, lp)
		parts = append(parts, "left, activations at 8 bits (static ranges per-channel and per-tensor, and dynamic ranges)")
	}
	if rp != nil {
		panels = append(panels, rp)
		parts = append(parts, "right, weights and activations at the same width (PTQ static per-channel; QAT fake-quant accuracy with observed and learned (LSQ) scales)")
	}
	if len(panels) == 0 {
		return nil, nil
	}
	if len(panels) == 1 {
		parts[0] = strings.TrimPrefix(strings.TrimPrefix(parts[0], "left, "), "right, ")
	}
	caption := "Test accuracy against weight bits: " + strings.Join(parts, "; ") + ". " +
		"Each static PTQ point uses the calibration (the observer, and under 8-bit weights the weight range) with the lowest logit MSE on held-out training images."
	if r.FP32.Accuracy > 0 {
		caption += fmt.Sprintf(" Dashed grey: FP32 (%.2f%%).", r.FP32.Accuracy)
	}
	caption += figClipNote(math.NaN(), clipped)
	w := figWidth
	if len(panels) == 2 {
		w = figWideWidth
	}
	return &figDraft{
		fig: schema.Figure{File: schema.FigurePTQBits, Title: "Accuracy against bit width", Caption: caption},
		w:   w, h: figHeight,
		draw: func(dc draw.Canvas) { figDrawRow(dc, panels) },
	}, nil
}
