package qkernel

import (
	"fmt"
	"runtime"
	"sync"

	"tinyq/internal/par"
	"tinyq/quant"
)

// Weights is a prepared int8 (or packed int4 or int2) weight matrix of logical layout
// [Out, In]: row o holds the weights of output channel o. It is immutable after construction
// and safe for concurrent use (it keeps only its run-time layouts, built on first use, and
// a hint of whether splitting one sample over workers pays, which changes speed only).
type Weights struct {
	In, Out int

	int4   bool
	int2   bool   // with int4: the packed data holds 2-bit values, four per byte
	packed []byte // int4 only: the stored nibbles, row-major [Out, In], low nibble first
	q8     []int8 // int8 only: the weights, row-major [Out, In]

	// The generic path's layout, built on its first use: transposed SWAR words
	// [In][lay.words(Out)] (packed weights are unpacked into it), or, with
	// lay.perWord == 0, a plain transposed [In][Out].
	lay      layout
	swarOnce sync.Once
	lanes    []uint64 // int8 only
	wt       []int8   // int8 with lay.perWord == 0 only

	colsum []int32 // [Out]: colsum[o] = sum_i W[o,i], for nonzero zero points

	simd simdLayouts // the SIMD paths' layouts, built on first use
}

func checkShape(out, in int) error {
	if out <= 0 || in <= 0 {
		return fmt.Errorf("qkernel: weight shape [%d, %d]: dimensions must be positive", out, in)
	}
	if out > (1<<31-1)/in {
		return fmt.Errorf("qkernel: weight shape [%d, %d]: too many elements", out, in)
	}
	return nil
}

// NewWeights prepares row-major [out, in] int8 weights. w is neither retained nor modified.
// Any int8 value is accepted (the symmetric scheme uses [-127, 127]).
func NewWeights(w []int8, out, in int) (*Weights, error) {
	return newWeights(w, out, in, lanes3x21)
}

// newWeights is NewWeights with the choice of layout (perWord == 0: plain transposed).
func newWeights(w []int8, out, in int, lay layout) (*Weights, error) {
	if err := checkShape(out, in); err != nil {
		return nil, err
	}
	if len(w) != out*in {
		return nil, fmt.Errorf("qkernel: NewWeights: len(w) = %d, want out*in = %d*%d = %d", len(w), out, in, out*in)
	}
	wt := &Weights{In: in, Out: out, lay: lay, q8: append([]int8(nil), w...), colsum: make([]int32, out)}
	for o := 0; o < out; o++ {
		var s int32
		for _, v := range w[o*in : (o+1)*in] {
			s += int32(v)
		}
		wt.colsum[o] = s
	}
	return wt, nil
}

// swar returns the generic path's layout of the weights, building it on first use (packed
// int4 and int2 weights are unpacked into it once).
func (w *Weights) swar() (lanes []uint64, wt []int8) {
	w.swarOnce.Do(func() {
		at := w.At
		if w.lay.perWord > 0 {
			w.lanes = make([]uint64, w.In*w.lay.words(w.Out))
			w.lay.fill(w.lanes, at, w.Out, 0, w.In)
		} else {
			w.wt = make([]int8, w.In*w.Out)
			fillTransposed(w.wt, at, w.Out, 0, w.In)
		}
	})
	return w.lanes, w.wt
}

// NewWeightsInt4 prepares [out, in] signed int4 weights packed two per byte, row-major,
// element 2k in the low nibble of packed[k] and 2k+1 in the high nibble, nibbles in two's
// complement ([-8, 7]; the symmetric scheme uses [-7, 7]). When out*in is odd the last high
// nibble is ignored. packed is copied, not retained. Each kernel path unpacks them once, on
// its first use, into its own layout (SWAR words for the generic path, int8 or int16 blocks
// for the SIMD paths), so batch 1 costs no unpacking.
func NewWeightsInt4(packed []byte, out, in int) (*Weights, error) {
	if err := checkShape(out, in); err != nil {
		return nil, err
	}
	n := (out*in + 1) / 2
	if len(packed) != n {
		return nil, fmt.Errorf("qkernel: NewWeightsInt4: len(packed) = %d, want (out*in+1)/2 = %d", len(packed), n)
	}
	return newPacked(packed, out, in, false), nil
}

// NewWeightsInt2 prepares [out, in] signed 2-bit weights packed four per byte, row-major,
// element 4k+j in bits 2j and 2j+1 of packed[k] (quant.PackInt2's layout). They are handled
// as NewWeightsInt4's (2-bit values are int4 values), unpacked once by each path on its first
// use; results equal NewWeights of the same values
// bit for bit.
func NewWeightsInt2(packed []byte, out, in int) (*Weights, error) {
	if err := checkShape(out, in); err != nil {
		return nil, err
	}
	n := (out*in + 3) / 4
	if len(packed) != n {
		return nil, fmt.Errorf("qkernel: NewWeightsInt2: len(packed) = %d, want (out*in+3)/4 = %d", len(packed), n)
	}
	return newPacked(packed, out, in, true), nil
}

// NewWeightsPacked prepares [out, in] weights stored with packing p (quant.PackingFor's
// choice for their bit width), row-major: data holds p.Len(out*in) bytes in the layout of
// p.Pack. It is NewWeights for quant.PackedInt8 (each byte an int8), NewWeightsInt4 for
// quant.PackedInt4 and NewWeightsInt2 for quant.PackedInt2, with the same results bit for
// bit. data is neither retained nor modified.
func NewWeightsPacked(p quant.Packing, data []byte, out, in int) (*Weights, error) {
	if err := checkShape(out, in); err != nil {
		return nil, err
	}
	if n := p.Len(out * in); n < 0 {
		return nil, fmt.Errorf("qkernel: NewWeightsPacked: invalid packing %v", p)
	} else if len(data) != n {
		return nil, fmt.Errorf("qkernel: NewWeightsPacked: %v: len(data) = %d, want %d for [%d, %d]", p, len(data), n, out, in)
	}
	switch p {
	case quant.PackedInt4:
		return NewWeightsInt4(data, out, in)
	case quant.PackedInt2:
		return NewWeightsInt2(data, out, in)
	}
	w := make([]int8, len(data))
	if err := p.Unpack(w, data); err != nil { // PackedInt8: each byte's bits as an int8
		return nil, fmt.Errorf("qkernel: NewWeightsPacked: %w", err)
	}
	return NewWeights(w, out, in)
}

// newPacked stores a copy of packed int4 (or int2) weights and their column sums; each
// path's run-time layout is built from them on its first use.
func newPacked(packed []byte, out, in int, int2 bool) *Weights {
	wt := &Weights{In: in, Out: out, int4: true, int2: int2, lay: lanes4x16, packed: append([]byte(nil), packed...), colsum: make([]int32, out)}
	for o := 0; o < out; o++ {
		var s int32
		for i := 0; i < in; i++ {
			s += int32(wt.nibble(o*in + i))
		}
		wt.colsum[o] = s
	}
	return wt
}

// nibble returns the k-th packed element (int4, or int2 when w.int2), sign-extended.
func (w *Weights) nibble(k int) int8 {
	if w.int2 {
		b := w.packed[k>>2] >> (2 * (k & 3))
		return int8(b<<6) >> 6
	}
	b := w.packed[k>>1]
	if k&1 == 1 {
		b >>= 4
	}
	return int8(b<<4) >> 4
}

// Bytes returns the size of the stored quantized weights: Out*In for int8, (Out*In+1)/2 for
// int4, (Out*In+3)/4 for int2. (The int8 run-time layout is larger: see ResidentBytes.)
func (w *Weights) Bytes() int {
	if w.int4 {
		return len(w.packed)
	}
	return w.Out * w.In
}

// ResidentBytes returns the bytes of weight data actually held in memory by w, including the
// run-time layouts built so far (each path builds its own on first use).
func (w *Weights) ResidentBytes() int {
	return len(w.packed) + len(w.q8) + 8*len(w.lanes) + len(w.wt) + 4*len(w.colsum) + w.simd.bytes()
}

// At returns the weight W[o, i]. It is meant for tests and debugging, not for kernels.
func (w *Weights) At(o, i int) int8 {
	if o < 0 || o >= w.Out || i < 0 || i >= w.In {
		panic(fmt.Sprintf("qkernel: At(%d, %d) out of range [%d, %d]", o, i, w.Out, w.In))
	}
	if w.int4 {
		return w.nibble(o*w.In + i)
	}
	return w.q8[o*w.In+i]
}

// fillTransposed writes rows [i0, i1) of the transposed int8 layout.
func fillTransposed(wt []int8, at func(o, i int) int8, out, i0, i1 int) {
	for i := i0; i < i1; i++ {
		row := wt[i*out : (i+1)*out]
		for o := range row {
			row[o] = at(o, i)
		}
	}
}

func (w *Weights) checkArgs(name string, dst []int32, src []uint8, batch int, zp []int32) error {
	if batch < 0 {
		return fmt.Errorf("qkernel: %s: negative batch %d", name, batch)
	}
	if batch > 0 && (batch > (1<<31-1)/w.In || batch > (1<<31-1)/w.Out) {
		return fmt.Errorf("qkernel: %s: batch %d too large", name, batch)
	}
	if len(src) != batch*w.In {
		return fmt.Errorf("qkernel: %s: len(src) = %d, want batch*In = %d*%d = %d", name, len(src), batch, w.In, batch*w.In)
	}
	if len(dst) != batch*w.Out {
		return fmt.Errorf("qkernel: %s: len(dst) = %d, want batch*Out = %d*%d = %d", name, len(dst), batch, w.Out, batch*w.Out)
	}
	if len(zp) != 1 && len(zp) != batch {
		return fmt.Errorf("qkernel: %s: len(zp) = %d, want 1 or batch = %d", name, len(zp), batch)
	}
	return nil
}

// AccumulateRef is the naive reference for Accumulate: a triple loop over b, o, i computing
// dst[b*Out+o] = sum_i (int32(src[b*In+i]) - zp_b) * W[o,i] in int32 (wrapping) arithmetic.
// It is kept for tests.
func (w *Weights) AccumulateRef(dst []int32, src []uint8, batch int, zp []int32) error {
	if err := w.checkArgs("AccumulateRef", dst, src, batch, zp); err != nil {
		return err
	}
	for b := 0; b < batch; b++ {
		z := zp[0]
		if len(zp) > 1 {
			z = zp[b]
		}
		for o := 0; o < w.Out; o++ {
			var s int32
			for i := 0; i < w.In; i++ {
				s += (int32(src[b*w.In+i]) - z) * int32(w.At(o, i))
			}
			dst[b*w.Out+o] = s
		}
	}
	return nil
}

// Accumulate computes dst[b*Out+o] = sum_i (int32(src[b*In+i]) - zp_b) * W[o,i] for the
// batch rows b in [0, batch), bit for bit equal to AccumulateRef (int32 wrapping arithmetic).
// src is [batch, In], dst is [batch, Out]; zp holds one zero point for all rows or one per
// row. Rows are spread over workers parts run on tinyq/internal/par's worker pool (workers <= 0
// means runtime.GOMAXPROCS(0)); the result does not depend on workers.
func (w *Weights) Accumulate(dst []int32, src []uint8, batch int, zp []int32, workers int) error {
	if err := w.checkArgs("Accumulate", dst, src, batch, zp); err != nil {
		return err
	}
	if batch == 0 {
		return nil
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, batch)
	if w.accumulateFast(dst, src, batch, zp, workers) {
		return nil
	}

	lanes, wt := w.swar()
	if workers <= 1 {
		w.accumulateRange(dst, src, 0, batch, zp, lanes, wt)
		return nil
	}
	j := getJob(w, dst, src, batch, workers, genericRange)
	j.zp, j.lanes, j.wt = zp, lanes, wt
	j.do(batch)
	return nil
}

// genericRange is a splitJob's work on the generic path: batch rows [b0, b1).
func genericRange(j *splitJob, b0, b1 int) {
	j.w.accumulateRange(j.dst, j.src, b0, b1, j.zp, j.lanes, j.wt)
}

// accumulateRange runs the generic kernel on batch rows [b0, b1).
func (w *Weights) accumulateRange(dst []int32, src []uint8, b0, b1 int, zp []int32, lanes []uint64, wt []int8) {
	if w.lay.perWord > 0 {
		accumulateSWAR(w.lay, dst, src, b0, b1, zp, lanes, w.colsum, w.In, w.Out)
	} else {
		accumulateTransposed(dst, src, b0, b1, zp, wt, w.colsum, w.In, w.Out)
	}
}

// splitJob is the arguments of one parallel Accumulate, pooled with its part method bound
// once, so that spreading a product over tinyq/internal/par's workers allocates nothing (a
// closure handed to par.Do escapes to the heap): batch 1 can use every core without
// garbage.
type splitJob struct {
	w       *Weights
	run     func(j *splitJob, u0, u1 int) // the path's work on units [u0, u1): a function, not a closure
	dst     []int32
	src     []uint8
	batch   int
	units   int     // rows or tiles split over the workers
	workers int     // parts
	simd    simdJob // the SIMD paths' arguments (none in builds without them)
	zp      []int32
	lanes   []uint64
	wt      []int8
	part    func(k int) // j.partK, bound once when the job is made
}

var jobs = sync.Pool{New: func() any {
	j := &splitJob{}
	j.part = j.partK
	return j
}}

// getJob returns a pooled job for w's product dst = src·wᵀ of batch rows, run by run.
func getJob(w *Weights, dst []int32, src []uint8, batch, workers int, run func(*splitJob, int, int)) *splitJob {
	j := jobs.Get().(*splitJob)
	j.w, j.dst, j.src, j.batch, j.workers, j.run = w, dst, src, batch, workers, run
	return j
}

// do runs units [0, units) split into j.workers contiguous chunks, [k·units/workers,
// (k+1)·units/workers), on tinyq/internal/par's worker pool (the calling goroutine and warm
// workers shared with the float kernels; a goroutine started per chunk can begin 60-200 µs
// late on a small virtual machine), then returns the job to the pool. Each chunk's values do
// not depend on the others, so neither the split nor the goroutine that runs a chunk changes
// a result.
func (j *splitJob) do(units int) {
	j.runParts(units)
	j.release()
}

// runParts runs units [0, units) as do does, keeping the job.
func (j *splitJob) runParts(units int) {
	j.units = units
	par.Do(j.workers, j.part)
}

// release returns the job to the pool.
func (j *splitJob) release() {
	j.w, j.run, j.dst, j.src, j.zp, j.lanes, j.wt, j.simd = nil, nil, nil, nil, nil, nil, nil, simdJob{} // drop the references to the caller's data
	jobs.Put(j)
}

// partK runs chunk k of the job.
func (j *splitJob) partK(k int) {
	j.run(j, k*j.units/j.workers, (k+1)*j.units/j.workers)
}
