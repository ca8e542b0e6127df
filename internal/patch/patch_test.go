package patch

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"tinyq/arch"
)

// randomWindows returns well-formed windows of random sizes, strides and paddings (and
// the CNN's two convolutions and poolings).
func randomWindows(r *rand.Rand, count int) []arch.Window {
	ws := []arch.Window{
		{H: 28, W: 28, C: 1, Kernel: 5, Stride: 1, Pad: 2},
		{H: 14, W: 14, C: 16, Kernel: 5, Stride: 1, Pad: 2},
		{H: 28, W: 28, C: 16, Kernel: 2, Stride: 2},
		{H: 1, W: 1, C: 3, Kernel: 3, Stride: 2, Pad: 2},
		{H: 5, W: 4, C: 2, Kernel: 4, Stride: 3, Pad: 3},
		{H: 40, W: 37, C: 8, Kernel: 3, Stride: 2, Pad: 1}, // beyond paddedMax: the general path
		{H: 90, W: 90, C: 1, Kernel: 5, Stride: 1, Pad: 2}, // the same with rows of 5 values
	}
	for len(ws) < count {
		if len(ws)%4 == 0 { // rows of 16 to 64 float32s or bytes
			w := arch.Window{H: 1 + r.IntN(9), W: 1 + r.IntN(9), C: 4 + r.IntN(13), Kernel: 4, Stride: 1 + r.IntN(2), Pad: r.IntN(4)}
			if w.Check() == nil {
				ws = append(ws, w)
			}
			continue
		}
		k := 1 + r.IntN(5)
		w := arch.Window{H: 1 + r.IntN(9), W: 1 + r.IntN(9), C: 1 + r.IntN(6), Kernel: k, Stride: 1 + r.IntN(3), Pad: r.IntN(k)}
		if w.Check() == nil {
			ws = append(ws, w)
		}
	}
	return ws
}

// at returns src[b, y, x, c] of an NHWC batch, or pad outside the image.
func at[T float32 | uint8](src []T, w arch.Window, b, y, x, c int, pad T) (T, bool) {
	if y < 0 || y >= w.H || x < 0 || x >= w.W {
		return pad, false
	}
	return src[((b*w.H+y)*w.W+x)*w.C+c], true
}

// TestIm2col checks Im2col against the definition, with the assembly row copier (where
// this build and process have one) and with the pure-Go moves.
func TestIm2col(t *testing.T) {
	saved := copyRuns
	defer func() { copyRuns = saved }()
	for _, copyRuns = range []bool{saved, false} {
		testIm2col(t)
	}
}

func testIm2col(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, w := range randomWindows(r, 60) {
		n := 1 + r.IntN(3)
		src := make([]float32, n*w.InLen())
		for i := range src {
			src[i] = r.Float32()*2 - 1
		}
		srcU := make([]uint8, len(src))
		for i := range srcU {
			srcU[i] = uint8(r.IntN(256))
		}
		rows, plen := n*w.OutPixels(), w.PatchLen()
		// 32 guard values past dst must stay untouched.
		dst := make([]float32, rows*plen+32)
		dstU := make([]uint8, rows*plen+32)
		for i := range dst {
			dst[i], dstU[i] = float32(math.NaN()), 77 // every element must be written
		}
		Im2col(dst[:rows*plen], src, n, w, 0)
		Im2col(dstU[:rows*plen], srcU, n, w, 201)
		for i := rows * plen; i < len(dst); i++ {
			if dst[i] == dst[i] || dstU[i] != 77 {
				t.Fatalf("%+v n=%d: Im2col wrote %v/%d past dst at %d", w, n, dst[i], dstU[i], i)
			}
		}
		for b := 0; b < n; b++ {
			for oy := 0; oy < w.OutH(); oy++ {
				for ox := 0; ox < w.OutW(); ox++ {
					row := (b*w.OutH()+oy)*w.OutW() + ox
					for ky := 0; ky < w.Kernel; ky++ {
						for kx := 0; kx < w.Kernel; kx++ {
							for c := 0; c < w.C; c++ {
								y, x := oy*w.Stride-w.Pad+ky, ox*w.Stride-w.Pad+kx
								i := row*plen + (ky*w.Kernel+kx)*w.C + c
								want, _ := at(src, w, b, y, x, c, 0)
								wantU, _ := at(srcU, w, b, y, x, c, 201)
								if math.Float32bits(dst[i]) != math.Float32bits(want) || dstU[i] != wantU {
									t.Fatalf("%+v n=%d: row %d tap (%d,%d,%d): got %v/%d, want %v/%d", w, n, row, ky, kx, c, dst[i], dstU[i], want, wantU)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestCol2imAdjoint checks Col2im against the direct scatter and the adjoint identity
// <Im2col(x), y> = <x, Col2im(y)> on integer-valued data (exact in float32).
func TestCol2imAdjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, w := range randomWindows(r, 60) {
		n := 1 + r.IntN(3)
		rows, plen := n*w.OutPixels(), w.PatchLen()
		cols := make([]float32, rows*plen)
		for i := range cols {
			cols[i] = float32(r.IntN(19) - 9)
		}
		base := make([]float32, n*w.InLen())
		for i := range base {
			base[i] = float32(r.IntN(7) - 3)
		}
		got := append([]float32(nil), base...)
		Col2im(got, cols, n, w)
		want := append([]float32(nil), base...)
		for row := 0; row < rows; row++ {
			b, p := row/w.OutPixels(), row%w.OutPixels()
			oy, ox := p/w.OutW(), p%w.OutW()
			for ky := 0; ky < w.Kernel; ky++ {
				for kx := 0; kx < w.Kernel; kx++ {
					y, x := oy*w.Stride-w.Pad+ky, ox*w.Stride-w.Pad+kx
					if y < 0 || y >= w.H || x < 0 || x >= w.W {
						continue
					}
					for c := 0; c < w.C; c++ {
						want[((b*w.H+y)*w.W+x)*w.C+c] += cols[row*plen+(ky*w.Kernel+kx)*w.C+c]
					}
				}
			}
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%+v n=%d: dst[%d] = %v, want %v", w, n, i, got[i], want[i])
			}
		}
		// Adjoint identity with the base removed.
		x := make([]float32, len(base))
		for i := range x {
			x[i] = float32(r.IntN(7) - 3)
		}
		ix := make([]float32, len(cols))
		Im2col(ix, x, n, w, 0)
		cx := make([]float32, len(x))
		Col2im(cx, cols, n, w)
		var l, rr float64
		for i := range ix {
			l += float64(ix[i]) * float64(cols[i])
		}
		for i := range x {
			rr += float64(x[i]) * float64(cx[i])
		}
		if l != rr {
			t.Fatalf("%+v: <Im2col x, y> = %v, <x, Col2im y> = %v", w, l, rr)
		}
	}
}

// naiveMaxPool is the direct definition: for every output, scan the window's in-image
// taps in (ky, kx) order; a tap replaces the running maximum if it is greater, or if it is
// the first NaN.
func naiveMaxPool(src []float32, n int, w arch.Window) ([]float32, []int32) {
	var dst []float32
	var arg []int32
	for b := 0; b < n; b++ {
		for oy := 0; oy < w.OutH(); oy++ {
			for ox := 0; ox < w.OutW(); ox++ {
				for c := 0; c < w.C; c++ {
					best, bi, seen := float32(0), int32(-1), false
					for ky := 0; ky < w.Kernel; ky++ {
						for kx := 0; kx < w.Kernel; kx++ {
							y, x := oy*w.Stride-w.Pad+ky, ox*w.Stride-w.Pad+kx
							v, ok := at(src, w, b, y, x, c, 0)
							if !ok {
								continue
							}
							nan := v != v
							if !seen || (!(best != best) && (nan || v > best)) {
								best, bi, seen = v, int32((y*w.W+x)*w.C+c), true
							}
						}
					}
					dst = append(dst, best)
					arg = append(arg, bi)
				}
			}
		}
	}
	return dst, arg
}

func TestMaxPool(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, w := range randomWindows(r, 80) {
		n := 1 + r.IntN(3)
		src := make([]float32, n*w.InLen())
		for i := range src {
			// Few distinct values make ties common; some NaNs and signed zeros.
			switch v := r.IntN(40); {
			case v == 0:
				src[i] = float32(math.NaN())
			case v == 1:
				src[i] = float32(math.Copysign(0, -1))
			default:
				src[i] = float32(v%5 - 2)
			}
		}
		want, wantArg := naiveMaxPool(src, n, w)
		got := make([]float32, len(want))
		arg := make([]int32, len(want))
		MaxPool(got, arg, src, n, w)
		got2 := make([]float32, len(want))
		MaxPool(got2, nil, src, n, w)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) || arg[i] != wantArg[i] || math.Float32bits(got2[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%+v n=%d: out %d = %v (arg %d, no-arg %v), want %v (arg %d)", w, n, i, got[i], arg[i], got2[i], want[i], wantArg[i])
			}
		}
		// uint8 through the same comparison: the image of the float maxima under a
		// monotonic map (v+2)*50 equals the maxima of the uint8 images (no NaN here).
		srcU := make([]uint8, len(src))
		for i, v := range src {
			if v != v {
				v = 2
			}
			srcU[i] = uint8((v + 2) * 50)
		}
		gotU := make([]uint8, len(want))
		argU := make([]int32, len(want))
		MaxPool(gotU, argU, srcU, n, w)
		noArg := make([]uint8, len(want))
		MaxPool(noArg, nil, srcU, n, w) // the branch-free path
		for i := range gotU {
			b := i / (w.OutPixels() * w.C)
			if gotU[i] != srcU[b*w.InLen()+int(argU[i])] || noArg[i] != gotU[i] {
				t.Fatalf("%+v: uint8 out %d = %d (without arg %d), its arg %d holds %d", w, i, gotU[i], noArg[i], argU[i], srcU[b*w.InLen()+int(argU[i])])
			}
			if v := want[i]; v == v && uint8((v+2)*50) != gotU[i] && !(v == 2 && gotU[i] == 200) {
				t.Fatalf("%+v: uint8 out %d = %d, want the image of %v", w, i, gotU[i], v)
			}
		}
		// The gradient: dx = scatter of dy by arg.
		dy := make([]float32, len(want))
		for i := range dy {
			dy[i] = float32(r.IntN(9) - 4)
		}
		dx := make([]float32, len(src))
		dx[0] = 5
		MaxPoolGrad(dx, dy, arg, n, w)
		wantDx := make([]float32, len(src))
		wantDx[0] = 5
		per := w.OutPixels() * w.C
		for i, g := range dy {
			wantDx[i/per*w.InLen()+int(wantArg[i])] += g
		}
		for i := range dx {
			if dx[i] != wantDx[i] {
				t.Fatalf("%+v: dx[%d] = %v, want %v", w, i, dx[i], wantDx[i])
			}
		}
	}
}

func TestBadSizesPanic(t *testing.T) {
	w := arch.Window{H: 4, W: 4, C: 2, Kernel: 3, Stride: 1, Pad: 1}
	for name, f := range map[string]func(){
		"Im2col dst":  func() { Im2col(make([]float32, 10), make([]float32, 32), 1, w, 0) },
		"Im2col src":  func() { Im2col(make([]uint8, 16*18), make([]uint8, 31), 1, w, 0) },
		"Col2im":      func() { Col2im(make([]float32, 32), make([]float32, 5), 1, w) },
		"MaxPool arg": func() { MaxPool(make([]float32, 32), make([]int32, 3), make([]float32, 32), 1, w) },
		"MaxPool dst": func() { MaxPool(make([]float32, 3), nil, make([]float32, 32), 1, w) },
		"MaxPoolGrad": func() { MaxPoolGrad(make([]float32, 32), make([]float32, 32), make([]int32, 31), 1, w) },
		"bad window":  func() { Im2col(nil, []float32(nil), 0, arch.Window{H: 1, W: 1, C: 1, Kernel: 3, Stride: 1}, 0) },
		"bad arg":     func() { MaxPoolGrad(make([]float32, 32), make([]float32, 32), append(make([]int32, 31), 32), 1, w) },
		"negative n":  func() { Im2col(nil, []float32(nil), -1, w, 0) },
	} {
		func() {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || !strings.HasPrefix(s, "patch: ") {
					t.Errorf("%s: recovered %v, want a patch: panic", name, r)
				}
			}()
			f()
		}()
	}
}

// BenchmarkIm2col is the CNN's second convolution (14×14×16, 5×5, pad 2) at batch 64.
func BenchmarkIm2col(b *testing.B) {
	w := arch.Window{H: 14, W: 14, C: 16, Kernel: 5, Stride: 1, Pad: 2}
	n := 64
	if testing.Short() {
		n = 1
	}
	src := make([]float32, n*w.InLen())
	for i := range src {
		src[i] = float32(i % 7)
	}
	dst := make([]float32, n*w.OutPixels()*w.PatchLen())
	b.SetBytes(int64(len(dst) * 4))
	for b.Loop() {
		Im2col(dst, src, n, w, 0)
	}
}

func BenchmarkIm2colUint8(b *testing.B) {
	w := arch.Window{H: 14, W: 14, C: 16, Kernel: 5, Stride: 1, Pad: 2}
	n := 64
	if testing.Short() {
		n = 1
	}
	src := make([]uint8, n*w.InLen())
	dst := make([]uint8, n*w.OutPixels()*w.PatchLen())
	b.SetBytes(int64(len(dst)))
	for b.Loop() {
		Im2col(dst, src, n, w, 3)
	}
}

func TestIm2colAllocs(t *testing.T) {
	w := arch.Window{H: 28, W: 28, C: 1, Kernel: 5, Stride: 1, Pad: 2}
	src := make([]uint8, w.InLen())
	dst := make([]uint8, w.OutPixels()*w.PatchLen())
	if n := testing.AllocsPerRun(10, func() { Im2col(dst, src, 1, w, 3) }); n > 0 {
		t.Errorf("Im2col: %v allocations", n)
	}
	srcF, dstF := make([]float32, len(src)), make([]float32, len(dst))
	if n := testing.AllocsPerRun(10, func() { Im2col(dstF, srcF, 1, w, 0) }); n > 0 {
		t.Errorf("Im2col float32: %v allocations", n)
	}
	pool := arch.Window{H: 28, W: 28, C: 1, Kernel: 2, Stride: 2}
	if n := testing.AllocsPerRun(10, func() { MaxPool(dst[:196], nil, src, 1, pool) }); n > 0 {
		t.Errorf("MaxPool: %v allocations", n)
	}
}

// TestMaxBytes checks the SWAR bytewise maximum against max on every pair of bytes, in
// every lane.
func TestMaxBytes(t *testing.T) {
	for a := 0; a < 256; a++ {
		for b := 0; b < 256; b++ {
			lane := a*7%8 + 0 // a different lane for different a
			x := uint64(0x5a5a5a5a5a5a5a5a)&^(0xff<<(8*lane)) | uint64(a)<<(8*lane)
			y := uint64(0xa5a5a5a5a5a5a5a5)&^(0xff<<(8*lane)) | uint64(b)<<(8*lane)
			got := maxBytes(x, y)
			for l := 0; l < 8; l++ {
				if want := max(uint8(x>>(8*l)), uint8(y>>(8*l))); uint8(got>>(8*l)) != want {
					t.Fatalf("maxBytes(%#x, %#x) lane %d = %#x, want %#x", x, y, l, uint8(got>>(8*l)), want)
				}
			}
		}
	}
}

// BenchmarkMaxPool is the CNN's first pooling (28×28×16, 2×2) at batch 64, on ReLU-like
// values (half zeros), float32 and uint8, without offsets (the runtime's call).
func BenchmarkMaxPool(b *testing.B) {
	w := arch.Window{H: 28, W: 28, C: 16, Kernel: 2, Stride: 2}
	const n = 64
	r := rand.New(rand.NewPCG(1, 2))
	src := make([]float32, n*w.InLen())
	srcU := make([]uint8, len(src))
	for i := range src {
		if r.IntN(2) == 0 {
			src[i] = r.Float32()
			srcU[i] = uint8(r.IntN(256))
		}
	}
	dst, dstU := make([]float32, n*w.OutPixels()*w.C), make([]uint8, n*w.OutPixels()*w.C)
	b.Run("float32", func(b *testing.B) {
		for b.Loop() {
			MaxPool(dst, nil, src, n, w)
		}
	})
	b.Run("uint8", func(b *testing.B) {
		for b.Loop() {
			MaxPool(dstU, nil, srcU, n, w)
		}
	})
}
