// Package figures draws a study's figures as PNG files with gonum.org/v1/plot: accuracy
// against bit width, the PTQ heatmap over weight and activation widths, accuracy against
// weight size with the mixed-precision front, per-layer sensitivity, the first layer's
// weights with their quantization grids, and the training curves.
//
// Write draws every figure the results allow (a part without points has no figure, not an
// error) and returns each figure's file, title and caption for the report; captions are
// computed from the numbers (the FP32 reference, the points left below an accuracy axis).
// What a figure shows of the results (the chosen observer, the front, the order of runs)
// comes from package study/analysis, so that the figures and the report agree.
//
// # Invariants
//
// The results are never modified. Every file is written atomically (a reader sees the old
// PNG or the whole new one), and the same results give the same bytes: the PNGs hold no
// date or other varying metadata. A panic inside gonum/plot becomes an error.
package figures
