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
