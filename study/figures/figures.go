package figures

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"tinyq/internal/atomicfile"
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
