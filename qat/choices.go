package qat

import "tinyq/train"

// Choices are a caller's departures from a recipe (cmd/mnist's QAT flags); the zero value
// keeps the recipe.
type Choices struct {
	// LearnScales, if non-nil, turns learned scales (LSQ) on or off; nil keeps the recipe's.
	LearnScales *bool
	// LR, if positive, is the QAT learning rate; else the recipe scales the float rate
	// (Recipe.LR), or, FromScratch, uses the float rate as it is.
	LR float64
	// FromScratch says QAT trains a new model rather than fine-tuning the trained one.
	FromScratch bool
	// Schedule, if non-nil, replaces the recipe's schedule.
	Schedule *train.Schedule
	// FreezeBNAfter, if non-nil, replaces the recipe's Config.FreezeBNAfter.
	FreezeBNAfter *int
}

// Apply returns r with the choices made, and the QAT learning rate for a float model
// trained at floatLR.
func (c Choices) Apply(r Recipe, floatLR float64) (Recipe, float64) {
	if c.LearnScales != nil {
		r.Config.LearnScales = *c.LearnScales
	}
	if c.Schedule != nil {
		r.Schedule = *c.Schedule
	}
	if c.FreezeBNAfter != nil {
		r.Config.FreezeBNAfter = *c.FreezeBNAfter
	}
	lr := r.LR(floatLR, c.LR)
	if c.LR <= 0 && c.FromScratch {
		lr = floatLR
	}
	return r, lr
}
