// Package study maps what quantization costs a trained model: the accuracy of every
// post-training quantization in a grid of weight widths, activation widths, weight scale
// granularities and calibration methods (the activation observer, and under 8-bit weights
// min/max or MSE-clipped weight ranges; each point the integer runtime's accuracy on the
// full test set); quantization-aware training at uniform widths, with observed and with
// learned (LSQ) scales; the sensitivity of each layer quantized alone; and mixed precision,
// per-layer widths searched under weight-size budgets.
//
// Choices are never made on the test set: calibration uses the first training images and
// every choice (the activation observer and weight range, the mixed-precision front) is
// scored on the last training images, kept apart from calibration, by the logit MSE against
// the float model (ptq.LogitMSEFrom). The test set only measures.
//
// A study lives in a directory: study.json holds every finished point and is rewritten
// (atomically) after each one, so an interrupted study resumes where it stopped when run
// again with the same settings (Open refuses other settings rather than overwrite them);
// fp32.safetensors keeps the model being studied, and study.json its training record and the
// SHA-256 of its parameters: a resumed study refuses another model in its place (Model).
// One run at a time works in a directory: Open holds it (internal/dirlock, a lock the
// operating system drops when the process ends) until Close, and refuses it while another
// run holds it.
//
// # Packages
//
// This package is the runner: what a study trains and measures, study.json, resuming, the
// lock and the fingerprint. Run measures and saves; it draws nothing. The rest works on
// results alone, so it can be tested on hand-made ones, and imports flow one way:
//
//   - study/schema: study.json's types and the directory's file names;
//   - study/analysis: pure functions of results (the front, its knee, the budgets' picks,
//     the findings), which the runner also calls to choose the points it fine-tunes;
//   - study/figures: the PNG figures (gonum.org/v1/plot);
//   - study/markdown: report.md.
//
// A study as cmd/mnist -study runs it: Open the directory, SetReference to the trained float
// model, Run, then figures.Write and markdown.Write; the package Example does exactly this
// (compiled, not run: it takes minutes).
//
// cmd/mnist -study DIR runs it; -study-quick runs the few-minute subset.
package study
