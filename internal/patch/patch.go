// Package patch is the data movement of convolution and max pooling over NHWC images
// ([n, H, W, C], row-major): im2col, which lays each output pixel's window out as one row
// of a matrix so that a convolution becomes a matrix product (tinyq/gemm for floats,
// tinyq/qkernel for integers), its adjoint col2im, and max pooling with its gradient. It
// moves and compares values and never rounds, so every function is exact.
//
// The geometry of every window is an arch.Window (the one OutH/OutW rule). A patch is
// ordered (ky, kx, c): the Kernel·Kernel·C values of the window, rows of the window first,
// then columns, then channels, the order of the float weights [KH, KW, C, Out] and of the
// integer weights [Out, KH, KW, C].
//
// # Invariants
//
//   - Inputs are only read; outputs go to dst (or dx).
//   - Sizes are the callers' to validate: a malformed window or a slice of the wrong length
//     panics with a message starting "patch:", as tinyq/gemm does.
package patch

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"tinyq/arch"
)

// check panics unless w is well formed, n is non-negative and each named slice has its
// expected length.
func check(fn string, n int, w arch.Window, lens ...any) {
	if err := w.Check(); err != nil {
		panic(fmt.Sprintf("patch: %s: %v", fn, err))
	}
	if n < 0 {
		panic(fmt.Sprintf("patch: %s: n = %d images", fn, n))
	}
	for i := 0; i+2 < len(lens); i += 3 {
		name, got, want := lens[i].(string), lens[i+1].(int), lens[i+2].(int)
		if got != want {
			panic(fmt.Sprintf("patch: %s: len(%s) = %d, want %d for %d images of window %+v", fn, name, got, want, n, w))
		}
	}
}

// Im2col lays the windows of n NHWC images out as rows: src is [n, H, W, C] (w.H, w.W,
// w.C), dst is [n·w.OutPixels(), w.PatchLen()], row b·OutPixels + oy·OutW + ox holding the
// window of output pixel (oy, ox) of image b in the order (ky, kx, c). The value at
// (ky, kx, c) is src[b, oy·Stride-Pad+ky, ox·Stride-Pad+kx, c], or pad where that pixel
// lies outside the image (0 for floats; the input's zero point for uint8 activations, the
// value that represents 0.0). Every element of dst is written.
func Im2col[T float32 | uint8](dst, src []T, n int, w arch.Window, pad T) {
	check("Im2col", n, w, "src", len(src), n*w.InLen(), "dst", len(dst), n*w.OutPixels()*w.PatchLen())
	if im2colPadded(dst, src, n, w, pad) {
		return
	}
	outH, outW, k, c := w.OutH(), w.OutW(), w.Kernel, w.C
	plen, rowLen := w.PatchLen(), k*c
	zero := zeroBits(pad)
	d := 0
	for b := 0; b < n; b++ {
		img := src[b*w.InLen() : (b+1)*w.InLen()]
		for oy := 0; oy < outH; oy++ {
			y0 := oy*w.Stride - w.Pad
			for ox := 0; ox < outW; ox++ {
				x0 := ox*w.Stride - w.Pad
				// Columns kx in [kx0, kx1) lie inside the image: one contiguous run per row.
				kx0, kx1 := max(0, -x0), min(k, w.W-x0)
				row := dst[d : d+plen]
				if kx0 == 0 && kx1 == k && y0 >= 0 && y0+k <= w.H {
					// The window lies inside the image: k runs of k·c values.
					s := (y0*w.W + x0) * c
					for ky := 0; ky < k; ky++ {
						copy(row[ky*rowLen:(ky+1)*rowLen], img[s:s+rowLen])
						s += w.W * c
					}
					d += plen
					continue
				}
				for ky := 0; ky < k; ky++ {
					r := row[ky*rowLen : (ky+1)*rowLen]
					y := y0 + ky
					if y < 0 || y >= w.H || kx0 >= kx1 {
						padFill(r, pad, zero)
						continue
					}
					padFill(r[:kx0*c], pad, zero)
					s := (y*w.W + x0 + kx0) * c
					copy(r[kx0*c:kx1*c], img[s:s+(kx1-kx0)*c])
					padFill(r[kx1*c:], pad, zero)
				}
				d += plen
			}
		}
	}
}

// paddedMax is the most values of a padded image im2colPadded handles, on the stack (32 KB
// of float32s): the CNN's first convolution pads 28×28×1 to 32×32×1 = 1024, its second
// 14×14×16 to 18×18×16 = 5184.
const paddedMax = 8192

// im2colPadded is Im2col for images whose padded copy fits paddedMax values, where the
// padding's branches and a memmove call per row of a window cost more than the values
// (the CNN's convolutions: rows of 5 values, or of 5·16). The image is first copied into a
// padded image on the stack, so that every window row is a run of the padded image, moved
// without a branch: by the assembly copier copyRuns (one call per output row of windows)
// where there is one (but for the last row of windows of short rows); else rows of 8 to 64 bytes as 8-byte words
// (moveWords), longer ones by copy; shorter rows as one unaligned 8-byte load and store,
// whose bytes past the row are overwritten by the writes that follow (every element of dst
// is written, in increasing order; the last rows of dst are copied value by value). It
// reports false, doing nothing, for larger images.
func im2colPadded[T float32 | uint8](dst, src []T, n int, w arch.Window, pad T) bool {
	pw, ph := w.W+2*w.Pad, w.H+2*w.Pad
	c, k := w.C, w.Kernel
	rowLen, prow := k*c, pw*c
	if ph*prow > paddedMax || n == 0 {
		return false
	}
	var buf [paddedMax + 8]T // + 8: the last 8-byte load may read past the padded image
	padded := buf[:ph*prow]
	size := int(unsafe.Sizeof(pad))
	rowBytes, prowBytes := rowLen*size, prow*size
	outH, outW, plen := w.OutH(), w.OutW(), w.PatchLen()
	stepBytes, strideBytes := w.Stride*c*size, w.Stride*prowBytes
	bp := unsafe.Pointer(&buf[0])
	runs := copyRuns
	// Rows of 8 bytes and more stay inside their row; shorter rows store 8 bytes, so only
	// the pixels whose last store ends inside dst take the one-store path.
	safe := len(dst)
	if rowBytes < 8 {
		safe = len(dst) - 8
	}
	d := 0 // values of dst written
	for b := 0; b < n; b++ {
		padFill(padded, pad, zeroBits(pad))
		img := src[b*w.InLen() : (b+1)*w.InLen()]
		for y := 0; y < w.H; y++ {
			copy(padded[((y+w.Pad)*pw+w.Pad)*c:], img[y*w.W*c:(y+1)*w.W*c])
		}
		for oy := 0; oy < outH; oy++ {
			sy := unsafe.Add(bp, oy*strideBytes)
			if runs && (rowBytes >= 8 || d+outW*plen+8 <= len(dst)) {
				_ = dst[d+outW*plen-1] // the row of windows lies inside dst (with room for
				// the 8-byte stores of short rows)
				copyRunsCall(unsafe.Pointer(&dst[d]), sy, outW, k, rowBytes, prowBytes, stepBytes)
				d += outW * plen
				continue
			}
			for ox := 0; ox < outW; ox++ {
				sp := unsafe.Add(sy, ox*stepBytes)
				if d+plen > safe || rowBytes > 64 {
					// The last pixels, inside dst; long rows by memmove.
					for ky := 0; ky < k; ky++ {
						s := (oy*w.Stride+ky)*prow + ox*w.Stride*c
						copy(dst[d:d+rowLen], buf[s:s+rowLen])
						d += rowLen
					}
					continue
				}
				dp := unsafe.Pointer(&dst[d])
				if rowBytes >= 8 {
					for ky := 0; ky < k; ky++ {
						moveWords(unsafe.Add(dp, ky*rowBytes), unsafe.Add(sp, ky*prowBytes), rowBytes)
					}
				} else {
					for ky := 0; ky < k; ky++ {
						*(*uint64)(unsafe.Add(dp, ky*rowBytes)) = *(*uint64)(unsafe.Add(sp, ky*prowBytes))
					}
				}
				d += plen
			}
		}
	}
	return true
}

// moveWords copies n >= 8 bytes from src to dst (which do not overlap) as 8-byte words,
// the last one ending at byte n (overlapping its predecessor when n is not a multiple
// of 8): inlined, it beats a memmove call for rows of a few words.
func moveWords(dst, src unsafe.Pointer, n int) {
	i := 0
	for ; i+8 < n; i += 8 {
		*(*uint64)(unsafe.Add(dst, i)) = *(*uint64)(unsafe.Add(src, i))
	}
	*(*uint64)(unsafe.Add(dst, n-8)) = *(*uint64)(unsafe.Add(src, n-8))
}

// padFill sets every element of s to v; zero reports that v's bits are all zero (+0.0 or
// 0), so that a memclr does it.
func padFill[T float32 | uint8](s []T, v T, zero bool) {
	if zero {
		clear(s)
		return
	}
	if len(s) < 16 {
		for i := range s {
			s[i] = v
		}
		return
	}
	s[0] = v
	for i := 1; i < len(s); i *= 2 {
		copy(s[i:], s[:i]) // doubling: log2(len) memmoves
	}
}

// zeroBits reports whether v's bits are all zero (not -0.0).
func zeroBits[T float32 | uint8](v T) bool {
	switch x := any(v).(type) {
	case float32:
		return math.Float32bits(x) == 0
	case uint8:
		return x == 0
	}
	return false
}

// Col2im is the adjoint of Im2col (for floats, pad 0): it adds each element of cols
// ([n·w.OutPixels(), w.PatchLen()]) to the input pixel it was copied from, dst
// ([n, H, W, C]) += scatter(cols); elements that came from the padding are dropped. It is
// the input gradient of a convolution given the gradient of its patch matrix. The sums run
// over the rows of cols in order (row 0 first), then (ky, kx, c) within a row, so the
// result is reproducible bit for bit; each window row's run is added 8 values at a time
// (AVX2) where the CPU and build allow, the same sums (its scalar loop was 12% of a CNN
// training step).
func Col2im(dst, cols []float32, n int, w arch.Window) {
	check("Col2im", n, w, "dst", len(dst), n*w.InLen(), "cols", len(cols), n*w.OutPixels()*w.PatchLen())
	outH, outW, k, c := w.OutH(), w.OutW(), w.Kernel, w.C
	plen, rowLen := w.PatchLen(), k*c
	d := 0
	for b := 0; b < n; b++ {
		img := dst[b*w.InLen() : (b+1)*w.InLen()]
		for oy := 0; oy < outH; oy++ {
			y0 := oy*w.Stride - w.Pad
			for ox := 0; ox < outW; ox++ {
				x0 := ox*w.Stride - w.Pad
				kx0, kx1 := max(0, -x0), min(k, w.W-x0)
				ky0, ky1 := max(0, -y0), min(k, w.H-y0)
				if ky0 < ky1 && kx0 < kx1 {
					// The window rows inside the image, one run of (kx1-kx0)·c values each:
					// 8 values at a time on AVX2, the same sums bit for bit.
					s := ((y0+ky0)*w.W + x0 + kx0) * c
					addRuns(img[s:], cols[d+ky0*rowLen+kx0*c:d+plen], ky1-ky0, (kx1-kx0)*c, w.W*c, rowLen)
				}
				d += plen
			}
		}
	}
}

// MaxPool takes the maximum of each channel over each window: src is [n, H, W, C], dst is
// [n, OutH, OutW, C]. Window taps outside the image (w.Pad > 0) are skipped, as if the
// padding were -∞ (PyTorch's MaxPool2d); every window holds at least one pixel of the
// image since Pad < Kernel. The first maximum in (ky, kx) order wins ties (so of -0 and +0
// the first one seen); a NaN wins over every number, the first NaN over later ones (PyTorch
// propagates NaN through max pooling). If arg is not nil (len(dst)), arg[i] receives the
// offset of dst[i]'s source within its image, (y·W + x)·C + c, for MaxPoolGrad; for float32
// values that is MaxPoolArg's branch-free loop.
//
// Without offsets, on amd64 (unless TINYQ_KERNEL picks the generic paths, or with the
// purego tag), channels in multiples of 8 float32s or 16 bytes go through AVX2 kernels
// (pool_amd64.s) that apply the same rule with vector compares and blends: equal bit for
// bit (tested), and measured 27× (float32) and 16× (uint8) faster on the CNN's first
// pooling, whose per-value branches were mispredicted.
func MaxPool[T float32 | uint8](dst []T, arg []int32, src []T, n int, w arch.Window) {
	check("MaxPool", n, w, "src", len(src), n*w.InLen(), "dst", len(dst), n*w.OutPixels()*w.C)
	if arg != nil && len(arg) != len(dst) {
		panic(fmt.Sprintf("patch: MaxPool: len(arg) = %d, want len(dst) = %d", len(arg), len(dst)))
	}
	if f, ok := any(dst).([]float32); ok && arg != nil { // float32 with offsets: the training forward
		MaxPoolArg(f, arg, any(src).([]float32), n, w)
		return
	}
	if int64(w.InLen()) > 1<<31-1 {
		panic(fmt.Sprintf("patch: MaxPool: image of %d values: offsets overflow int32", w.InLen()))
	}
	if arg == nil && n > 0 {
		switch d := any(dst).(type) {
		case []uint8:
			if poolU8 != nil && w.C%poolLanesU8 == 0 {
				maxPoolVec(unsafe.Pointer(&d[0]), unsafe.Pointer(&any(src).([]uint8)[0]), 1, n, w, poolU8)
			} else {
				maxPoolBytes(d, any(src).([]uint8), n, w)
			}
			return
		case []float32:
			if poolF32Wide != nil && w.C%poolLanesF32Wide == 0 {
				maxPoolVec(unsafe.Pointer(&d[0]), unsafe.Pointer(&any(src).([]float32)[0]), 4, n, w, poolF32Wide)
				return
			}
			if poolF32 != nil && w.C%poolLanesF32 == 0 {
				maxPoolVec(unsafe.Pointer(&d[0]), unsafe.Pointer(&any(src).([]float32)[0]), 4, n, w, poolF32)
				return
			}
		}
	}
	outH, outW, k, c := w.OutH(), w.OutW(), w.Kernel, w.C
	d := 0
	for b := 0; b < n; b++ {
		img := src[b*w.InLen() : (b+1)*w.InLen()]
		for oy := 0; oy < outH; oy++ {
			y0 := oy*w.Stride - w.Pad
			ky0, ky1 := max(0, -y0), min(k, w.H-y0)
			for ox := 0; ox < outW; ox++ {
				x0 := ox*w.Stride - w.Pad
				kx0, kx1 := max(0, -x0), min(k, w.W-x0)
				out := dst[d : d+c]
				first := ((y0+ky0)*w.W + x0 + kx0) * c
				copy(out, img[first:first+c])
				if arg != nil {
					a := arg[d : d+c]
					for ch := range a {
						a[ch] = int32(first + ch)
					}
					for ky := ky0; ky < ky1; ky++ {
						for kx := kx0; kx < kx1; kx++ {
							s := ((y0+ky)*w.W + x0 + kx) * c
							for ch, v := range img[s : s+c] {
								if m := out[ch]; v > m || (v != v && m == m) {
									out[ch], a[ch] = v, int32(s+ch)
								}
							}
						}
					}
				} else {
					for ky := ky0; ky < ky1; ky++ {
						for kx := kx0; kx < kx1; kx++ {
							s := ((y0+ky)*w.W + x0 + kx) * c
							for ch, v := range img[s : s+c] {
								if m := out[ch]; v > m || (v != v && m == m) {
									out[ch] = v
								}
							}
						}
					}
				}
				d += c
			}
		}
	}
}

// maxPoolBytes is MaxPool for uint8 values without offsets (the integer runtime's): with
// no NaN and no signed zero, the maximum is all there is to it, a branch-free max per
// channel.
func maxPoolBytes(dst, src []uint8, n int, w arch.Window) {
	outH, outW, k, c := w.OutH(), w.OutW(), w.Kernel, w.C
	d := 0
	for b := 0; b < n; b++ {
		img := src[b*w.InLen() : (b+1)*w.InLen()]
		for oy := 0; oy < outH; oy++ {
			y0 := oy*w.Stride - w.Pad
			ky0, ky1 := max(0, -y0), min(k, w.H-y0)
			for ox := 0; ox < outW; ox++ {
				x0 := ox*w.Stride - w.Pad
				kx0, kx1 := max(0, -x0), min(k, w.W-x0)
				out := dst[d : d+c]
				first := ((y0+ky0)*w.W + x0 + kx0) * c
				copy(out, img[first:first+c])
				for ky := ky0; ky < ky1; ky++ {
					s := ((y0+ky)*w.W + x0 + kx0) * c
					for kx := kx0; kx < kx1; kx++ {
						in := img[s : s+c]
						in = in[:len(out)]
						i := 0
						for ; i+8 <= len(in); i += 8 {
							m := maxBytes(binary.LittleEndian.Uint64(out[i:]), binary.LittleEndian.Uint64(in[i:]))
							binary.LittleEndian.PutUint64(out[i:], m)
						}
						for ; i < len(in); i++ {
							out[i] = max(out[i], in[i])
						}
						s += c
					}
				}
				d += c
			}
		}
	}
}

// maxBytes returns the bytewise maximum of a and b, 8 unsigned bytes at a time without
// branches (SWAR): in each byte, a >= b if a's top bit is set and b's is not, or if the top
// bits are equal and a's low 7 bits are >= b's, which is the top bit of
// (a | 0x80) - (b & 0x7f), a subtraction that cannot borrow from the byte above.
func maxBytes(a, b uint64) uint64 {
	const hi = 0x8080808080808080
	low := ((a | hi) - (b &^ hi)) & hi // a's low 7 bits >= b's
	ah, bh := a&hi, b&hi
	ge := (ah &^ bh) | (^(ah ^ bh) & low) // a >= b, in each byte's top bit
	mask := (ge >> 7) * 0xff              // 0xff in the bytes where a >= b
	return a&mask | b&^mask
}

// MaxPoolGrad routes the gradient of a max pooling back to the maxima: for each element i
// of dy ([n, OutH, OutW, C]), dx[b, arg[i]] += dy[i], where b is i's image and arg the
// offsets MaxPool recorded; dx is [n, H, W, C]. The sums run over dy in order.
func MaxPoolGrad(dx, dy []float32, arg []int32, n int, w arch.Window) {
	per := w.OutPixels() * w.C
	check("MaxPoolGrad", n, w, "dx", len(dx), n*w.InLen(), "dy", len(dy), n*per, "arg", len(arg), n*per)
	in := w.InLen()
	for b := 0; b < n; b++ {
		img := dx[b*in : (b+1)*in]
		for i, g := range dy[b*per : (b+1)*per] {
			a := arg[b*per+i]
			if a < 0 || int(a) >= in {
				panic(fmt.Sprintf("patch: MaxPoolGrad: arg[%d] = %d outside the image of %d values", b*per+i, a, in))
			}
			img[a] += g
		}
	}
}
