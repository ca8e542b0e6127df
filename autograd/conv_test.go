package autograd

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"tinyq/arch"
)

// refConv is the direct formula of a convolution in float64: x [n, H, W, C], w [ky, kx, c,
// out], b [out], zero padding, y [n, OutH, OutW, out].
func refConv(x, w, b []float64, n, out int, win arch.Window) []float64 {
	oh, ow := win.OutH(), win.OutW()
	y := make([]float64, 0, n*oh*ow*out)
	for img := range n {
		for oy := range oh {
			for ox := range ow {
				for o := range out {
					s := b[o]
					for ky := range win.Kernel {
						for kx := range win.Kernel {
							iy, ix := oy*win.Stride-win.Pad+ky, ox*win.Stride-win.Pad+kx
							if iy < 0 || iy >= win.H || ix < 0 || ix >= win.W {
								continue
							}
							for c := range win.C {
								s += x[((img*win.H+iy)*win.W+ix)*win.C+c] * w[((ky*win.Kernel+kx)*win.C+c)*out+o]
							}
						}
					}
					y = append(y, s)
				}
			}
		}
	}
	return y
}

// refMaxPool is the direct formula of max pooling in float64 over the taps inside the image.
func refMaxPool(x []float64, n int, win arch.Window) []float64 {
	var y []float64
	for img := range n {
		for oy := range win.OutH() {
			for ox := range win.OutW() {
				for c := range win.C {
					m := math.Inf(-1)
					for ky := range win.Kernel {
						for kx := range win.Kernel {
							iy, ix := oy*win.Stride-win.Pad+ky, ox*win.Stride-win.Pad+kx
							if iy >= 0 && iy < win.H && ix >= 0 && ix < win.W {
								m = math.Max(m, x[((img*win.H+iy)*win.W+ix)*win.C+c])
							}
						}
					}
					y = append(y, m)
				}
			}
		}
	}
	return y
}

// convWindows are the geometries of the convolution and pooling tests: strides, paddings,
// several channels, non-square images, windows that do not tile the image, the CNN's 5x5
// pad 2.
var convWindows = []struct {
	n, out int
	win    arch.Window
}{
	{2, 4, arch.Window{H: 5, W: 6, C: 3, Kernel: 3, Stride: 1, Pad: 1}},
	{3, 3, arch.Window{H: 7, W: 5, C: 2, Kernel: 3, Stride: 2, Pad: 0}},
	{2, 2, arch.Window{H: 6, W: 6, C: 2, Kernel: 4, Stride: 3, Pad: 2}},
	{2, 3, arch.Window{H: 4, W: 4, C: 1, Kernel: 1, Stride: 1, Pad: 0}},
	{2, 3, arch.Window{H: 5, W: 5, C: 4, Kernel: 5, Stride: 1, Pad: 2}},
	{1, 5, arch.Window{H: 3, W: 8, C: 2, Kernel: 2, Stride: 2, Pad: 1}},
}

// TestConv2DGradients checks Conv2D's forward against the direct formula and its gradients
// with respect to x, w and b against finite differences.
func TestConv2DGradients(t *testing.T) {
	for i, tc := range convWindows {
		win := tc.win
		t.Run(fmt.Sprintf("%d-%+v", i, win), func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(i + 1)))
			checkOp(t, opCase{
				inputs: []opInput{
					{"x", randF32(rng, tc.n*win.InLen(), 1), []int{tc.n, win.InLen()}},
					{"w", randF32(rng, win.PatchLen()*tc.out, 0.5), []int{win.PatchLen(), tc.out}},
					{"b", randF32(rng, tc.out, 0.5), []int{tc.out}},
				},
				build: func(in []*G.Node) (*G.Node, error) { return Conv2D("conv", in[0], in[1], in[2], win) },
				ref:   func(in [][]float64) []float64 { return refConv(in[0], in[1], in[2], tc.n, tc.out, win) },
			})
		})
	}
}

// TestMaxPoolGradients checks MaxPool's forward against the direct formula and its gradient
// against finite differences, on inputs whose values are at least 0.01 apart (no ties within
// a finite difference step; ties have TestMaxPoolTies).
func TestMaxPoolGradients(t *testing.T) {
	for i, tc := range convWindows {
		win := tc.win
		win.Pad = min(win.Pad, win.Kernel/2) // at least one tap per window inside the image
		t.Run(fmt.Sprintf("%d-%+v", i, win), func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(i + 1)))
			x := make([]float32, tc.n*win.InLen())
			for j, p := range rng.Perm(len(x)) {
				x[j] = float32(p)*0.01 - 0.5
			}
			checkOp(t, opCase{
				inputs: []opInput{{"x", x, []int{tc.n, win.InLen()}}},
				build:  func(in []*G.Node) (*G.Node, error) { return MaxPool("pool", in[0], win) },
				ref:    func(in [][]float64) []float64 { return refMaxPool(in[0], tc.n, win) },
			})
		})
	}
}

// TestMaxPoolTies checks that the gradient of a window of equal values goes to its first
// element only (in (ky, kx) order), and that overlapping windows add their gradients.
func TestMaxPoolTies(t *testing.T) {
	win := arch.Window{H: 3, W: 3, C: 1, Kernel: 2, Stride: 1}
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(1, 9), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(1, 9), tensor.WithBacking(make([]float32, 9)))))
	y, err := MaxPool("pool", x, win)
	if err != nil {
		t.Fatal(err)
	}
	dy := G.NewMatrix(g, tensor.Float32, G.WithShape(1, 4), G.WithName("dy"),
		G.WithValue(tensor.New(tensor.WithShape(1, 4), tensor.WithBacking([]float32{1, 2, 4, 8}))))
	loss := G.Must(G.Sum(G.Must(G.HadamardProd(y, dy))))
	grads, err := G.Grad(loss, x)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	// Window (oy, ox) starts at pixel (oy, ox): its first element.
	want := []float32{1, 2, 0, 4, 8, 0, 0, 0, 0}
	got := grads[0].Value().Data().([]float32)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("dx = %v, want %v", got, want)
		}
	}
}

// TestMaxPoolGradRecomputes runs MaxPool's gradient op on another x than the forward pooled:
// it must find that x's maxima instead of reusing the forward's.
func TestMaxPoolGradRecomputes(t *testing.T) {
	win := arch.Window{H: 2, W: 2, C: 1, Kernel: 2, Stride: 2}
	fwd := &maxPoolOp{base: base{name: "p", kind: "MaxPool"}, win: win}
	grad := &maxPoolGradOp{gradBase: gradBase{base{name: "p", kind: "MaxPoolGrad"}}, fwd: fwd}
	x1 := tensor.New(tensor.WithShape(1, 4), tensor.WithBacking([]float32{5, 0, 0, 0}))
	x2 := tensor.New(tensor.WithShape(1, 4), tensor.WithBacking([]float32{0, 0, 0, 5}))
	dy := tensor.New(tensor.WithShape(1, 1), tensor.WithBacking([]float32{1}))
	if _, err := fwd.Do(x1); err != nil {
		t.Fatal(err)
	}
	dx, err := grad.Do(x2, dy)
	if err != nil {
		t.Fatal(err)
	}
	if got := dx.Data().([]float32); got[3] != 1 || got[0] != 0 {
		t.Fatalf("dx = %v, want [0 0 0 1]", got)
	}
}

// TestConvShapeErrors checks the one-line errors of Conv2D and MaxPool.
func TestConvShapeErrors(t *testing.T) {
	win := arch.Window{H: 4, W: 4, C: 2, Kernel: 3, Stride: 1, Pad: 1}
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 32), G.WithName("x"))
	x2 := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 31), G.WithName("x2"))
	w := G.NewMatrix(g, tensor.Float32, G.WithShape(18, 5), G.WithName("w"))
	wBad := G.NewMatrix(g, tensor.Float32, G.WithShape(17, 5), G.WithName("wbad"))
	b := G.NewVector(g, tensor.Float32, G.WithShape(5), G.WithName("b"))
	b4 := G.NewVector(g, tensor.Float32, G.WithShape(4), G.WithName("b4"))
	for _, tc := range []struct {
		name    string
		x, w, b *G.Node
		win     arch.Window
	}{
		{"x", x2, w, b, win},
		{"w", x, wBad, b, win},
		{"b", x, w, b4, win},
		{"window", x, w, b, arch.Window{H: 4, W: 4, C: 2, Kernel: 3, Stride: 0}},
	} {
		if _, err := Conv2D("conv", tc.x, tc.w, tc.b, tc.win); err == nil {
			t.Errorf("Conv2D accepted a bad %s", tc.name)
		}
	}
	if _, err := Conv2D("conv", x, w, b, win); err != nil {
		t.Errorf("Conv2D: %v", err)
	}
	if _, err := MaxPool("pool", x2, win); err == nil {
		t.Error("MaxPool accepted x [2, 31] for 4x4x2 images")
	}
	if _, err := MaxPool("pool", x, arch.Window{H: 4, W: 4, C: 2, Kernel: 5}); err == nil {
		t.Error("MaxPool accepted a 5x5 window on a 4x4 image")
	}
}

// TestConv2DLargeBatch checks the gradients of a convolution with enough images (20 of
// 102,400 patch values each) for every group (convGroups) to work through several chunks of
// images (chunkValues), against the float64 formulas for loss = Σ y⊙r: dw[p,o] =
// Σ patch[p]·r[o] over all output pixels, db[o] = Σ r[o], dx = Σ over the windows covering
// each pixel of w·r; and the forward of a graph without gradients (which keeps no patch
// matrix) against the direct formula.
func TestConv2DLargeBatch(t *testing.T) {
	win := arch.Window{H: 32, W: 32, C: 4, Kernel: 5, Stride: 1, Pad: 2}
	if p := planConv(win, 20); p.chunk != 1 || p.groups != convGroups || 20/p.groups < 2 {
		t.Fatalf("plan %+v: want several chunks per group", p)
	}
	checkConvBatch(t, 20, 3, win, 1)
}

// TestConv2DSparseGrad is TestConv2DLargeBatch for the CNN's second convolution with an
// output gradient 20% nonzero, as below a max pooling: its gradients are gemm.ConvGrad's
// sparse ones.
func TestConv2DSparseGrad(t *testing.T) {
	checkConvBatch(t, 17, 32, arch.Window{H: 14, W: 14, C: 16, Kernel: 5, Stride: 1, Pad: 2}, 0.2)
}

// checkConvBatch checks Conv2D's gradients with respect to x, w and b, for n images of window
// win and out channels, against the float64 formulas, under the loss Σ y·r with r random,
// the given fraction of it nonzero; then a forward-only graph against the direct formula.
func checkConvBatch(t *testing.T, n, out int, win arch.Window, density float64) {
	rng := rand.New(rand.NewSource(5))
	xv, wv, bv := randF32(rng, n*win.InLen(), 1), randF32(rng, win.PatchLen()*out, 0.3), randF32(rng, out, 0.3)
	rv := randF32(rng, n*win.OutPixels()*out, 1)
	for i := range rv {
		if rng.Float64() >= density {
			rv[i] = 0
		}
	}
	g := G.NewGraph()
	mk := func(name string, v []float32, shape ...int) *G.Node {
		tt := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
		if len(shape) == 1 {
			return G.NewVector(g, tensor.Float32, G.WithShape(shape...), G.WithName(name), G.WithValue(tt))
		}
		return G.NewMatrix(g, tensor.Float32, G.WithShape(shape...), G.WithName(name), G.WithValue(tt))
	}
	x, w, b := mk("x", xv, n, win.InLen()), mk("w", wv, win.PatchLen(), out), mk("b", bv, out)
	y, err := Conv2D("conv", x, w, b, win)
	if err != nil {
		t.Fatal(err)
	}
	loss := G.Must(G.Sum(G.Must(G.HadamardProd(y, mk("r", rv, n, win.OutPixels()*out)))))
	grads, err := G.Grad(loss, x, w, b)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	dx := make([]float64, len(xv))
	dw := make([]float64, len(wv))
	db := make([]float64, out)
	k := win.Kernel
	for img := range n {
		for oy := range win.OutH() {
			for ox := range win.OutW() {
				r := rv[((img*win.OutH()+oy)*win.OutW()+ox)*out:][:out]
				for o := range out {
					db[o] += float64(r[o])
				}
				for ky := range k {
					for kx := range k {
						iy, ix := oy-win.Pad+ky, ox-win.Pad+kx
						if iy < 0 || iy >= win.H || ix < 0 || ix >= win.W {
							continue
						}
						for c := range win.C {
							xi, p := ((img*win.H+iy)*win.W+ix)*win.C+c, (ky*k+kx)*win.C+c
							for o := range out {
								dw[p*out+o] += float64(xv[xi]) * float64(r[o])
								dx[xi] += float64(wv[p*out+o]) * float64(r[o])
							}
						}
					}
				}
			}
		}
	}
	// float32 sums of up to 20,480 terms of magnitude ~1 (TestConv2DLargeBatch): relative
	// error ~1e-6 of a sum of magnitude ~150 (a random walk), so 1e-4 absolute plus relative.
	for i, want := range [][]float64{dx, dw, db} {
		got := grads[i].Value().Data().([]float32)
		for j := range want {
			if math.Abs(float64(got[j])-want[j]) > 1e-4*(1+math.Abs(want[j])) {
				t.Fatalf("gradient %d [%d] = %v, float64 formula %v", i, j, got[j], want[j])
			}
		}
	}

	// A second step: the forward keeps the patches unless the weight gradient ran sparse
	// (gemm.ConvGrad, for a dy at most half nonzero), and the gradients are the same bit
	// for bit.
	first := make([][]float32, 3)
	for i := range first {
		first[i] = append([]float32(nil), grads[i].Value().Data().([]float32)...)
	}
	vm.Reset()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	sparse := density <= 0.5 // gemm.ConvGrad runs on every path
	if kept := y.Op().(*convOp).kept; kept == sparse {
		t.Errorf("second step kept the patches: %v; want %v (weight gradient sparse: %v)", kept, !sparse, sparse)
	}
	for i := range first {
		if got := grads[i].Value().Data().([]float32); !slices.Equal(got, first[i]) {
			t.Errorf("gradient %d of the second step differs from the first's", i)
		}
	}

	// Forward only: no gradient, so the patches live only in each group's chunk scratch.
	g2 := G.NewGraph()
	mk2 := func(name string, v []float32, shape ...int) *G.Node {
		tt := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
		if len(shape) == 1 {
			return G.NewVector(g2, tensor.Float32, G.WithShape(shape...), G.WithName(name), G.WithValue(tt))
		}
		return G.NewMatrix(g2, tensor.Float32, G.WithShape(shape...), G.WithName(name), G.WithValue(tt))
	}
	y2, err := Conv2D("conv", mk2("x", xv, n, win.InLen()), mk2("w", wv, win.PatchLen(), out), mk2("b", bv, out), win)
	if err != nil {
		t.Fatal(err)
	}
	vm2 := G.NewTapeMachine(g2)
	defer vm2.Close()
	if err := vm2.RunAll(); err != nil {
		t.Fatal(err)
	}
	if y2.Op().(*convOp).cols != nil {
		t.Fatal("a forward-only graph kept the patch matrix")
	}
	want := refConv(to64(xv), to64(wv), to64(bv), n, out, win)
	got := y2.Value().Data().([]float32)
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > fwdTol*(1+math.Abs(want[i])) {
			t.Fatalf("forward-only y[%d] = %v, direct formula %v", i, got[i], want[i])
		}
	}
}

// TestConv2DGradWRecomputes runs the weight gradient on another x than the forward kept
// patches of: it must compute that x's patches, equal bit for bit to the gradient after a
// forward of that x.
func TestConv2DGradWRecomputes(t *testing.T) {
	const n, out = 3, 2
	win := arch.Window{H: 5, W: 5, C: 2, Kernel: 3, Stride: 2, Pad: 1}
	rng := rand.New(rand.NewSource(8))
	mat := func(v []float32, shape ...int) *tensor.Dense {
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
	}
	x1, x2 := mat(randF32(rng, n*win.InLen(), 1), n, win.InLen()), mat(randF32(rng, n*win.InLen(), 1), n, win.InLen())
	w, b := mat(randF32(rng, win.PatchLen()*out, 1), win.PatchLen(), out), mat(randF32(rng, out, 1), out)
	dy := mat(randF32(rng, n*win.OutPixels()*out, 1), n, win.OutPixels()*out)
	dw := func(fwdX *tensor.Dense) []float32 {
		fwd := &convOp{base: base{name: "c", kind: "Conv2D"}, win: win, keep: true}
		grad := &convGradOp{gradBase: gradBase{base{name: "c", kind: "Conv2DGradW"}}, fwd: fwd, wrt: 1}
		if _, err := fwd.Do(fwdX, w, b); err != nil {
			t.Fatal(err)
		}
		v, err := grad.Do(x2, w, dy)
		if err != nil {
			t.Fatal(err)
		}
		return v.Data().([]float32)
	}
	want, got := dw(x2), dw(x1)
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("dw[%d] = %v after a forward of another x, %v after a forward of x", i, got[i], want[i])
		}
	}
}

// TestConvNetComposes checks a small network of the new ops as nn builds them, Conv2D ->
// ReLU -> MaxPool -> Linear, with no reshape between the pooling and the dense layer (NHWC
// flattens in place): forward against the composed direct formulas, and every parameter's
// gradient against finite differences.
func TestConvNetComposes(t *testing.T) {
	const n, out, classes = 2, 3, 4
	win := arch.Window{H: 6, W: 6, C: 2, Kernel: 3, Stride: 1, Pad: 1}
	pool := arch.Window{H: 6, W: 6, C: out, Kernel: 2, Stride: 2}
	feat := pool.OutPixels() * out
	rng := rand.New(rand.NewSource(21))
	checkOp(t, opCase{
		inputs: []opInput{
			{"x", randF32(rng, n*win.InLen(), 1), []int{n, win.InLen()}},
			{"w", randF32(rng, win.PatchLen()*out, 0.5), []int{win.PatchLen(), out}},
			{"b", randF32(rng, out, 0.5), []int{out}},
			{"w2", randF32(rng, feat*classes, 0.5), []int{feat, classes}},
			{"b2", randF32(rng, classes, 0.5), []int{classes}},
		},
		build: func(in []*G.Node) (*G.Node, error) {
			h, err := Conv2D("conv", in[0], in[1], in[2], win)
			if err != nil {
				return nil, err
			}
			if h, err = ReLU("relu", h); err != nil {
				return nil, err
			}
			if h, err = MaxPool("pool", h, pool); err != nil {
				return nil, err
			}
			return Linear("fc", h, in[3], in[4])
		},
		ref: func(in [][]float64) []float64 {
			h := refConv(in[0], in[1], in[2], n, out, win)
			for i := range h {
				h[i] = math.Max(h[i], 0)
			}
			h = refMaxPool(h, n, pool)
			y := make([]float64, n*classes)
			for r := range n {
				for k := range classes {
					s := in[4][k]
					for i := range feat {
						s += h[r*feat+i] * in[3][i*classes+k]
					}
					y[r*classes+k] = s
				}
			}
			return y
		},
	})
}
