package qat

import (
	"math"
	"testing"

	"tinyq/train"
)

// TestChoicesApply: the zero Choices keep Default's recipe and rate; each choice replaces
// only its own part: LSQ on or off, the schedule, the rate (an explicit one wins over
// FromScratch's float rate), the epochs of BatchNorm statistics.
func TestChoicesApply(t *testing.T) {
	off, cos, two := false, train.CosineLR, 2
	cases := []struct {
		c     Choices
		w     int
		lsq   bool
		sched train.Schedule
		lr    float64
		bn    int
	}{
		{Choices{}, 8, false, train.ConstantLR, 0.0001, 0},
		{Choices{}, 2, true, train.CosineLR, 0.001, 0},
		{Choices{LearnScales: &off}, 2, false, train.CosineLR, 0.001, 0},
		{Choices{Schedule: &cos}, 8, false, train.CosineLR, 0.0001, 0},
		{Choices{FromScratch: true}, 8, false, train.ConstantLR, 0.001, 0},
		{Choices{FromScratch: true, LR: 0.05}, 8, false, train.ConstantLR, 0.05, 0},
		{Choices{LR: 0.02}, 2, true, train.CosineLR, 0.02, 0},
		{Choices{FreezeBNAfter: &two}, 8, false, train.ConstantLR, 0.0001, 2},
	}
	for i, c := range cases {
		r, lr := c.c.Apply(Default(c.w, c.w), 0.001)
		if r.Config.LearnScales != c.lsq || r.Schedule != c.sched || math.Abs(lr-c.lr) > 1e-12 || r.Config.FreezeBNAfter != c.bn {
			t.Errorf("case %d: LSQ %v, schedule %v, LR %v, FreezeBNAfter %d; want %v, %v, %v, %d", i, r.Config.LearnScales, r.Schedule, lr, r.Config.FreezeBNAfter, c.lsq, c.sched, c.lr, c.bn)
		}
	}
}
