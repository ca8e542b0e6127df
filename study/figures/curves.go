package figures

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"tinyq/study/analysis"
	"tinyq/study/schema"
)

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
