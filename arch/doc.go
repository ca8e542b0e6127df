// Package arch describes a network: a sequence of typed layers (dense, conv2d, batch norm,
// max pooling, flatten), their shapes and activations. It is the one model description
// that nn (training), qat, ptq, infer (the runtime) and the file format share, with a
// short text grammar (Parse) for command lines.
//
// Images are NHWC: one sample is H rows of W pixels of C channels, channels fastest. A
// convolution's weights are, in training layout, [Kernel, Kernel, C, Out] (the dense
// layout [In, Out] with In = Kernel·Kernel·C), so a convolution is im2col (one row per
// output pixel, a patch in the order ky, kx, c) followed by the dense kernels. Units groups
// the layers as the runtime runs them.
//
// arch imports only the standard library.
package arch
