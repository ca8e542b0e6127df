package infer

import (
	"fmt"
	"runtime"
	"sync"

	"tinyq/arch"
	"tinyq/internal/par"
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
	// Rows are split over goroutines where each gets at least 16 (below, a goroutine costs
	// more than it saves). Fewer run on the calling goroutine (no closure, so no
	// allocation), whose convolutions split their work over the workers where it pays
	// (qkernel's implicit convolution: the CNN's second convolution of one image takes
	// about 12 µs on one core).
	var err error
	if rows < 32 || workers == 1 {
		err = m.forward(x, rows, logits, workers)
	} else {
		err = parallelRows(rows, min(workers, rows/16), func(lo, hi int) error {
			return m.forward(x[lo*in:hi*in], hi-lo, logits[lo*out:hi*out], 1)
		})
	}
	if err != nil {
		return fmt.Errorf("infer: forward: %w", err)
	}
	return nil
}

// forward runs rows samples on the calling goroutine, at most chunkRows at a time in a
// model with convolutions (bounded memory); the convolutions may use up to workers
// goroutines.
func (m *IntModel) forward(x []float32, rows int, logits []float32, workers int) error {
	if m.Config.Mode == Dynamic {
		return m.forwardDynamic(x, rows, logits)
	}
	if !m.convolutional() {
		return m.forwardStatic(x, rows, logits, workers)
	}
	in, out := m.Shape()
	chunk := chunkRows(m.widest())
	for lo := 0; lo < rows; lo += chunk {
		c := min(chunk, rows-lo)
		if err := m.forwardStatic(x[lo*in:(lo+c)*in], c, logits[lo*out:(lo+c)*out], workers); err != nil {
			return err
		}
	}
	return nil
}

// convolutional reports whether any layer is a convolution or pools.
func (m *IntModel) convolutional() bool {
	for _, l := range m.Layers {
		if l.Conv != (arch.Window{}) || l.Pool != (arch.Window{}) {
			return true
		}
	}
	return false
}

// parallelRows splits rows into workers contiguous chunks, runs them on tinyq/internal/par's warm
// workers and the calling goroutine (a new goroutine can start 60-200 µs late on a small
// virtual machine, longer than a whole batch takes), and returns the first error.
func parallelRows(rows, workers int, run func(lo, hi int) error) error {
	workers = max(1, min(workers, rows))
	if workers == 1 {
		return run(0, rows)
	}
	chunk := (rows + workers - 1) / workers
	errs := make([]error, workers)
	par.Do(workers, func(i int) {
		if lo, hi := i*chunk, min((i+1)*chunk, rows); lo < hi {
			errs[i] = run(lo, hi)
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// widest returns the most values per sample a layer reads or writes (before and after
// its pooling).
func (m *IntModel) widest() int {
	w := 0
	for _, l := range m.Layers {
		w = max(w, l.geom.in, l.geom.pre, l.geom.out)
	}
	return w
}

// intScratch is one goroutine's working memory for a forward pass, pooled (intScratchPool) so
// that a steady stream of calls allocates nothing.
type intScratch struct {
	a, b  []uint8   // uint8 activations, [rows, widest]
	acc   []int32   // accumulators, [rows, widest]
	pool  []int32   // pooled accumulators, [rows, widest pooled output]
	cols  []uint8   // convolution patches (im2col rows) of a few images
	h, g  []float32 // dynamic mode: float activations, [rows, widest]
	scale []float32 // dynamic mode: per-row scales
	zp    []int32   // dynamic mode: per-row zero points
}

// grow returns s with length n, reallocating only when its capacity is too small.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// intScratchPool holds the intScratch of every IntModel (getScratch grows one to the model's
// sizes). One pool for the package, as floatScratch is for FloatModel: a sync.Pool inside each
// model is registered with the runtime on its first Put and kept, with the model that holds
// it and its working memory, until the second collection after its last use, so that a
// program converting a model per point (the study: 1,296 mixed-precision candidates) held
// every model of a collection cycle, GBs for the CNN.
var intScratchPool sync.Pool // *intScratch

func (m *IntModel) getScratch(rows int) *intScratch {
	s, _ := intScratchPool.Get().(*intScratch)
	if s == nil {
		s = &intScratch{}
	}
	n := rows * m.widest()
	s.a, s.b, s.acc = grow(s.a, n), grow(s.b, n), grow(s.acc, n)
	cols, pooled := 0, 0
	for _, l := range m.Layers {
		if l.Conv != (arch.Window{}) {
			cols = max(cols, qkernel.ConvScratch(l.Conv, patchImages(l.Conv, 1, rows)))
		}
		if l.Pool != (arch.Window{}) {
			pooled = max(pooled, l.geom.out)
		}
	}
	s.cols, s.pool = grow(s.cols, cols), grow(s.pool, rows*pooled)
	if m.Config.Mode == Dynamic {
		s.h, s.g = grow(s.h, n), grow(s.g, n)
		s.scale, s.zp = grow(s.scale, rows), grow(s.zp, rows)
	}
	return s
}

func (m *IntModel) forwardStatic(x []float32, rows int, logits []float32, workers int) error {
	s := m.getScratch(rows)
	defer intScratchPool.Put(s)
	first := m.Layers[0]
	src, next := s.a[:len(x)], s.b
	// The one float -> integer step at the boundary.
	if err := qkernel.QuantizeInput(src, x, first.InScale, first.InZP, first.InQMin, first.InQMax); err != nil {
		return fmt.Errorf("input: %w", err)
	}
	// Buffers: the layer's input is in src, its requantized activation goes to next, or
	// with a pooling (pooled accumulators in s.pool) back to src's buffer, which the input
	// no longer needs.
	// A convolutional model's one sample also splits its wide dense layers' output blocks
	// over the workers (qkernel, where it pays: the CNN's first dense layer). Other
	// products run on this goroutine.
	denseWorkers := 1
	if rows == 1 && m.convolutional() {
		denseWorkers = workers
	}
	for li, l := range m.Layers {
		g := l.geom
		pix := rows * g.rows // matrix rows: samples times output pixels
		ac := s.acc[:pix*l.Out]
		if l.Conv != (arch.Window{}) {
			if err := l.kern.Conv(ac, src, rows, l.Conv, l.InZP, s.cols, workers); err != nil {
				return err
			}
		} else if err := l.kern.Accumulate(ac, src, rows, l.inZP, denseWorkers); err != nil {
			return err
		}
		if li == len(m.Layers)-1 {
			// int64 inside: the accumulator plus the bias can exceed int32.
			return qkernel.Logits(logits, ac, rows, l.Out, l.Bias, l.LogitScale, l.ReLU)
		}
		if l.Pool != (arch.Window{}) {
			// Pool the accumulators, then requantize a quarter of the values (for a 2x2
			// pooling): the same bytes as requantizing, then pooling, because requantization
			// is non-decreasing in the accumulator (qkernel.MaxPoolAcc).
			pooled := s.pool[:rows*g.out]
			if err := qkernel.MaxPoolAcc(pooled, ac, rows, l.Pool); err != nil {
				return err
			}
			dst := src[:cap(src)][:rows*g.out] // the layer's input is no longer needed
			if err := l.requantize(dst, pooled, rows*g.out/l.Out); err != nil {
				return err
			}
			src = dst
			continue
		}
		dst := next[:pix*l.Out]
		if err := l.requantize(dst, ac, pix); err != nil {
			return err
		}
		src, next = dst, src[:cap(src)]
	}
	return nil
}

// dynamicSpec is the activation quantizer of Dynamic mode: 8-bit affine, per row.
var dynamicSpec = quant.Spec{Bits: 8, Scheme: quant.Affine, Granularity: quant.PerTensor}

func (m *IntModel) forwardDynamic(x []float32, rows int, logits []float32) error {
	s := m.getScratch(rows)
	defer intScratchPool.Put(s)
	h, next := x, s.h
	qmin, qmax := dynamicSpec.QRange()
	for li, l := range m.Layers {
		q := s.a[:rows*l.In]
		for r := 0; r < rows; r++ {
			row := h[r*l.In : (r+1)*l.In]
			lo, hi := qkernel.RowRange(row)
			scale, zp, err := quant.ChooseRange(dynamicSpec, lo, hi)
			if err != nil {
				return fmt.Errorf("%s row %d: %w", l.Name, r, err)
			}
			s.scale[r], s.zp[r] = scale, zp
			if err := qkernel.QuantizeInput(q[r*l.In:(r+1)*l.In], row, s.scale[r], s.zp[r], qmin, qmax); err != nil {
				return fmt.Errorf("%s row %d: %w", l.Name, r, err)
			}
		}
		ac := s.acc[:rows*l.Out]
		if err := l.kern.Accumulate(ac, q, rows, s.zp[:rows], 1); err != nil {
			return err
		}
		dst := next[:rows*l.Out]
		if li == len(m.Layers)-1 {
			dst = logits
		}
		if err := qkernel.Dequantize(dst, ac, rows, l.Out, s.scale[:rows], l.WeightScales, l.BiasF, l.ReLU); err != nil {
			return err
		}
		prev := h
		h = dst
		if li == 0 {
			next = s.g
		} else {
			next = prev[:cap(prev)] // the previous layer's input is free again
		}
	}
	return nil
}
