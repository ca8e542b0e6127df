package infer

import (
	"fmt"
	"runtime"
	"sync"

	"tinyq/qkernel"
	"tinyq/quant"
)

// Forward computes the logits ([rows, classes], written to logits) of rows input samples
// (x, [rows, in] float32). In Static mode the input is quantized once with the calibrated
// scale, every layer runs in integers (qkernel), and only the last accumulators are scaled
// to float. Rows are split into chunks, one goroutine per chunk, each running the whole
// network on its rows; the result does not depend on the split.
func (m *IntModel) Forward(x []float32, rows int, logits []float32) error {
	in, out := m.Shape()
	if rows <= 0 || len(x) != rows*in || len(logits) != rows*out {
		return fmt.Errorf("infer: forward: %d inputs and %d logits for %d rows of %d -> %d", len(x), len(logits), rows, in, out)
	}
	workers := m.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	err := parallelRows(rows, workers, func(lo, hi int) error {
		if m.Config.Mode == Static {
			return m.forwardStatic(x[lo*in:hi*in], hi-lo, logits[lo*out:hi*out])
		}
		return m.forwardDynamic(x[lo*in:hi*in], hi-lo, logits[lo*out:hi*out])
	})
	if err != nil {
		return fmt.Errorf("infer: forward: %w", err)
	}
	return nil
}

// parallelRows splits rows into at most workers contiguous chunks, runs each on its own
// goroutine, and returns the first error.
func parallelRows(rows, workers int, run func(lo, hi int) error) error {
	workers = max(1, min(workers, rows))
	if workers == 1 {
		return run(0, rows)
	}
	chunk := (rows + workers - 1) / workers
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, rows)
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func(w, lo, hi int) {
			defer wg.Done()
			errs[w] = run(lo, hi)
		}(w, lo, hi)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// widest returns the largest layer width.
func (m *IntModel) widest() int {
	w := m.Layers[0].In
	for _, l := range m.Layers {
		w = max(w, l.Out)
	}
	return w
}

func (m *IntModel) forwardStatic(x []float32, rows int, logits []float32) error {
	first := m.Layers[0]
	wide := m.widest()
	a := make([]uint8, rows*wide) // the current layer's uint8 input
	b := make([]uint8, rows*wide)
	acc := make([]int32, rows*wide)
	src := a[:len(x)]
	// The one float -> integer step at the boundary.
	if err := quant.QuantizeUint8(src, x, first.InScale, first.InZP, first.InQMin, first.InQMax); err != nil {
		return fmt.Errorf("input: %w", err)
	}
	for li, l := range m.Layers {
		zp := []int32{l.InZP}
		ac := acc[:rows*l.Out]
		if err := l.kern.Accumulate(ac, src, rows, zp, 1); err != nil {
			return err
		}
		if li == len(m.Layers)-1 {
			for r := 0; r < rows; r++ {
				for o := 0; o < l.Out; o++ {
					// int64: the accumulator plus the bias can exceed int32.
					v := float32(int64(ac[r*l.Out+o])+int64(l.Bias[o])) * l.LogitScale[o]
					if l.ReLU {
						v = max(v, 0)
					}
					logits[r*l.Out+o] = v
				}
			}
			return nil
		}
		dst := b[:rows*l.Out]
		if err := qkernel.Requantize(dst, ac, rows, l.Out, l.Bias, l.Mult, l.Shift, l.OutZP, l.OutQMin, l.OutQMax); err != nil {
			return err
		}
		src, a, b = dst, b, a
	}
	return nil
}

// dynamicSpec is the activation quantizer of Dynamic mode: 8-bit affine, per row.
var dynamicSpec = quant.Spec{Bits: 8, Scheme: quant.Affine, Granularity: quant.PerTensor}

func (m *IntModel) forwardDynamic(x []float32, rows int, logits []float32) error {
	wide := m.widest()
	h := append(make([]float32, 0, rows*wide), x...) // the current layer's float input
	next := make([]float32, rows*wide)
	q := make([]uint8, rows*wide)
	acc := make([]int32, rows*wide)
	scale := make([]float32, rows)
	zp := make([]int32, rows)
	qmin, qmax := dynamicSpec.QRange()
	for li, l := range m.Layers {
		for r := 0; r < rows; r++ {
			row := h[r*l.In : (r+1)*l.In]
			lo, hi := quant.RangeOf(row)
			p, err := quant.ChooseParams(dynamicSpec, []float32{lo}, []float32{hi})
			if err != nil {
				return fmt.Errorf("%s row %d: %w", l.Name, r, err)
			}
			scale[r], zp[r] = p.Scales[0], p.ZeroPoints[0]
			if err := quant.QuantizeUint8(q[r*l.In:(r+1)*l.In], row, scale[r], zp[r], qmin, qmax); err != nil {
				return fmt.Errorf("%s row %d: %w", l.Name, r, err)
			}
		}
		ac := acc[:rows*l.Out]
		if err := l.kern.Accumulate(ac, q[:rows*l.In], rows, zp, 1); err != nil {
			return err
		}
		dst := next[:rows*l.Out]
		if li == len(m.Layers)-1 {
			dst = logits
		}
		for r := 0; r < rows; r++ {
			for o := 0; o < l.Out; o++ {
				v := float32(float32(ac[r*l.Out+o])*(scale[r]*l.WeightScale(o))) + l.BiasF[o] // no fused multiply-add
				if l.ReLU {
					v = max(v, 0)
				}
				dst[r*l.Out+o] = v
			}
		}
		h, next = dst, h[:cap(h)]
	}
	return nil
}
