package ptq

import (
	"fmt"
	"runtime"
	"sync"

	"tinyq/nn"
	"tinyq/qkernel"
	"tinyq/quant"
)

// Forward computes the logits ([rows, out], written to logits) of rows input samples
// (x, [rows, in] float32). In Static mode the input is quantized once with the calibrated
// scale, every layer runs in integers (qkernel), and only the last accumulators are scaled
// to float. Rows are split into chunks, one goroutine per chunk, each running the whole
// network on its rows.
func (m *Model) Forward(x []float32, rows int, logits []float32) error {
	if len(m.Layers) == 0 {
		return fmt.Errorf("ptq: forward: empty model")
	}
	in, out := m.Layers[0].In, m.Layers[len(m.Layers)-1].Out
	if rows <= 0 || len(x) != rows*in || len(logits) != rows*out {
		return fmt.Errorf("ptq: forward: %d inputs and %d logits for %d rows of %d -> %d", len(x), len(logits), rows, in, out)
	}
	workers := m.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, rows)
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
			if m.Config.Mode == Static {
				errs[w] = m.forwardStatic(x[lo*in:hi*in], hi-lo, logits[lo*out:hi*out])
			} else {
				errs[w] = m.forwardDynamic(x[lo*in:hi*in], hi-lo, logits[lo*out:hi*out])
			}
		}(w, lo, hi)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("ptq: forward: %w", err)
		}
	}
	return nil
}

// widest returns the largest layer width.
func (m *Model) widest() int {
	w := m.Layers[0].In
	for _, l := range m.Layers {
		w = max(w, l.Out)
	}
	return w
}

func (m *Model) forwardStatic(x []float32, rows int, logits []float32) error {
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
		if err := qkernel.RequantizeSingleRounding(dst, ac, rows, l.Out, l.Bias, l.Mult, l.Shift, l.OutZP, l.OutQMin, l.OutQMax); err != nil {
			return err
		}
		src, a, b = dst, b, a
	}
	return nil
}

// dynamicSpec is the activation quantizer of Dynamic mode: 8-bit affine, per row.
var dynamicSpec = quant.Spec{Bits: 8, Scheme: quant.Affine, Granularity: quant.PerTensor}

func (m *Model) forwardDynamic(x []float32, rows int, logits []float32) error {
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
			lo, hi := row[0], row[0]
			for _, v := range row {
				lo, hi = min(lo, v), max(hi, v)
			}
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
				v := float32(ac[r*l.Out+o])*(scale[r]*l.wscale(o)) + l.BiasF[o]
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

// Predict returns the argmax class of each row's logits.
func (m *Model) Predict(x []float32, rows int) ([]int, error) {
	out := m.Layers[len(m.Layers)-1].Out
	logits := make([]float32, rows*out)
	if err := m.Forward(x, rows, logits); err != nil {
		return nil, err
	}
	p := make([]int, rows)
	for r := range p {
		p[r] = nn.Argmax(logits[r*out : (r+1)*out])
	}
	return p, nil
}

// Evaluate returns the accuracy in percent of the model on images/labels, in batches of 1000.
func (m *Model) Evaluate(images []float32, labels []uint8) (float64, error) {
	in := m.Layers[0].In
	n := len(labels)
	if n == 0 || len(images) != n*in {
		return 0, fmt.Errorf("ptq: evaluate: %d pixels for %d labels of %d", len(images), n, in)
	}
	correct := 0
	for lo := 0; lo < n; lo += 1000 {
		hi := min(lo+1000, n)
		p, err := m.Predict(images[lo*in:hi*in], hi-lo)
		if err != nil {
			return 0, err
		}
		for k, c := range p {
			if c == int(labels[lo+k]) {
				correct++
			}
		}
	}
	return 100 * float64(correct) / float64(n), nil
}

// LogitMSE returns the mean squared difference between m's logits and the float model ref's
// on images ([n, in]): the quantization error a calibration choice leaves, measured without
// labels. It is how a calibration method is chosen (lower is better).
func (m *Model) LogitMSE(ref *nn.MLP, images []float32) (float64, error) {
	in, out := m.Layers[0].In, m.Layers[len(m.Layers)-1].Out
	n := len(images) / in
	if n == 0 || len(images) != n*in {
		return 0, fmt.Errorf("ptq: logit error: %d values are not whole images of %d", len(images), in)
	}
	const batch = 1000
	ev, err := ref.NewEvaluator(min(batch, n))
	if err != nil {
		return 0, fmt.Errorf("ptq: logit error: %w", err)
	}
	q := make([]float32, min(batch, n)*out)
	var sum float64
	for lo := 0; lo < n; lo += ev.Batch() {
		hi := min(lo+ev.Batch(), n)
		x := images[lo*in : hi*in]
		f, err := ev.Forward(x, hi-lo)
		if err != nil {
			return 0, fmt.Errorf("ptq: logit error: %w", err)
		}
		if err := m.Forward(x, hi-lo, q[:(hi-lo)*out]); err != nil {
			return 0, err
		}
		for i, v := range f {
			d := float64(v - q[i])
			sum += d * d
		}
	}
	return sum / float64(n*out), nil
}
