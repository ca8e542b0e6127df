package autograd

import (
	"fmt"
	"math/rand"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"tinyq/arch"
)

// BenchmarkConv2D runs the forward and backward passes of the CNN's two convolutions
// (arch.CNN) at batch 64 as a training step does, calling the ops directly: the forward
// (keeping the patches, as in a training graph); then the weight and bias gradients, and
// for the second convolution the input gradient (the first one's input, the images, needs
// none). It reports the multiply-adds per second (GMAC/s) of the products (forward, dw, and
// dy·wᵀ where computed), to compare with the 2-core FMA peak (about 113 GMAC/s: an epoch of
// 544 G multiply-adds in 4.8 s).
func BenchmarkConv2D(b *testing.B) {
	const batch = 64
	for _, tc := range []struct {
		name string
		out  int
		win  arch.Window
		dx   bool
	}{
		{"conv1-28x28x1-16", 16, arch.Window{H: 28, W: 28, C: 1, Kernel: 5, Stride: 1, Pad: 2}, false},
		{"conv2-14x14x16-32", 32, arch.Window{H: 14, W: 14, C: 16, Kernel: 5, Stride: 1, Pad: 2}, true},
	} {
		win := tc.win
		rng := rand.New(rand.NewSource(1))
		mat := func(v []float32, shape ...int) *tensor.Dense {
			return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
		}
		x := mat(randF32(rng, batch*win.InLen(), 1), batch, win.InLen())
		w := mat(randF32(rng, win.PatchLen()*tc.out, 0.1), win.PatchLen(), tc.out)
		bias := mat(randF32(rng, tc.out, 0.1), tc.out)
		dy := mat(randF32(rng, batch*win.OutPixels()*tc.out, 0.01), batch, win.OutPixels()*tc.out)
		conv := &convOp{base: base{name: "c", kind: "Conv2D"}, win: win, keep: true}
		grads := [3]*convGradOp{}
		for i := range grads {
			grads[i] = &convGradOp{gradBase: gradBase{base{name: "c", kind: fmt.Sprint(i)}}, fwd: conv, wrt: i}
		}
		macs := float64(batch * win.OutPixels() * win.PatchLen() * tc.out)
		must := func(v G.Value, err error) G.Value {
			if err != nil {
				b.Fatal(err)
			}
			return v
		}
		forward := func() { must(conv.Do(x, w, bias)) }
		b.Run(tc.name+"/forward", func(b *testing.B) {
			for b.Loop() {
				forward()
			}
			b.ReportMetric(macs*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
		b.Run(tc.name+"/forward+backward", func(b *testing.B) {
			total := 2 * macs
			if tc.dx {
				total += macs
			}
			for b.Loop() {
				forward()
				must(grads[1].Do(x, w, dy))
				must(grads[2].Do(x, w, dy))
				if tc.dx {
					must(grads[0].Do(x, w, dy))
				}
			}
			b.ReportMetric(total*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}

// BenchmarkBatchNormMaxPool runs BatchNorm (training) and MaxPool 2x2 forward and backward
// on the CNN's first convolution output at batch 64 (64x28x28x16), calling the ops directly,
// and reports the values per second through each op's forward and backward.
func BenchmarkBatchNormMaxPool(b *testing.B) {
	const batch, c = 64, 16
	win := arch.Window{H: 28, W: 28, C: c, Kernel: 2, Stride: 2}
	rng := rand.New(rand.NewSource(1))
	n := batch * win.InLen()
	x := tensor.New(tensor.WithShape(batch, win.InLen()), tensor.WithBacking(randF32(rng, n, 1)))
	gamma := tensor.New(tensor.WithShape(c), tensor.WithBacking(randF32(rng, c, 1)))
	beta := tensor.New(tensor.WithShape(c), tensor.WithBacking(randF32(rng, c, 1)))
	dy := tensor.New(tensor.WithShape(batch, win.InLen()), tensor.WithBacking(randF32(rng, n, 1)))
	pdy := tensor.New(tensor.WithShape(batch, win.OutPixels()*c), tensor.WithBacking(randF32(rng, batch*win.OutPixels()*c, 1)))
	gb := func(kind string) gradBase { return gradBase{base{name: "o", kind: kind}} }
	bn := &bnOp{base: base{name: "bn", kind: "BatchNorm"}, st: NewBatchNormState(c)}
	sums := &bnSumsOp{gradBase: gb("s"), fwd: bn}
	pick := &bnPickOp{gradBase: gb("p")}
	gx := &bnGradXOp{gradBase: gb("x"), fwd: bn}
	pool := &maxPoolOp{base: base{name: "pool", kind: "MaxPool"}, win: win}
	pgrad := &maxPoolGradOp{gradBase: gb("pg"), fwd: pool}
	must := func(v G.Value, err error) G.Value {
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	b.Run("batchnorm", func(b *testing.B) {
		for b.Loop() {
			must(bn.Do(x, gamma, beta))
			s := must(sums.Do(x, dy))
			must(pick.Do(s))
			must(gx.Do(x, gamma, dy, s))
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
	})
	b.Run("maxpool", func(b *testing.B) {
		for b.Loop() {
			must(pool.Do(x))
			must(pgrad.Do(x, pdy))
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
	})
}

// BenchmarkCNNStep runs whole training steps (forward, loss, gradients of every parameter;
// no optimizer) of arch.CNN's network at batch 64 as one gorgonia program built from this
// package's ops, Conv2D -> ReLU -> MaxPool twice, then Linear -> ReLU -> Linear ->
// SoftmaxCrossEntropy, compiled for the gradients only (no gradient of the images). It
// reports the time of a step and the epoch it implies (60,000 images: 938 steps), and the
// multiply-adds per second (3,024,384 per image forward, about 3x that per step).
func BenchmarkCNNStep(b *testing.B) {
	const batch, classes = 64, 10
	UseBLAS()
	rng := rand.New(rand.NewSource(1))
	g := G.NewGraph()
	mk := func(name string, scale float64, shape ...int) *G.Node {
		n := 1
		for _, d := range shape {
			n *= d
		}
		t := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(randF32(rng, n, scale)))
		if len(shape) == 1 {
			return G.NewVector(g, tensor.Float32, G.WithShape(shape...), G.WithName(name), G.WithValue(t))
		}
		return G.NewMatrix(g, tensor.Float32, G.WithShape(shape...), G.WithName(name), G.WithValue(t))
	}
	conv1 := arch.Window{H: 28, W: 28, C: 1, Kernel: 5, Stride: 1, Pad: 2}
	pool1 := arch.Window{H: 28, W: 28, C: 16, Kernel: 2, Stride: 2}
	conv2 := arch.Window{H: 14, W: 14, C: 16, Kernel: 5, Stride: 1, Pad: 2}
	pool2 := arch.Window{H: 14, W: 14, C: 32, Kernel: 2, Stride: 2}
	x := mk("x", 1, batch, conv1.InLen())
	target := tensor.New(tensor.WithShape(batch, classes), tensor.WithBacking(make([]float32, batch*classes)))
	for r := range batch {
		target.Float32s()[r*classes+rng.Intn(classes)] = 1
	}
	t := G.NewMatrix(g, tensor.Float32, G.WithShape(batch, classes), G.WithName("t"), G.WithValue(target))
	params := G.Nodes{
		mk("w1", 0.2, conv1.PatchLen(), 16), mk("b1", 0.1, 16),
		mk("w2", 0.05, conv2.PatchLen(), 32), mk("b2", 0.1, 32),
		mk("w3", 0.03, pool2.OutPixels()*32, 128), mk("b3", 0.1, 128),
		mk("w4", 0.1, 128, classes), mk("b4", 0.1, classes),
	}
	h := G.Must(Conv2D("conv1", x, params[0], params[1], conv1))
	h = G.Must(MaxPool("pool1", G.Must(ReLU("relu1", h)), pool1))
	h = G.Must(Conv2D("conv2", h, params[2], params[3], conv2))
	h = G.Must(MaxPool("pool2", G.Must(ReLU("relu2", h)), pool2))
	h = G.Must(ReLU("relu3", G.Must(Linear("fc1", h, params[4], params[5]))))
	cost := G.Must(SoftmaxCrossEntropy("loss", G.Must(Linear("fc2", h, params[6], params[7])), t))
	grads, err := G.Grad(cost, params...)
	if err != nil {
		b.Fatal(err)
	}
	vm := G.NewTapeMachine(g.ExactSubgraphRoots(append(G.Nodes{cost}, grads...)...))
	defer vm.Close()
	for b.Loop() {
		if err := vm.RunAll(); err != nil {
			b.Fatal(err)
		}
		vm.Reset()
	}
	step := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(step*938, "s/epoch")
	b.ReportMetric(3*3024384*batch/step/1e9, "GMAC/s")
}
