package figures

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"tinyq/study/analysis"
	"tinyq/study/schema"
)

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

// figHeatmap draws PTQ accuracy (static per-channel, best calibration) over weight x
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
	p := figNewPlot("PTQ test accuracy (%), static per-channel, best calibration\n"+
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
		"each cell with the calibration (observer and weight range) of lowest held-out logit MSE. The colour shows the points lost against %s on a log scale: "+
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
