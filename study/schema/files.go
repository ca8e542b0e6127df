package schema

// File names inside a study directory: the results, the report (package markdown), the FP32
// model, and the figures in report order (package figures).
const (
	ResultsFile = "study.json"
	ReportFile  = "report.md"
	ModelFile   = "fp32.safetensors"

	FigurePTQBits     = "ptq_bits.png"
	FigureHeatmap     = "ptq_heatmap.png"
	FigurePareto      = "pareto.png"
	FigureSensitivity = "sensitivity.png"
	FigureHist        = "fc1_hist.png"
	FigureCurves      = "curves.png"
)

// Figure is one PNG of a study, as package figures draws it and package markdown embeds it.
type Figure struct {
	// File is the PNG's name relative to the study directory, e.g. FigurePTQBits.
	File string
	// Title is the figure's title, used as the image's alt text in report.md.
	Title string
	// Caption says what the figure shows, computed from the results (clipped points, FP32).
	Caption string
}
