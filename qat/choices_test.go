package qat

import (
	"math"
	"testing"

	"tinyq/train"
)

// TestChoicesApply: the zero Choices keep Default's recipe and rate; each choice replaces
// only its own part: LSQ on or off, the schedule, the rate (an explicit one wins over
// FromScratch's float rate).
func TestChoicesApply(t *testing.T) {
	off, cos := false, train.CosineLR
	cases := []struct {
		c     Choices
		w     int
		lsq   bool
		sched train.Schedule
		lr    float64
	}{
		{Choices{}, 8, false, train.ConstantLR, 0.0001},
		{Choices{}, 2, true, train.CosineLR, 0.001},
		{Choices{LearnScales: &off}, 2, false, train.CosineLR, 0.001},
		{Choices{Schedule: &cos}, 8, false, train.CosineLR, 0.0001},
		{Choices{FromScratch: true}, 8, false, train.ConstantLR, 0.001},
		{Choices{FromScratch: true, LR: 0.05}, 8, false, train.ConstantLR, 0.05},
		{Choices{LR: 0.02}, 2, true, train.CosineLR, 0.02},
	}
	for i, c := range cases {
		r, lr := c.c.Apply(Default(c.w, c.w), 0.001)
		if r.Config.LearnScales != c.lsq || r.Schedule != c.sched || math.Abs(lr-c.lr) > 1e-12 {
			t.Errorf("case %d: LSQ %v, schedule %v, LR %v; want %v, %v, %v", i, r.Config.LearnScales, r.Schedule, lr, c.lsq, c.sched, c.lr)
		}
	}
}
