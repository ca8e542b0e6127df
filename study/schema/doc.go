// Package schema is the content of a study directory: study.json's types (Results and every
// kind of point, the Settings a study was run with, read back to resume it) and the names of
// the files beside it (the FP32 model, the report, the figures).
//
// The JSON field names are a published schema (README.md, "The quantization study"): fields
// are only ever added. The package holds types, names and no behaviour beyond comparing
// settings (Settings.Same), so that the runner (package study), the analysis, the figures and
// the report can all import it, and a program that only reads a study.json needs nothing else.
package schema
