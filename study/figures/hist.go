package figures

import (
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"tinyq/quant"
	"tinyq/study/schema"
)

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
