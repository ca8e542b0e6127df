package figures

import (
	"cmp"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"tinyq/internal/atomicfile"
	"tinyq/quant"
	"tinyq/study/analysis"
	"tinyq/study/schema"
)

// Figure sizes. Single-panel figures are 7x4.5 inches; the two-panel ones are wider so
// that each panel keeps room for its legend. vgimg draws at vgimg.DefaultDPI (96), so a
// 7-inch figure is 672 pixels wide.
const (
	figWidth     = 7 * vg.Inch
	figWideWidth = 9 * vg.Inch
	figHeight    = 4.5 * vg.Inch
)

// figClipFloor is the accuracy (percent) below which a point counts as "far below" and may be
// left off an accuracy axis: a 10-class classifier's chance level is 10%, and a model under
// 50% is broken for any user, so its exact value only crushes the interesting region. Such
// points are named in the caption instead.
const figClipFloor = 50.0

// Font sizes in points: a little above gonum's defaults (12 title and labels, 10 ticks) so
// that the figures stay readable when shrunk in a README.
const (
	figTitleSize  = 13
	figLabelSize  = 12
	figTickSize   = 11
	figLegendSize = 11
)

// Write draws every figure the results allow into dir and returns them in report
// order. fc1 is the first layer's float weights ([In, Out] row-major, the layer
// r.FP32.Layers[0]) for the histogram; nil skips that figure. A figure whose data is empty
// (no QAT points yet, no sensitivity, ...) is skipped, not an error. Every file is written
// atomically: a reader sees the old PNG or the whole new one.
func Write(dir string, r *schema.Results, fc1 []float32) ([]schema.Figure, error) {
	if r == nil {
		return nil, fmt.Errorf("figures: no results")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("figures: %w", err)
	}
	makers := []func(*schema.Results, []float32) (*figDraft, error){
		figPTQBits, figHeatmap, figPareto, figSensitivity, figHist, figCurves,
	}
	var figs []schema.Figure
	for _, mk := range makers {
		d, err := mk(r, fc1)
		if err != nil {
			return figs, err
		}
		if d == nil {
			continue
		}
		if err := figSave(filepath.Join(dir, d.fig.File), d.w, d.h, d.draw); err != nil {
			return figs, fmt.Errorf("figures: %s: %w", d.fig.File, err)
		}
		figs = append(figs, d.fig)
	}
	return figs, nil
}

// figDraft is a figure ready to be drawn: its report entry, its size and how to draw it.
type figDraft struct {
	fig  schema.Figure
	w, h vg.Length
	draw func(dc draw.Canvas)
}

// figSave draws into a PNG canvas of w x h and writes it atomically to path.
func figSave(path string, w, h vg.Length, drawFn func(dc draw.Canvas)) error {
	c, err := figDraw(w, h, drawFn)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(wr io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: c}.WriteTo(wr)
		return err
	})
}

// figDraw draws on a white canvas of w x h. gonum/plot panics on some inputs it considers
// programming errors (an empty colour range, ...); the drafts guard against them, and a
// panic that still happens becomes an error here rather than crashing a study that has run
// for minutes.
func figDraw(w, h vg.Length, drawFn func(dc draw.Canvas)) (c *vgimg.Canvas, err error) {
	defer func() {
		if p := recover(); p != nil {
			c, err = nil, fmt.Errorf("drawing: %v", p)
		}
	}()
	c = vgimg.New(w, h)
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	drawFn(dc)
	return c, nil
}

// figNewPlot returns a plot with the study's title, axis labels and font sizes.
func figNewPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = figTitleSize
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.X.Label.TextStyle.Font.Size = figLabelSize
	p.Y.Label.TextStyle.Font.Size = figLabelSize
	p.X.Tick.Label.Font.Size = figTickSize
	p.Y.Tick.Label.Font.Size = figTickSize
	p.Legend.TextStyle.Font.Size = figLegendSize
	p.Legend.ThumbnailWidth = vg.Points(22)
	p.Add(plotter.NewGrid())
	return p
}

// Colours of the series, chosen to stay apart for colour-blind readers (Okabe-Ito, but for
// brown).
var (
	figBlue   = color.RGBA{0, 114, 178, 255}
	figOrange = color.RGBA{230, 159, 0, 255}
	figGreen  = color.RGBA{0, 158, 115, 255}
	figRed    = color.RGBA{213, 94, 0, 255}
	figPurple = color.RGBA{204, 121, 167, 255}
	figSky    = color.RGBA{86, 180, 233, 255}
	figBrown  = color.RGBA{140, 80, 20, 255} // instead of Okabe-Ito's yellow, too pale on white
	figBlack  = color.RGBA{0, 0, 0, 255}
	figGrey   = color.RGBA{150, 150, 150, 255}
	figLight  = color.RGBA{200, 200, 200, 255}
)

// figDash is the dash pattern of reference lines.
var figDash = []vg.Length{vg.Points(5), vg.Points(3)}

// figLinePoints adds a line with markers through xys to p and to its legend.
func figLinePoints(p *plot.Plot, name string, xys plotter.XYs, c color.Color, shape draw.GlyphDrawer, dashes []vg.Length) error {
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	l.Color = c
	l.Width = vg.Points(1.6)
	l.Dashes = dashes
	s.Color = c
	s.Shape = shape
	s.Radius = vg.Points(3.2)
	p.Add(l, s)
	p.Legend.Add(name, l, s)
	return nil
}

// figScatter adds xys as markers only, with a legend entry.
func figScatter(p *plot.Plot, name string, xys plotter.XYs, c color.Color, shape draw.GlyphDrawer, radius vg.Length) error {
	s, err := plotter.NewScatter(xys)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	s.Color = c
	s.Shape = shape
	s.Radius = radius
	p.Add(s)
	p.Legend.Add(name, s)
	return nil
}

// figHLine adds a dashed horizontal reference line at y from x0 to x1.
func figHLine(p *plot.Plot, name string, y, x0, x1 float64, c color.Color) error {
	l, err := plotter.NewLine(plotter.XYs{{X: x0, Y: y}, {X: x1, Y: y}})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	l.Color = c
	l.Width = vg.Points(1.2)
	l.Dashes = figDash
	p.Add(l)
	if name != "" {
		p.Legend.Add(name, l)
	}
	return nil
}

// figIntTicks returns ticks at each of vs, labelled with the integer.
func figIntTicks(vs []int) plot.ConstantTicks {
	ts := make(plot.ConstantTicks, len(vs))
	for i, v := range vs {
		ts[i] = plot.Tick{Value: float64(v), Label: fmt.Sprint(v)}
	}
	return ts
}

// figAccRange returns the y range of an accuracy axis showing vals: from a little below the
// lowest value at or above figClipFloor (or the lowest value, if none is) to a little above
// the highest, within [0, 100]. Values below lo are off the chart.
func figAccRange(vals []float64) (lo, hi float64) {
	anyAbove := false
	for _, v := range vals {
		if v >= figClipFloor {
			anyAbove = true
		}
	}
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if math.IsNaN(v) || (anyAbove && v < figClipFloor) {
			continue
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if lo > hi {
		return 0, 100
	}
	// 8% of the span, at least half a point, above and below, so that markers are not cut
	// by the frame; the bounds are then rounded outward to whole percents.
	pad := math.Max(0.08*(hi-lo), 0.5)
	lo = math.Max(0, math.Floor(lo-pad))
	hi = math.Min(100, math.Ceil(hi+pad))
	if hi <= lo {
		hi = lo + 1
	}
	return lo, hi
}

// figNiceTicks labels an axis at round steps (1, 2 or 5 times a power of ten), the smallest
// giving at most 6 intervals: gonum's default ticker can pick labels like 87, 93, 99 or
// 0, 8, 16. Every other step gets an unlabelled minor tick.
var figNiceTicks = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
	span := hi - lo
	if !(span > 0) || math.IsInf(span, 0) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	mag := math.Pow(10, math.Floor(math.Log10(span/6)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if span/(m*mag) <= 6 {
			step = m * mag
			break
		}
	}
	dec := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	var ts []plot.Tick
	for i := math.Ceil(lo/step - 1e-9); i*step <= hi+1e-9*step; i++ {
		v := i * step
		if v == 0 {
			v = 0 // not -0, which would be labelled "-0"
		}
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', dec, 64)})
		if m := v + step/2; m < hi {
			ts = append(ts, plot.Tick{Value: m})
		}
	}
	return ts
})

// figClipped is a point left off an accuracy axis.
type figClipped struct {
	name string
	acc  float64
}

// figClipNote returns the caption sentence naming the clipped points, or "". lo is the
// bottom of the accuracy axis; NaN when panels with different axes share the caption.
func figClipNote(lo float64, cs []figClipped) string {
	if len(cs) == 0 {
		return ""
	}
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s %.2f%%", c.name, c.acc)
	}
	if math.IsNaN(lo) {
		return fmt.Sprintf(" Below the axis, not shown: %s.", strings.Join(parts, ", "))
	}
	return fmt.Sprintf(" Below the axis (under %.0f%%), not shown: %s.", lo, strings.Join(parts, ", "))
}

// figAxisNote returns the x-axis label suffix counting clipped points, or "".
func figAxisNote(lo float64, n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("  [1 point below %.0f%% not shown]", lo)
	}
	return fmt.Sprintf("  [%d points below %.0f%% not shown]", n, lo)
}

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
		"Each static PTQ point uses the observer with the lowest logit MSE on held-out training images."
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

// figDrawRow draws plots side by side, aligned.
func figDrawRow(dc draw.Canvas, ps []*plot.Plot) {
	if len(ps) == 1 {
		ps[0].Draw(dc)
		return
	}
	// Plain tiles rather than plot.Align: the panels share their height and x-axis layout,
	// so their data areas line up, and Align shifted the titles of panels whose tick labels
	// differ in width.
	t := draw.Tiles{Rows: 1, Cols: len(ps), PadX: vg.Points(14), PadTop: vg.Points(2), PadBottom: vg.Points(2), PadLeft: vg.Points(2), PadRight: vg.Points(6)}
	for i, p := range ps {
		p.Draw(t.At(dc, i, 0))
	}
}

// figGrid is a weight x activation grid of accuracies for the heatmap: columns are weight
// bits, rows activation bits, both at index coordinates so that cells are equal squares.
type figGrid struct {
	z [][]float64 // [row][col]; NaN where no point
}

// Dims returns the number of columns and rows.
func (g figGrid) Dims() (c, r int) { return len(g.z[0]), len(g.z) }

// Z returns the accuracy of column c, row r.
func (g figGrid) Z(c, r int) float64 { return g.z[r][c] }

// X returns column c's coordinate.
func (g figGrid) X(c int) float64 { return float64(c) }

// Y returns row r's coordinate.
func (g figGrid) Y(r int) float64 { return float64(r) }

// figHeatmap draws PTQ accuracy (static per-channel, best observer) over weight x
// activation bits, with each cell's accuracy printed in it.
//
// The colour shows the loss against FP32 on a log scale (the printed number is the
// accuracy): the cells that matter differ by tenths of a point near FP32, while a broken
// cell loses tens of points, and a linear scale would paint every good cell the same.
func figHeatmap(r *schema.Results, _ []float32) (*figDraft, error) {
	best := analysis.BestPTQ(r.PTQ, schema.PerChannel, schema.Static)
	if len(best) == 0 {
		return nil, nil
	}
	var ws, as []int
	for k := range best {
		ws, as = append(ws, k.W), append(as, k.A)
	}
	ws, as = analysis.Distinct(ws), analysis.Distinct(as)
	acc := make([][]float64, len(as))
	shade := make([][]float64, len(as))
	ref := r.FP32.Accuracy
	if ref <= 0 {
		// No reference: losses against the best cell.
		for _, p := range best {
			ref = math.Max(ref, p.Accuracy)
		}
	}
	cmax := math.Inf(-1)
	for i, a := range as {
		acc[i], shade[i] = make([]float64, len(ws)), make([]float64, len(ws))
		for j, w := range ws {
			acc[i][j], shade[i][j] = math.NaN(), math.NaN()
			if p, ok := best[schema.Pair{W: w, A: a}]; ok {
				acc[i][j] = p.Accuracy
				shade[i][j] = figLossShade(ref - p.Accuracy)
				cmax = math.Max(cmax, shade[i][j])
			}
		}
	}
	// The scale always spans at least 0.05 to 5 points lost, so that a grid of good cells
	// is not painted as if its best and worst were far apart.
	cmin := figLossShade(0)
	cmax = math.Max(cmax, figLossShade(5))
	cm := moreland.SmoothBlueRed()
	cm.SetMin(cmin)
	cm.SetMax(cmax)
	const ncolors = 255
	pal := cm.Palette(ncolors) // blue: close to FP32; red: far below
	hm := plotter.NewHeatMap(figGrid{shade}, pal)
	hm.Min, hm.Max = cmin, cmax
	hm.NaN = color.RGBA{235, 235, 235, 255}

	what := "FP32"
	if r.FP32.Accuracy <= 0 {
		what = "the best cell"
	}
	p := figNewPlot("PTQ test accuracy (%), static per-channel, best observer\n"+
		fmt.Sprintf("colour: points lost against %s, log scale from 0.05 (blue) to %.3g (red)", what, math.Pow(10, cmax)),
		"weight bits", "activation bits")
	p.Add(hm)
	var labels plotter.XYLabels
	for i := range as {
		for j := range ws {
			s := "n/a"
			if !math.IsNaN(acc[i][j]) {
				s = fmt.Sprintf("%.1f", acc[i][j])
			}
			labels.XYs = append(labels.XYs, plotter.XY{X: float64(j), Y: float64(i)})
			labels.Labels = append(labels.Labels, s)
		}
	}
	lp, err := plotter.NewLabels(labels)
	if err != nil {
		return nil, fmt.Errorf("figures: %s: %w", schema.FigureHeatmap, err)
	}
	cols := pal.Colors()
	k := 0
	for i := range as {
		for j := range ws {
			ts := &lp.TextStyle[k]
			ts.XAlign, ts.YAlign = draw.XCenter, draw.YCenter
			ts.Font.Size = vg.Points(figLabelSize + 1)
			ts.Color = figGrey
			if v := shade[i][j]; !math.IsNaN(v) {
				// The same palette index HeatMap picks, then black or white text by the
				// cell's luminance (Rec. 709 weights).
				c := cols[int((v-cmin)*float64(len(cols)-1)/(cmax-cmin)+0.5)]
				ts.Color = figBlack
				if figLuminance(c) < 0.5 {
					ts.Color = color.White
				}
			}
			k++
		}
	}
	p.Add(lp)
	ticks := func(vs []int) plot.ConstantTicks {
		ts := make(plot.ConstantTicks, len(vs))
		for i, v := range vs {
			ts[i] = plot.Tick{Value: float64(i), Label: fmt.Sprint(v)}
		}
		return ts
	}
	p.X.Tick.Marker = ticks(ws)
	p.Y.Tick.Marker = ticks(as)
	p.X.Min, p.X.Max = -0.5, float64(len(ws))-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(len(as))-0.5
	p.X.Padding, p.Y.Padding = 0, 0
	caption := fmt.Sprintf("Test accuracy (%%) of static per-channel PTQ over weight bits (x) and activation bits (y), "+
		"each cell with the observer of lowest held-out logit MSE. The colour shows the points lost against %s on a log scale: "+
		"deep blue within 0.05 points, white about %.1f points, deep red %.0f points.", what, math.Pow(10, (cmin+cmax)/2), math.Pow(10, cmax))
	if r.FP32.Accuracy > 0 {
		caption += fmt.Sprintf(" FP32: %.2f%%.", r.FP32.Accuracy)
	}
	return &figDraft{
		fig:  schema.Figure{File: schema.FigureHeatmap, Title: "PTQ accuracy over weight and activation bits", Caption: caption},
		w:    figWidth,
		h:    figHeight,
		draw: func(dc draw.Canvas) { p.Draw(dc) },
	}, nil
}

// figLossShade maps points lost against the reference to the heatmap's colour value:
// log10 of the loss, floored at 0.05 points (below the test set's resolution, 1 image in
// 10 000 is 0.01 points, and the noise of a run, a few hundredths).
func figLossShade(loss float64) float64 { return math.Log10(math.Max(loss, 0.05)) }

// figLuminance returns the relative luminance of c in [0, 1].
func figLuminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	return (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)) / 0xffff
}

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
	caption := "Test accuracy against the weights' size (1 KB = 1024 bytes): uniform static per-channel PTQ points (grey, best observer each), " +
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

// figSensitivity draws per-layer sensitivity: the accuracy drop of each layer quantized
// alone, one bar per bit width.
func figSensitivity(r *schema.Results, _ []float32) (*figDraft, error) {
	if len(r.Sensitivity) == 0 {
		return nil, nil
	}
	var names []string
	var bits []int
	drop := map[string]map[int]float64{}
	for _, s := range r.Sensitivity {
		names, bits = append(names, s.Layer), append(bits, s.WBits)
		if drop[s.Layer] == nil {
			drop[s.Layer] = map[int]float64{}
		}
		drop[s.Layer][s.WBits] = s.Drop
	}
	layers := analysis.LayerOrder(r, names)
	bits = analysis.DistinctDesc(bits) // 8 first: the mildest on the left of each group
	p := figNewPlot("Per-layer sensitivity (one layer quantized, the rest FP32)", "layer", "accuracy drop (points)")
	// Bars share a group of 70% of the space of one layer; the data area is about the
	// figure's width less 0.9 inch of axis.
	groupW := (figWidth - 0.9*vg.Inch) / vg.Length(len(layers)) * 0.7
	barW := min(groupW/vg.Length(len(bits)), vg.Points(36))
	ymin, ymax := 0.0, 0.0
	colors := []color.Color{figSky, figGreen, figOrange, figRed, figPurple, figBlue, figBlack, figBrown}
	for i, b := range bits {
		vs := make(plotter.Values, len(layers))
		var lab plotter.XYLabels
		for j, l := range layers {
			v, ok := drop[l][b]
			if !ok {
				v = 0
			}
			vs[j] = v
			ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
			text := ""
			if ok {
				text = figDropLabel(v)
			}
			lab.XYs = append(lab.XYs, plotter.XY{X: float64(j), Y: math.Max(v, 0)})
			lab.Labels = append(lab.Labels, text)
		}
		bc, err := plotter.NewBarChart(vs, barW)
		if err != nil {
			return nil, fmt.Errorf("figures: %s: %w", schema.FigureSensitivity, err)
		}
		off := (vg.Length(i) - vg.Length(len(bits)-1)/2) * barW
		bc.Offset = off
		bc.Color = colors[i%len(colors)]
		bc.LineStyle.Width = vg.Points(0.5)
		p.Add(bc)
		p.Legend.Add(fmt.Sprintf("W=A=%d bits", b), bc)
		lp, err := plotter.NewLabels(lab)
		if err != nil {
			return nil, fmt.Errorf("figures: %s: %w", schema.FigureSensitivity, err)
		}
		for k := range lp.TextStyle {
			lp.TextStyle[k].Font.Size = vg.Points(9)
			lp.TextStyle[k].XAlign = draw.XCenter
		}
		lp.Offset = vg.Point{X: off, Y: vg.Points(2)}
		p.Add(lp)
	}
	p.NominalX(layers...)
	p.Y.Tick.Marker = figNiceTicks
	p.X.Min, p.X.Max = -0.5, float64(len(layers))-0.5
	span := ymax - ymin
	if span <= 0 {
		span = 1
	}
	// Room above the tallest bar for its label and for the legend.
	p.Y.Min, p.Y.Max = ymin-0.02*span, ymax+0.25*span
	if ymin >= 0 {
		p.Y.Min = 0
	}
	p.Legend.Top = true
	p.Legend.Left = false
	caption := "Accuracy drop (FP32 minus accuracy, in points) when one layer alone has its weights and input quantized at the given width, " +
		"the rest of the model in FP32 (fake-quant simulation, full test set). Each bar is labelled with its drop."
	return &figDraft{
		fig:  schema.Figure{File: schema.FigureSensitivity, Title: "Per-layer sensitivity", Caption: caption},
		w:    figWidth,
		h:    figHeight,
		draw: func(dc draw.Canvas) { p.Draw(dc) },
	}, nil
}

// figDropLabel formats a drop for a bar label: two decimals when small, one otherwise.
func figDropLabel(v float64) string {
	if math.Abs(v) < 10 {
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// figGridLevels returns the values of the per-tensor symmetric grid of w at bits, from
// quant's own parameter choice (ChooseParams over RangeOf) and dequantization rule.
func figGridLevels(w []float32, bits int) ([]float64, float32, error) {
	spec := quant.Spec{Bits: bits, Scheme: quant.Symmetric, Granularity: quant.PerTensor}
	lo, hi := quant.RangeOf(w)
	params, err := quant.ChooseParams(spec, []float32{lo}, []float32{hi})
	if err != nil {
		return nil, 0, fmt.Errorf("%d-bit grid: %w", bits, err)
	}
	scale, zp := params.Scales[0], params.ZeroPoints[0]
	levels := make([]float64, 0, params.QMax-params.QMin+1)
	for q := params.QMin; q <= params.QMax; q++ {
		levels = append(levels, float64(quant.DequantizeValue(q, scale, zp)))
	}
	return levels, scale, nil
}

// figHist draws the histogram of fc1's weights with the per-tensor symmetric grids at 8,
// 4 and 2 bits.
func figHist(r *schema.Results, fc1 []float32) (*figDraft, error) {
	if len(fc1) == 0 {
		return nil, nil
	}
	vs := make(plotter.Values, len(fc1))
	for i, v := range fc1 {
		vs[i] = float64(v)
	}
	// About 150 bins: fine enough to show the shape of a few hundred thousand weights,
	// coarse enough that a bin is more than a pixel wide at 7 inches.
	nbins := min(150, max(10, len(fc1)/20))
	h, err := plotter.NewHist(vs, nbins)
	if err != nil {
		return nil, fmt.Errorf("figures: %s: %w", schema.FigureHist, err)
	}
	// The bins are drawn as one filled outline from count 0: plotter.Histogram fills each bar
	// from the bottom of the plot, which would cover the 8-bit rug below zero.
	maxCount := 0.0
	outline := plotter.XYs{{X: h.Bins[0].Min, Y: 0}}
	for _, b := range h.Bins {
		maxCount = math.Max(maxCount, b.Weight)
		outline = append(outline, plotter.XY{X: b.Min, Y: b.Weight}, plotter.XY{X: b.Max, Y: b.Weight})
	}
	outline = append(outline, plotter.XY{X: h.Bins[len(h.Bins)-1].Max, Y: 0})
	poly, err := plotter.NewPolygon(outline)
	if err != nil {
		return nil, fmt.Errorf("figures: %s: %w", schema.FigureHist, err)
	}
	poly.Color = color.RGBA{170, 200, 230, 255}
	poly.LineStyle.Color = color.RGBA{90, 130, 180, 255}
	poly.LineStyle.Width = vg.Points(0.5)
	if maxCount == 0 {
		maxCount = 1
	}
	name := "fc1"
	shape := ""
	if len(r.FP32.Layers) > 0 {
		l := r.FP32.Layers[0]
		name = l.Name
		if l.In*l.Out == len(fc1) {
			shape = fmt.Sprintf(" (%d x %d)", l.In, l.Out)
		}
	}
	p := figNewPlot(fmt.Sprintf("%s weights%s and per-tensor symmetric grids", name, shape), "weight value", "weights per bin")
	p.Add(poly)
	// The 8-bit grid is too dense for full-height lines (255 levels): it is drawn as a rug of
	// short ticks below the histogram, in [-8%, -2%] of the highest bin.
	rugLo, rugHi := -0.09*maxCount, -0.02*maxCount
	type gridStyle struct {
		bits   int
		color  color.Color
		width  vg.Length
		dashes []vg.Length
		y0, y1 float64
	}
	styles := []gridStyle{
		{8, color.RGBA{110, 110, 110, 255}, vg.Points(0.5), nil, rugLo, rugHi},
		{4, figBlue, vg.Points(1), []vg.Length{vg.Points(4), vg.Points(2)}, 0, maxCount * 1.02},
		{2, figRed, vg.Points(2.2), nil, 0, maxCount * 1.02},
	}
	var scales []string
	for _, st := range styles {
		levels, scale, err := figGridLevels(fc1, st.bits)
		if err != nil {
			return nil, fmt.Errorf("figures: %s: %w", schema.FigureHist, err)
		}
		scales = append(scales, fmt.Sprintf("%d bits %.3g", st.bits, scale))
		var first *plotter.Line
		for _, x := range levels {
			l, err := plotter.NewLine(plotter.XYs{{X: x, Y: st.y0}, {X: x, Y: st.y1}})
			if err != nil {
				return nil, fmt.Errorf("figures: %s: %w", schema.FigureHist, err)
			}
			l.Color, l.Width, l.Dashes = st.color, st.width, st.dashes
			p.Add(l)
			if first == nil {
				first = l
			}
		}
		label := fmt.Sprintf("%d-bit grid (%d levels)", st.bits, len(levels))
		if st.bits == 8 {
			label += ", ticks below"
		}
		p.Legend.Add(label, first)
	}
	// Ticks of the count axis only at counts >= 0: the rug lives below zero.
	p.Y.Tick.Marker = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		var out []plot.Tick
		for _, t := range figNiceTicks.Ticks(lo, hi) {
			if t.Value >= 0 {
				out = append(out, t)
			}
		}
		return out
	})
	// Headroom above the grid lines for the legend (three entries, about a quarter of the
	// height), and the x range a little wider than the outermost levels (±max|w|).
	p.Y.Min, p.Y.Max = -0.1*maxCount, maxCount*1.32
	lo, hi := quant.RangeOf(fc1)
	m := math.Max(math.Abs(float64(lo)), math.Abs(float64(hi)))
	if m > 0 {
		p.X.Min, p.X.Max = -1.04*m, 1.04*m
	}
	p.Legend.Top, p.Legend.Left = true, false
	caption := fmt.Sprintf("Histogram of the %d weights of %s with the per-tensor symmetric quantization grids of quant.ChooseParams "+
		"(scale = max|w| / qmax; %s). Red: the 3 levels of 2 bits; blue dashed: the 15 levels of 4 bits; "+
		"grey ticks under the axis: the 255 levels of 8 bits.", len(fc1), name, strings.Join(scales, ", "))
	return &figDraft{
		fig:  schema.Figure{File: schema.FigureHist, Title: fmt.Sprintf("%s weights and quantization grids", name), Caption: caption},
		w:    figWidth,
		h:    figHeight,
		draw: func(dc draw.Canvas) { p.Draw(dc) },
	}, nil
}

// figCurve is one training run's curve with its place on the overall epoch axis.
type figCurve struct {
	name   string
	start  int // epochs before this run's first
	points []schema.EpochPoint
	color  color.Color
	shape  draw.GlyphDrawer // filled: train loss and test accuracy
	open   draw.GlyphDrawer // outlined: test loss
	// from is the epoch the run starts from (FP32's last, at x = start) for a dotted
	// connector, nil for none.
	from *schema.EpochPoint
}

// figCurves draws the training curves: loss (left) and test accuracy (right) per epoch,
// FP32 first and each QAT run continuing after it, with the legend in a column of its own.
func figCurves(r *schema.Results, _ []float32) (*figDraft, error) {
	var runs []figCurve
	start := len(r.FP32.Curve)
	if len(r.FP32.Curve) > 0 {
		runs = append(runs, figCurve{"FP32", 0, r.FP32.Curve, figBlack, draw.CircleGlyph{}, draw.RingGlyph{}, nil})
	}
	qat := analysis.SortedQAT(r.QAT)
	colorOf := map[schema.Pair]int{}
	for _, q := range qat {
		if len(q.Curve) == 0 {
			continue
		}
		k := schema.Pair{W: q.WBits, A: q.ABits}
		if _, ok := colorOf[k]; !ok {
			colorOf[k] = len(colorOf)
		}
		name := "QAT " + analysis.PairName(k)
		var shape, open draw.GlyphDrawer = draw.CircleGlyph{}, draw.RingGlyph{}
		if q.LSQ {
			name += " LSQ"
			shape, open = draw.PyramidGlyph{}, draw.TriangleGlyph{}
		}
		c := []color.Color{figBlue, figOrange, figGreen, figRed, figPurple, figSky, figBrown}[colorOf[k]%7]
		var from *schema.EpochPoint
		if start > 0 {
			from = &r.FP32.Curve[start-1]
		}
		runs = append(runs, figCurve{name, start, q.Curve, c, shape, open, from})
	}
	if len(runs) == 0 {
		return nil, nil
	}
	loss := figNewPlot("Loss", "epoch", "cross-entropy loss (train: solid, test: dashed)")
	acc := figNewPlot("Test accuracy", "epoch", "test accuracy (%)")
	var accVals []float64
	var clipped []figClipped
	maxEpoch := 0
	for _, run := range runs {
		var tl, vl, ta plotter.XYs
		for i, e := range run.points {
			x := float64(run.start + i + 1)
			maxEpoch = max(maxEpoch, run.start+i+1)
			tl = append(tl, plotter.XY{X: x, Y: e.TrainLoss})
			vl = append(vl, plotter.XY{X: x, Y: e.TestLoss})
			ta = append(ta, plotter.XY{X: x, Y: e.TestAccuracy})
			accVals = append(accVals, e.TestAccuracy)
		}
		series := []struct {
			p      *plot.Plot
			xys    plotter.XYs
			dashes []vg.Length
			shape  draw.GlyphDrawer
			from   float64
		}{{loss, tl, nil, run.shape, 0}, {loss, vl, figDash, run.open, 0}, {acc, ta, nil, run.shape, 0}}
		if run.from != nil {
			series[0].from, series[1].from, series[2].from = run.from.TrainLoss, run.from.TestLoss, run.from.TestAccuracy
		}
		for _, s := range series {
			if run.from != nil {
				// A thin dotted connector from the FP32 model the run starts from.
				c, err := plotter.NewLine(plotter.XYs{{X: float64(run.start), Y: s.from}, s.xys[0]})
				if err != nil {
					return nil, fmt.Errorf("figures: %s: %s: %w", schema.FigureCurves, run.name, err)
				}
				c.Color, c.Width, c.Dashes = run.color, vg.Points(0.8), []vg.Length{vg.Points(1), vg.Points(2)}
				s.p.Add(c)
			}
			l, sc, err := plotter.NewLinePoints(s.xys)
			if err != nil {
				return nil, fmt.Errorf("figures: %s: %s: %w", schema.FigureCurves, run.name, err)
			}
			l.Color, l.Width, l.Dashes = run.color, vg.Points(1.4), s.dashes
			sc.Color, sc.Shape, sc.Radius = run.color, s.shape, vg.Points(2.8)
			s.p.Add(l, sc)
		}
	}
	lo, hi := figAccRange(accVals)
	for _, run := range runs {
		for i, e := range run.points {
			if e.TestAccuracy < lo {
				clipped = append(clipped, figClipped{fmt.Sprintf("%s epoch %d", run.name, run.start+i+1), e.TestAccuracy})
			}
		}
	}
	acc.X.Label.Text += figAxisNote(lo, len(clipped))
	acc.Y.Min, acc.Y.Max = lo, hi
	acc.Y.Tick.Marker = figNiceTicks
	loss.Y.Min = 0
	loss.Y.Tick.Marker = figNiceTicks
	for _, p := range []*plot.Plot{loss, acc} {
		p.X.Min, p.X.Max = 0.5, float64(maxEpoch)+0.5
		if maxEpoch <= 20 {
			var es []int
			for e := 1; e <= maxEpoch; e++ {
				es = append(es, e)
			}
			p.X.Tick.Marker = figIntTicks(es)
		}
	}
	// The legend is its own column, one entry per run (up to fifteen in the full study).
	leg := plot.NewLegend()
	leg.TextStyle.Font.Size = figTickSize
	leg.ThumbnailWidth = vg.Points(22)
	leg.Top, leg.Left = true, true
	for _, run := range runs {
		l, sc, err := plotter.NewLinePoints(plotter.XYs{{X: 0, Y: 0}})
		if err != nil {
			return nil, fmt.Errorf("figures: %s: %w", schema.FigureCurves, err)
		}
		l.Color, l.Width = run.color, vg.Points(1.4)
		sc.Color, sc.Shape, sc.Radius = run.color, run.shape, vg.Points(2.5)
		leg.Add(run.name, l, sc)
	}
	caption := "Training curves per epoch: FP32 training, then each QAT run fine-tuned from the FP32 model " +
		"(its epochs numbered after FP32's, a dotted line from FP32's last epoch). Left: cross-entropy loss, solid with filled markers on the training set, " +
		"dashed with open markers on the test set; " +
		"right: test accuracy (QAT runs in fake-quant)." + figClipNote(lo, clipped)
	legW := 1.9 * vg.Inch
	return &figDraft{
		fig: schema.Figure{File: schema.FigureCurves, Title: "Training curves", Caption: caption},
		w:   figWideWidth, h: figHeight,
		draw: func(dc draw.Canvas) {
			plots := draw.Crop(dc, 0, -legW, 0, 0)
			figDrawRow(plots, []*plot.Plot{loss, acc})
			lc := draw.Crop(dc, dc.Max.X-dc.Min.X-legW+vg.Points(8), 0, 0, -vg.Points(30))
			leg.Draw(lc)
		},
	}, nil
}
