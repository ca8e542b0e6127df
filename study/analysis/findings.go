package analysis

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"tinyq/study/schema"
)

// NearFP32 is the tolerance, in accuracy points, of the finding "stays within 0.5 points
// of FP32": about the standard error of an accuracy near 98% on MNIST's 10 000 test images
// (sqrt(0.98*0.02/10000) = 0.14 points) times 3.5, so that a point inside it is not
// distinguishable from FP32 by this test set.
const NearFP32 = 0.5

// Findings returns the findings the report opens with, each a sentence computed from r, in
// this order: how far static per-channel PTQ stays near FP32, per-tensor against per-channel
// weights, the best observer, the most fragile layer, what QAT recovers over PTQ, and the
// best mixed model under the smallest budget. A finding whose data is missing is left out.
func Findings(r *schema.Results) []string {
	var out []string
	for _, f := range []func(*schema.Results) string{
		findNearFP32, findGranularity, findObserver, findFragile, findQAT, findBudget,
	} {
		if s := f(r); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// findNearFP32: how far down static per-channel PTQ stays within NearFP32 of FP32.
func findNearFP32(r *schema.Results) string {
	pc := BestPTQ(r.PTQ, schema.PerChannel, schema.Static)
	if len(pc) == 0 || r.FP32.Accuracy == 0 {
		return ""
	}
	ks := Pairs(pc) // descending
	var low, top *schema.Pair
	for i := range ks {
		k := ks[i]
		if top == nil || pc[k].Accuracy > pc[*top].Accuracy {
			top = &ks[i]
		}
		if pc[k].Accuracy >= r.FP32.Accuracy-NearFP32 {
			// Fewest weight bits, then fewest activation bits.
			if low == nil || k.W < low.W || (k.W == low.W && k.A < low.A) {
				low = &ks[i]
			}
		}
	}
	if low == nil {
		return fmt.Sprintf("No static per-channel PTQ point stays within %.1f points of FP32 (%s); the best is %s at %s.",
			NearFP32, Percent(r.FP32.Accuracy), PairName(*top), Percent(pc[*top].Accuracy))
	}
	return fmt.Sprintf("Static per-channel PTQ stays within %.1f points of FP32 down to %s (%s against %s).",
		NearFP32, PairName(*low), Percent(pc[*low].Accuracy), Percent(r.FP32.Accuracy))
}

// findGranularity: per-tensor against per-channel weights at 4 bits (or the fewest bits
// both have), 8-bit static activations.
func findGranularity(r *schema.Results) string {
	pc := BestPTQ(r.PTQ, schema.PerChannel, schema.Static)
	pt := BestPTQ(r.PTQ, schema.PerTensor, schema.Static)
	var ws []int
	for k := range pc {
		if _, ok := pt[k]; ok && k.A == 8 {
			ws = append(ws, k.W)
		}
	}
	if len(ws) == 0 {
		return ""
	}
	w := slices.Min(ws)
	if slices.Contains(ws, 4) {
		w = 4
	}
	k := schema.Pair{W: w, A: 8}
	c, t := pc[k].Accuracy, pt[k].Accuracy
	verb, d := "lose", c-t
	if d < 0 {
		verb, d = "gain", -d
	}
	return fmt.Sprintf("Per-tensor weights %s %.2f points against per-channel at %d bits (%s, static): %s against %s.",
		verb, d, w, PairName(k), Percent(t), Percent(c))
}

// findObserver: the observer with the best test accuracy at 4-bit activations (or the
// fewest activation bits below 8), with static per-channel weights at the widest width all
// observers have: with wide weights the activations' range is what differs. It also says
// whether the held-out logit MSE picks the same observer.
func findObserver(r *schema.Results) string {
	acts := map[int]bool{}
	for _, p := range r.PTQ {
		if p.Granularity == schema.PerChannel && p.Mode == schema.Static {
			acts[p.ABits] = true
		}
	}
	a := 0
	if acts[4] {
		a = 4
	} else {
		for b := range acts {
			if b < 8 && (a == 0 || b < a) {
				a = b
			}
		}
	}
	if a == 0 {
		return ""
	}
	acc := map[string]map[int]float64{}
	var obs []string
	for _, p := range r.PTQ {
		if p.Granularity != schema.PerChannel || p.Mode != schema.Static || p.ABits != a || p.WeightRange != "" {
			continue
		}
		if acc[p.Observer] == nil {
			acc[p.Observer] = map[int]float64{}
			obs = append(obs, p.Observer)
		}
		acc[p.Observer][p.WBits] = p.Accuracy
	}
	if len(obs) < 2 {
		return ""
	}
	slices.Sort(obs)
	w := 0
	for cand := range acc[obs[0]] {
		all := true
		for _, o := range obs {
			if _, ok := acc[o][cand]; !ok {
				all = false
			}
		}
		if all && cand > w {
			w = cand
		}
	}
	if w == 0 {
		return ""
	}
	best := obs[0]
	for _, o := range obs {
		if acc[o][w] > acc[best][w] {
			best = o
		}
	}
	var others []string
	for _, o := range obs {
		if o != best {
			others = append(others, fmt.Sprintf("%s for %s", Percent(acc[o][w]), o))
		}
	}
	out := fmt.Sprintf("At %d-bit activations (static, %d-bit per-channel weights) the best observer is %s: %s against %s; ",
		a, w, best, Percent(acc[best][w]), strings.Join(others, " and "))
	chosen := BestPTQ(r.PTQ, schema.PerChannel, schema.Static)[schema.Pair{W: w, A: a}].Observer
	if chosen == best {
		return out + "the held-out logit MSE picks it too."
	}
	return out + fmt.Sprintf("the held-out logit MSE picks %s.", chosen)
}

// findFragile: the layer with the largest drop at the fewest sensitivity bits.
func findFragile(r *schema.Results) string {
	if len(r.Sensitivity) == 0 {
		return ""
	}
	bits := r.Sensitivity[0].WBits
	for _, s := range r.Sensitivity {
		bits = min(bits, s.WBits)
	}
	var pts []schema.SensitivityPoint
	for _, s := range r.Sensitivity {
		if s.WBits == bits {
			pts = append(pts, s)
		}
	}
	most, least := pts[0], pts[0]
	for _, s := range pts {
		if s.Drop > most.Drop {
			most = s
		}
		if s.Drop < least.Drop {
			least = s
		}
	}
	out := fmt.Sprintf("The most fragile layer is %s: at %d bits alone (weights and input) it costs %.2f points", most.Layer, bits, most.Drop)
	if len(pts) > 1 && least.Layer != most.Layer {
		out += fmt.Sprintf("; the most robust, %s, costs %.2f", least.Layer, least.Drop)
	}
	return out + "."
}

// findQAT: what QAT recovers over static per-channel PTQ at the fewest W = A bits both
// have, in the integer runtime, with the better of the scale methods.
func findQAT(r *schema.Results) string {
	pc := BestPTQ(r.PTQ, schema.PerChannel, schema.Static)
	var best *schema.QATPoint
	for i := range r.QAT {
		q := &r.QAT[i]
		if q.WBits != q.ABits {
			continue
		}
		if _, ok := pc[schema.Pair{W: q.WBits, A: q.ABits}]; !ok {
			continue
		}
		if best == nil || q.WBits < best.WBits || (q.WBits == best.WBits && q.IntAccuracy > best.IntAccuracy) {
			best = q
		}
	}
	if best == nil {
		return ""
	}
	p := pc[schema.Pair{W: best.WBits, A: best.ABits}]
	d := best.IntAccuracy - p.Accuracy
	verb := "recovers"
	if d < 0 {
		verb, d = "loses", -d
	}
	return fmt.Sprintf("QAT %s %.2f points over PTQ at %s in the integer runtime: %s with %s scales against %s for static per-channel PTQ.",
		verb, d, PairName(schema.Pair{W: best.WBits, A: best.ABits}), Percent(best.IntAccuracy), ScaleMethod(best.LSQ), Percent(p.Accuracy))
}

// findBudget: the best mixed model under the smallest budget something fits in.
func findBudget(r *schema.Results) string {
	if len(r.Budgets) == 0 {
		return ""
	}
	bs := slices.Clone(r.Budgets)
	slices.SortStableFunc(bs, func(a, b schema.Budget) int { return cmp.Compare(a.Bytes, b.Bytes) })
	var none []string
	for _, b := range bs {
		if b.Bits == nil {
			none = append(none, BudgetName(b.Bytes))
			continue
		}
		out := ""
		if len(none) > 0 {
			out = fmt.Sprintf("No mixed model fits under %s; u", strings.Join(none, " or "))
		} else {
			out = "U"
		}
		out += fmt.Sprintf("nder %s of weights the best mixed model (%s; %.1f KB) reaches %s",
			BudgetName(b.Bytes), LayerWidths(r, b.Bits), KB(b.WeightBytes), Percent(b.Accuracy))
		if b.QATAccuracy > 0 {
			out += fmt.Sprintf(", %s after QAT fine-tuning", Percent(b.QATAccuracy))
		}
		return out + "."
	}
	return fmt.Sprintf("No mixed model fits under any budget (%s).", strings.Join(none, ", "))
}
