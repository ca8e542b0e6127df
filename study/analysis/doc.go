// Package analysis computes what a study's results say, as pure functions of a
// schema.Results: no file, no clock, no drawing. The mixed-precision front (ParetoFront, Front)
// and its knee (Knee), what each weight budget picks (BudgetPicks, Budgets), the observer a
// user would choose without the test set (BestPTQ), the findings the report opens with
// (Findings), and the few formats the figures and the report share (Percent, KB, PairName,
// LayerWidths), so that a number reads the same everywhere.
//
// The runner (package study) calls ParetoFront, Knee and BudgetPicks to decide which points
// to fine-tune; package figures and package markdown call the rest.
//
// # Invariants
//
// Inputs are never modified: every function returns new values. Ties are broken by the
// order of the input, so the same results always give the same answer.
package analysis
