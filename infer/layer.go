package infer

import (
	"fmt"

	"tinyq/arch"
)

// Convolutional layers. FloatLayer and IntLayer are each one arch.Unit of a sequential
// network: a fully connected layer (Conv zero) or a 2-D convolution over NHWC images (Conv
// set), then ReLU if set, then a max pooling if Pool is set. Their weight matrix is always
// [In, Out] (float, the training layout) or [Out, In] (integer): for a convolution In is
// the patch length Conv.PatchLen() = KH·KW·C in the order (ky, kx, c) and Out the output
// channels, so the float weights are [KH, KW, C, Out] and the integer ones
// [Out, KH, KW, C]. Between layers a sample is an NHWC image stored row-major, so a Dense
// layer after a convolution reads it flattened in the order (y, x, c) (Flatten moves
// nothing).

// geometry is a layer's shape per sample: the values it reads, the values of its
// activation before pooling, the values it yields, and its matrix rows per sample.
type geometry struct {
	in, pre, out, rows int
}

// layerGeometry checks the convolution and pooling windows of a layer with an [in, out]
// weight matrix and returns its shape per sample.
func layerGeometry(in, out int, conv, pool arch.Window) (geometry, error) {
	if in <= 0 || out <= 0 {
		return geometry{}, fmt.Errorf("size %dx%d", in, out)
	}
	g := geometry{in: in, pre: out, out: out, rows: 1}
	oh, ow := 1, 1
	if conv != (arch.Window{}) {
		if err := conv.Check(); err != nil {
			return geometry{}, fmt.Errorf("convolution: %w", err)
		}
		if conv.PatchLen() != in {
			return geometry{}, fmt.Errorf("convolution patches of %d values for %d weight rows", conv.PatchLen(), in)
		}
		oh, ow = conv.OutH(), conv.OutW()
		g.in, g.rows = conv.InLen(), oh*ow
		g.pre = g.rows * out
		if int64(g.pre) > arch.MaxValues {
			return geometry{}, fmt.Errorf("convolution output of %d values: at most %d", g.pre, arch.MaxValues)
		}
		g.out = g.pre
	}
	if pool != (arch.Window{}) {
		if err := pool.Check(); err != nil {
			return geometry{}, fmt.Errorf("pooling: %w", err)
		}
		if pool.H != oh || pool.W != ow || pool.C != out {
			return geometry{}, fmt.Errorf("pooling over %dx%dx%d after an output of %dx%dx%d", pool.H, pool.W, pool.C, oh, ow, out)
		}
		g.out = pool.OutPixels() * out
	}
	return g, nil
}

// layerUnit returns the unit of a layer's fields.
func layerUnit(in, out int, conv, pool arch.Window, relu bool) arch.Unit {
	u := arch.Unit{Kind: arch.Dense, In: arch.Vector(in), Out: arch.Vector(out), Conv: conv, Pool: pool, ReLU: relu, BatchNorm: -1}
	if conv != (arch.Window{}) {
		u.Kind = arch.Conv2D
		u.In = arch.Shape{H: conv.H, W: conv.W, C: conv.C}
		u.Out = arch.Shape{H: conv.OutH(), W: conv.OutW(), C: out}
	}
	if pool != (arch.Window{}) {
		u.Out = arch.Shape{H: pool.OutH(), W: pool.OutW(), C: out}
	}
	return u
}

// unitArch returns the architecture of a model made of these units: each unit's layer,
// its ReLU, its max pooling, and a Flatten before a Dense layer that follows an image.
// The input shape is the first convolution's, or a vector of the first layer's inputs.
func unitArch(units []arch.Unit) arch.Arch {
	var a arch.Arch
	for i, u := range units {
		if i == 0 {
			a.Input = u.In
			if u.Kind == arch.Dense {
				a.Input = arch.Vector(u.In.Size())
			}
		}
		_, out := u.Fan()
		l := arch.Layer{Kind: u.Kind, Out: out, ReLU: u.ReLU}
		if u.Kind == arch.Conv2D {
			l.Kernel, l.Stride, l.Pad = u.Conv.Kernel, u.Conv.Stride, u.Conv.Pad
		} else if i > 0 && !units[i-1].Out.Flat() {
			a.Layers = append(a.Layers, arch.Layer{Kind: arch.Flatten})
		}
		a.Layers = append(a.Layers, l)
		if u.Pooled() {
			a.Layers = append(a.Layers, arch.Layer{Kind: arch.MaxPool, Kernel: u.Pool.Kernel, Stride: u.Pool.Stride})
		}
	}
	return a
}

// UnitWindows returns the fields a FloatLayer or IntLayer takes from a unit of an
// arch.Arch: its weight matrix's [In, Out] (arch.Unit.Fan), its convolution and pooling
// windows (zero when absent) and its ReLU.
func UnitWindows(u arch.Unit) (in, out int, conv, pool arch.Window, relu bool) {
	in, out = u.Fan()
	return in, out, u.Conv, u.Pool, u.ReLU
}

// convChunk is the most samples a forward pass of a model with convolutions computes at
// once: its activations then take at most convChunk times the widest layer per worker
// (for the CNN, 64 · 28·28·16 float32 = 3.2 MB), however large the batch.
const convChunk = 64

// chunkValues bounds a chunk's activations further for very wide layers: at most 2^23
// values (32 MB of float32) per buffer, but never less than one sample.
const chunkValues = 1 << 23

// chunkRows returns the samples a forward pass of a convolutional model computes at once,
// given the most values per sample a layer reads or writes.
func chunkRows(widest int) int { return max(1, min(convChunk, chunkValues/max(1, widest))) }

// patchBytes is the most bytes of patches (im2col rows) laid out at once per worker; at
// least one image's are (the CNN's second convolution: 196·400 values).
const patchBytes = 1 << 20

// patchImages returns how many images of window w a scratch of patchBytes holds for
// elements of size bytes (at least 1, at most rows).
func patchImages(w arch.Window, size, rows int) int {
	return max(1, min(rows, patchBytes/(size*w.OutPixels()*w.PatchLen())))
}
