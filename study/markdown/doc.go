// Package markdown writes a study's report, report.md: how the study was run, the FP32
// reference, the findings (package study/analysis), a table per part (post-training
// quantization, QAT, per-layer sensitivity, mixed precision and the weight budgets), and
// the figures package study/figures drew, with their captions.
//
// Render returns the text; Write writes it atomically into the study directory. A part
// without points is left out, so a study interrupted after any point still has a report.
// The results are never modified, and the same results give the same bytes.
package markdown
