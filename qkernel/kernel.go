package qkernel

// The kernels use the outer-product (axpy) formulation with zero skipping: for one sample,
// acc[0:Out] += a_i * Wt[i][0:Out] over the inputs i whose stored value a_i is nonzero
// (zero inputs contribute nothing), then dst = acc - zp*colsum, which is exact for any zero
// point because sum_i (a_i - zp)*W[o,i] = sum_{a_i != 0} a_i*W[o,i] - zp*colsum[o] in
// int32 (mod 2^32) arithmetic.

// gather writes the offsets i*stride and values of the nonzero entries of row into idx and
// val and returns how many there are, and their sum. It is branch-free inside 8-byte words
// (pixel patterns are hard to predict) and skips all-zero words.
func gather(row []uint8, stride int, idx []int, val []uint64) (n int, sum uint64) {
	idx = idx[:len(row)]
	val = val[:len(row)]
	i := 0
	for ; i+8 <= len(row); i += 8 {
		r := row[i : i+8 : i+8]
		if r[0]|r[1]|r[2]|r[3]|r[4]|r[5]|r[6]|r[7] == 0 {
			continue
		}
		for k, a := range r {
			idx[n] = (i + k) * stride
			val[n] = uint64(a)
			sum += uint64(a)
			n += int((uint32(a) + 255) >> 8) // 1 if a != 0
		}
	}
	for ; i < len(row); i++ {
		a := row[i]
		idx[n] = i * stride
		val[n] = uint64(a)
		sum += uint64(a)
		n += int((uint32(a) + 255) >> 8)
	}
	return n, sum
}

// accumulateLanes runs rows [b0, b1) on the two-lane layout (see Weights.lanes): each uint64
// holds two 32-bit lanes of offset weights w+128 in [0, 255], so one 64-bit multiply-add does
// two multiply-accumulates. Lanes never carry into each other because In <= swarMaxIn.
func accumulateLanes(dst []int32, src []uint8, b0, b1 int, zp []int32, lanes []uint64, colsum []int32, in, out int) {
	half := (out + 1) / 2
	acc := make([]uint64, half)
	idx := make([]int, in)
	val := make([]uint64, in)
	colsum = colsum[:out]
	for b := b0; b < b1; b++ {
		n, sum := gather(src[b*in:(b+1)*in], half, idx, val)
		lanesSample(acc, lanes, idx[:n], val[:n])

		z := zp[0]
		if len(zp) > 1 {
			z = zp[b]
		}
		corr := uint32(sum) * swarBias // subtract the 128*sum a of the offset weights
		d := dst[b*out : (b+1)*out]
		o := 0
		for _, x := range acc[:out/2] {
			d[o] = int32(uint32(x)-corr) - z*colsum[o]
			d[o+1] = int32(uint32(x>>32)-corr) - z*colsum[o+1]
			o += 2
		}
		if out%2 == 1 {
			d[o] = int32(uint32(acc[half-1])-corr) - z*colsum[o]
		}
	}
}

// lanesSample sets acc = sum_k val[k] * lanes[idx[k] : idx[k]+len(acc)], four rows at a time
// so that acc is loaded and stored once per four multiply-adds.
func lanesSample(acc, lanes []uint64, idx []int, val []uint64) {
	clear(acc)
	n := len(acc)
	k := 0
	for ; k+4 <= len(idx); k += 4 {
		r0 := lanes[idx[k]:][:n]
		r1 := lanes[idx[k+1]:][:n]
		r2 := lanes[idx[k+2]:][:n]
		r3 := lanes[idx[k+3]:][:n]
		a0, a1, a2, a3 := val[k], val[k+1], val[k+2], val[k+3]
		for j := range acc {
			acc[j] += a0*r0[j] + a1*r1[j] + a2*r2[j] + a3*r3[j]
		}
	}
	for ; k < len(idx); k++ {
		r := lanes[idx[k]:][:n]
		a := val[k]
		for j := range acc {
			acc[j] += a * r[j]
		}
	}
}

// accumulateTransposed runs rows [b0, b1) on the transposed int8 layout with int32
// accumulators: the fallback for In > swarMaxIn.
func accumulateTransposed(dst []int32, src []uint8, b0, b1 int, zp []int32, wt []int8, colsum []int32, in, out int) {
	acc := make([]int32, out)
	idx := make([]int, in)
	val := make([]uint64, in)
	colsum = colsum[:out]
	for b := b0; b < b1; b++ {
		n, _ := gather(src[b*in:(b+1)*in], out, idx, val)
		clear(acc)
		for k := range n {
			r := wt[idx[k]:][:len(acc)]
			a := int32(val[k])
			for o := range acc {
				acc[o] += a * int32(r[o])
			}
		}
		z := zp[0]
		if len(zp) > 1 {
			z = zp[b]
		}
		d := dst[b*out : (b+1)*out]
		for o, s := range acc {
			d[o] = s - z*colsum[o]
		}
	}
}
