// Package study maps what quantization costs a trained model: the accuracy of every
// post-training quantization in a grid of weight widths, activation widths, weight scale
// granularities and calibration methods (each point the integer runtime's accuracy on the
// full test set); quantization-aware training at uniform widths, with observed and with
// learned (LSQ) scales; the sensitivity of each layer quantized alone; and mixed precision,
// per-layer widths searched under weight-size budgets.
//
// Choices are never made on the test set: calibration uses the first training images and
// every choice (the activation observer, the mixed-precision front) is scored on the last
// training images, kept apart from calibration, by the logit MSE against the float model
// (ptq.LogitMSEFrom). The test set only measures.
//
// A study lives in a directory: study.json holds every finished point and is rewritten
// (atomically) after each one, so an interrupted study resumes where it stopped when run
// again with the same settings (Open refuses other settings rather than overwrite them);
// fp32.safetensors keeps the model being studied, and study.json its training record and the
// SHA-256 of its parameters: a resumed study refuses another model in its place (Model).
// The results' schema is package study/schema. Run measures and saves; it draws nothing: the
// figures (package study/figures, PNG with gonum.org/v1/plot) and report.md (package
// study/markdown) are made from the results afterwards, and both read what they say about
// them (the front, budgets, knee, findings) from package study/analysis, as the runner does
// for its own choices (which mixed points to fine-tune). One run at a time
// works in a directory: Open holds it (internal/dirlock, a lock the operating system drops
// when the process ends) until Close, and refuses it while another run holds it.
//
//	s, err := study.Open(dir, schema.Config{Settings: study.Quick()})
//	...
//	defer s.Close()
//	err = s.SetReference(model, history, fp32Accuracy, "")
//	err = s.Run(study.Inputs{Model: model, Train: trainSet, Test: testSet})
//	figs, err := figures.Write(dir, &s.Results, model.Layers[0].Weights())
//	err = markdown.Write(dir, &s.Results, figs)
//
// cmd/mnist -study DIR runs it; -study-quick runs the few-minute subset.
package study
