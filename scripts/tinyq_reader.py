#!/usr/bin/env python3
"""An independent reader of tinyq model files, written from docs/FORMAT.md alone.

It reads a model of kind float (F32 or F16), qat, or int (static or dynamic, 2 to 8 bits),
format versions 1 to 4: MLPs, and (version 4, FORMAT.md section 11) sequential networks of
dense layers, convolutions, max pooling, flatten and BatchNorm, folded at load. It
classifies images, printing one predicted class per line.
Float32 arithmetic is emulated by rounding after every operation, as FORMAT.md section 1
prescribes, so integer models with static activations reproduce tinyq's logits bit for bit
(and the other kinds do too when tinyq's runtime rounds every operation separately, FORMAT.md
section 8). It refuses what
FORMAT.md section 10 lists, including a data_sha256 that does not match the data and
degenerate scales. Python 3 standard library only (hashlib, json, math, re, struct).

Usage:
    tinyq_reader.py MODEL IMAGES [--input u8|f32|text] [--logits | --hex] [--probs]

IMAGES holds N rows of the model's input size each (sizes[0]; h*w*c in version 4, in NHWC
order):
    --input u8    (default) raw bytes, one pixel 0..255 per byte (N x 784 for MNIST);
                  preprocessed as x = f32(pixel / pixel_divisor) (FORMAT.md 7.1)
    --input f32   raw little-endian float32 values, already preprocessed
    --input text  decimal numbers separated by white space, already preprocessed, each
                  rounded to the nearest float32 (for example "0 0.5 1" for a 3-input model)
Output, one line per row: the class; with --logits the logits as decimals (9 significant
digits: they read back as the same float32), with --hex as float32 bit patterns (8 hex
digits); with --probs the softmax probabilities after them. --describe prints what the file
holds (to stderr) before classifying.
"""

import argparse
import fractions
import hashlib
import json
import math
import re
import struct
import sys

# ---------------------------------------------------------------------------------------
# float32 emulation (FORMAT.md section 1): f32(v) rounds a binary64 value to the nearest
# binary32 value, ties to even. One + - * / on float32 operands computed in binary64 and
# rounded once with f32 is the float32 result.

_F = struct.Struct("<f")
_I = struct.Struct("<I")


def f32(v):
    try:
        return _F.unpack(_F.pack(v))[0]
    except OverflowError:  # rounds beyond the largest float32
        return math.copysign(math.inf, v)


def f32s(vals):
    """f32 of every element of a sequence, as a list."""
    n = len(vals)
    try:
        return list(struct.unpack("<%df" % n, struct.pack("<%df" % n, *vals)))
    except OverflowError:
        return [f32(v) for v in vals]


def bits(v):
    """The binary32 bit pattern of a float32 value."""
    return _I.unpack(_F.pack(v))[0]


def f32_exact(q):
    """A rational q (an int or a fractions.Fraction, for example a JSON decimal read exactly)
    rounded once to the nearest float32, ties to even (FORMAT.md 3, input). float(q) then f32
    would round twice, which can differ."""
    q = fractions.Fraction(q)
    c = f32(float(q))  # within one float32 step of the answer
    if math.isinf(c) or c <= 0:
        return c
    cands = [c]
    for step in (-1, 1):
        n = _F.unpack(_I.pack(bits(c) + step))[0]
        if not math.isinf(n):
            cands.append(n)
    return min(cands, key=lambda v: (abs(fractions.Fraction(v) - q), bits(v) & 1))


def rne(t):
    """Round to the nearest integer, ties to even (Python's round on a float). An infinite t
    (a huge input over a tiny scale) becomes an integer beyond every clamp bound."""
    if math.isinf(t):
        return 2 ** 64 if t > 0 else -(2 ** 64)
    return int(round(t))


def clamp(v, lo, hi):
    return min(max(v, lo), hi)


MIN_SCALE = 2.0 ** -23  # FORMAT.md 7.2
INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1


class FormatError(Exception):
    pass


# ---------------------------------------------------------------------------------------
# The container (FORMAT.md section 2).

_DTYPES = {"F32": ("f", 4), "F16": ("e", 2), "I32": ("i", 4), "I8": ("b", 1), "U8": ("B", 1)}


class SafeTensors:
    def __init__(self, path):
        with open(path, "rb") as fh:
            raw = fh.read()
        if len(raw) < 8:
            raise FormatError("file too short")
        (n,) = struct.unpack_from("<Q", raw, 0)
        if n > len(raw) - 8:
            raise FormatError("header length %d past the end of the file" % n)
        header = json.loads(raw[8:8 + n].decode("utf-8"))
        if not isinstance(header, dict):
            raise FormatError("header is not a JSON object")
        meta = header.pop("__metadata__", None) or {}
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise FormatError("__metadata__ is not an object of strings")
        self.meta = meta
        self.entries = header
        self.raw = raw
        self.base = 8 + n
        buf_len = len(raw) - self.base
        for name, e in header.items():
            if set(e) != {"dtype", "shape", "data_offsets"}:
                raise FormatError("tensor %s: fields %s" % (name, sorted(e)))
            b, end = e["data_offsets"]
            if not 0 <= b <= end <= buf_len:
                raise FormatError("tensor %s: data_offsets %s outside the data" % (name, e["data_offsets"]))

    def data_sha256(self):
        """The SHA-256 of the data buffer, as the tensors' bytes in name order (FORMAT.md 3,
        data_sha256): for a file tinyq wrote, every byte after the header."""
        h = hashlib.sha256()
        for name in sorted(self.entries):
            b, end = self.entries[name]["data_offsets"]
            h.update(self.raw[self.base + b:self.base + end])
        return h.hexdigest()

    def has(self, name):
        return name in self.entries

    def tensor(self, name, dtype, shape):
        """The values of a tensor, checked against dtype and shape, as a flat list
        (bytes for U8)."""
        e = self.entries.get(name)
        if e is None:
            raise FormatError("tensor %s missing" % name)
        if e["dtype"] != dtype:
            raise FormatError("tensor %s is %s, want %s" % (name, e["dtype"], dtype))
        if list(e["shape"]) != list(shape):
            raise FormatError("tensor %s has shape %s, want %s" % (name, e["shape"], list(shape)))
        code, size = _DTYPES[dtype]
        count = 1
        for d in shape:
            count *= d
        b, end = e["data_offsets"]
        if end - b != count * size:
            raise FormatError("tensor %s: %d bytes for %d values of %s" % (name, end - b, count, dtype))
        if dtype == "U8":
            return self.raw[self.base + b:self.base + end]
        return list(struct.unpack_from("<%d%s" % (count, code), self.raw, self.base + b))

    def floats(self, name, dtype, shape):
        v = self.tensor(name, dtype, shape)
        for x in v:
            if math.isnan(x) or math.isinf(x):
                raise FormatError("tensor %s holds %r" % (name, x))
        return v


# ---------------------------------------------------------------------------------------
# Metadata (FORMAT.md sections 3 and 4).

MAX_DIM = 1 << 20  # FORMAT.md 3 and 11.1: every size, kernel and stride is in 1 .. 2^20
MAX_WEIGHTS = 1 << 28  # FORMAT.md 11.1: weights of one weighted layer
MAX_OUTPUT = 1 << 26  # FORMAT.md 11.1: values of one layer output per sample


class Unit:
    """One weighted layer with what follows it (FORMAT.md 11.2): a dense layer or a
    convolution, its BatchNorm, its ReLU and its max pooling. An MLP (versions 1 to 3) is a
    list of dense units on 1 x 1 x n images."""

    def __init__(self, kind, shape, out):
        self.kind = kind  # "dense" or "conv2d"
        self.shape = shape  # the input image (h, w, c)
        self.n_out = out
        self.k = self.s = 1
        self.p = 0
        self.relu = False
        self.bn = False
        self.pool = None  # (kernel, stride)
        h, w, c = shape
        self.n_in = h * w * c  # a dense unit reads its input flattened
        self.conv_out = (1, 1)

    def set_conv(self, k, s, p):
        h, w, c = self.shape
        self.k, self.s, self.p = k, s, p
        self.n_in = k * k * c  # the patch length
        self.conv_out = (window(h, k, s, p), window(w, k, s, p))

    def out_shape(self):
        oh, ow = self.conv_out
        if self.pool:
            k, s = self.pool
            oh, ow = window(oh, k, s, 0), window(ow, k, s, 0)
        return oh, ow, self.n_out


def window(n, k, s, p):
    """Output length of a sliding window (FORMAT.md 11.1); the window must fit."""
    if n + 2 * p < k:
        raise FormatError("arch: a window of %d does not fit an input of %d (padding %d)" % (k, n, p))
    return (n + 2 * p - k) // s + 1


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def parse_arch(text):
    """The units of a version 4 file's arch key (FORMAT.md 11.1, 11.2)."""
    a = json.loads(text)
    if not isinstance(a, dict) or set(a) != {"input", "layers"}:
        raise FormatError("arch: want exactly input and layers")
    inp = a["input"]
    if not isinstance(inp, dict) or set(inp) != {"h", "w", "c"}:
        raise FormatError("arch: input %r, want exactly h, w and c" % (inp,))
    for key in ("h", "w", "c"):
        if not is_int(inp[key]) or not 1 <= inp[key] <= MAX_DIM:
            raise FormatError("arch: input %s = %r" % (key, inp[key]))
    if inp["h"] * inp["w"] * inp["c"] > MAX_OUTPUT:
        raise FormatError("arch: input %dx%dx%d, at most 2^26 values" % (inp["h"], inp["w"], inp["c"]))
    layers = a["layers"]
    if not isinstance(layers, list) or not layers:
        raise FormatError("arch: layers %r, want a non-empty list" % (layers,))
    fields = {"dense": {"out", "relu"}, "conv2d": {"out", "kernel", "stride", "pad", "relu"},
              "batchnorm": {"relu"}, "maxpool": {"kernel", "stride"}, "flatten": set()}
    shape = (inp["h"], inp["w"], inp["c"])
    units = []
    prev = None  # the kind of the previous layer
    for i, l in enumerate(layers):
        where = "arch: layer %d" % (i + 1)
        if not isinstance(l, dict) or set(l) - {"kind", "out", "kernel", "stride", "pad", "relu"}:
            raise FormatError("%s: %r, want an object of kind, out, kernel, stride, pad, relu" % (where, l))
        l = {f: v for f, v in l.items() if v is not None}  # null reads as absent (11.1)
        kind = l.get("kind")
        if kind not in fields:
            raise FormatError("%s: kind %r" % (where, kind))
        for f in ("out", "kernel", "stride", "pad"):
            if f in l and not is_int(l[f]):
                raise FormatError("%s: %s %r, want an integer" % (where, f, l[f]))
            if f in l and f not in fields[kind] and l[f] != 0:
                raise FormatError("%s: %s does not apply to %s" % (where, f, kind))
        if "relu" in l:
            if not isinstance(l["relu"], bool):
                raise FormatError("%s: relu %r, want true or false" % (where, l["relu"]))
            if "relu" not in fields[kind] and l["relu"]:
                raise FormatError("%s: relu does not apply to %s" % (where, kind))
        out, k, s, p, relu_ = (l.get("out", 0), l.get("kernel", 0), l.get("stride", 0),
                               l.get("pad", 0), l.get("relu", False))
        if i == 0 and kind not in ("dense", "conv2d"):
            raise FormatError("%s: the first layer is %s, want conv2d or dense" % (where, kind))
        if kind in ("dense", "conv2d"):
            if not 1 <= out <= MAX_DIM:
                raise FormatError("%s: out %r" % (where, out))
            u = Unit(kind, shape, out)
            if kind == "conv2d":
                if not 1 <= k <= MAX_DIM or not 0 <= s <= MAX_DIM or not 0 <= p < k:
                    raise FormatError("%s: kernel %d, stride %d, pad %d" % (where, k, s, p))
                u.set_conv(k, s or 1, p)
            u.relu = relu_
            if u.n_in * out > MAX_WEIGHTS:
                raise FormatError("%s: %d weights, at most 2^28" % (where, u.n_in * out))
            units.append(u)
        elif kind == "batchnorm":
            if prev not in ("dense", "conv2d") or units[-1].relu:
                raise FormatError("%s: batchnorm must follow a conv2d or dense without relu" % where)
            units[-1].bn = True
            units[-1].relu = relu_
        elif kind == "maxpool":
            if prev not in ("dense", "conv2d", "batchnorm"):
                raise FormatError("%s: maxpool must follow a weighted layer (or its batchnorm)" % where)
            if not 1 <= k <= MAX_DIM or not 0 <= s <= MAX_DIM:
                raise FormatError("%s: kernel %d, stride %d" % (where, k, s))
            units[-1].pool = (k, s or k)
        else:  # flatten: 1 x 1 x (h*w*c), nothing moves
            shape = (1, 1, shape[0] * shape[1] * shape[2])
        if kind in ("dense", "conv2d", "batchnorm", "maxpool"):
            shape = units[-1].out_shape()
        if shape[0] * shape[1] * shape[2] > MAX_OUTPUT:
            raise FormatError("%s: %d output values, at most 2^26" % (where, shape[0] * shape[1] * shape[2]))
        prev = kind
    if layers[-1]["kind"] != "dense":
        raise FormatError("arch: the last layer is %s, want dense" % layers[-1]["kind"])
    return (inp["h"], inp["w"], inp["c"]), units


def parse_architecture(text):
    """The dense units of a version 1 to 3 file's architecture key (FORMAT.md 3)."""
    arch = json.loads(text)
    sizes, acts = arch["sizes"], arch["activations"]
    if len(sizes) < 2 or len(acts) != len(sizes) - 1:
        raise FormatError("architecture: %d sizes, %d activations" % (len(sizes), len(acts)))
    for s in sizes:
        if not is_int(s) or not 1 <= s <= MAX_DIM:
            raise FormatError("architecture: size %r" % s)
    for a in acts:
        if a not in ("relu", "identity"):
            raise FormatError("architecture: activation %r" % a)
    units = []
    for i in range(len(acts)):
        u = Unit("dense", (1, 1, sizes[i]), sizes[i + 1])
        u.relu = acts[i] == "relu"
        units.append(u)
    return (1, 1, sizes[0]), units


def read_info(st):
    md = st.meta
    if "format_version" not in md:
        raise FormatError("no format_version (not a tinyq file?)")
    if not re.fullmatch(r"[1-9][0-9]*", md["format_version"]):  # a plain decimal integer
        raise FormatError("format_version %r" % md["format_version"])
    version = int(md["format_version"])
    if version not in (1, 2, 3, 4):
        raise FormatError("format_version %d, this reader reads 1 to 4" % version)
    if "data_sha256" in md:  # FORMAT.md 3: verified when present
        want = md["data_sha256"]
        if not re.fullmatch(r"[0-9a-f]{64}", want):
            raise FormatError("data_sha256 %r, want 64 lowercase hex digits" % want)
        if st.data_sha256() != want:
            raise FormatError("data checksum mismatch")
    kind = md.get("kind")
    if version >= 4:
        if "arch" not in md:
            raise FormatError("format_version 4 without arch")
        (h, w, c), units = parse_arch(md["arch"])
    else:
        (h, w, c), units = parse_architecture(md["architecture"])
    n0 = h * w * c
    if "input" in md:  # FORMAT.md 3, input: exactly three fields, none null
        inp = json.loads(md["input"], parse_float=fractions.Fraction)  # decimals exactly
        if not isinstance(inp, dict) or set(inp) != {"width", "height", "pixel_divisor"}:
            raise FormatError("input %s: want exactly width, height and pixel_divisor" % md["input"])
        iw, ih, d = inp["width"], inp["height"], inp["pixel_divisor"]
        if not all(is_int(v) for v in (iw, ih)):
            raise FormatError("input %s: width and height must be integers" % md["input"])
        if not isinstance(d, (int, fractions.Fraction)) or isinstance(d, bool):
            raise FormatError("input %s: pixel_divisor must be a number" % md["input"])
        d = f32_exact(d)
        if iw <= 0 or ih <= 0 or iw * ih != n0 or not (d > 0) or math.isinf(d) or math.isinf(f32(255 / d)):
            raise FormatError("input %s for %d inputs" % (md["input"], n0))
        if version >= 4 and c == 1 and (iw, ih) != (w, h):
            raise FormatError("input %s for an image of %dx%dx%d" % (md["input"], h, w, c))
    elif version >= 4:
        iw, ih, d = (w, h, 255.0) if c == 1 else (n0, 1, 255.0)
    elif n0 == 784:
        iw, ih, d = 28, 28, 255.0
    else:
        iw, ih, d = n0, 1, 255.0
    return {"version": version, "kind": kind, "n_in": n0, "units": units,
            "input": {"width": iw, "height": ih, "pixel_divisor": d}}


def parse_spec(j, version, axis):
    """(bits, scheme, granularity) of a SPEC. The channel axis comes from the kind (axis);
    from version 2 the spec must agree: that axis when per-channel, none when per-tensor
    (FORMAT.md 3, SPEC; version 1's axes are ignored, section 4)."""
    bits, scheme, gran = j.get("bits"), j.get("scheme"), j.get("granularity")
    if not isinstance(bits, int) or not 2 <= bits <= 8:
        raise FormatError("spec bits %r" % bits)
    if scheme not in ("symmetric", "affine"):
        raise FormatError("spec scheme %r" % scheme)
    if gran not in ("per-tensor", "per-channel"):
        raise FormatError("spec granularity %r" % gran)
    if version >= 2:
        if gran == "per-channel" and (j.get("axis") != axis or isinstance(j.get("axis"), bool)):
            raise FormatError("per-channel spec without axis %d" % axis)
        if gran == "per-tensor" and "axis" in j:
            raise FormatError("per-tensor spec with an axis")
    return bits, scheme, gran


def sym_max(bits):
    return 2 ** (bits - 1) - 1


MIN_NORMAL = 2.0 ** -126  # FORMAT.md 10, degenerate scales, rule 1
MIN_DYNAMIC_WEIGHT_SCALE = 2.0 ** -103


def check_scales(name, scales, lo=MIN_NORMAL):
    for s in scales:
        if not (s > 0) or math.isinf(s):
            raise FormatError("%s holds %r, want finite and > 0" % (name, s))
        if s < lo:
            raise FormatError("%s holds %r, a degenerate scale (below %r)" % (name, s, lo))


def check_input_steps(name, divisor, s, zp, qmin, qmax):
    """FORMAT.md 10, degenerate scales, rule 4: the brightest pixel must not quantize like 0."""
    top = f32(255 / divisor)
    if quantize_row([top], s, zp, qmin, qmax) == quantize_row([0.0], s, zp, qmin, qmax):
        raise FormatError("%s.in.scale %r: every pixel quantizes to the zero point" % (name, s))


# ---------------------------------------------------------------------------------------
# Quantization primitives (FORMAT.md 7.2).

def quantize_row(xs, s, zp, qmin, qmax):
    return [clamp(rne(t) + zp, qmin, qmax) for t in f32s([x / s for x in xs])]


def fake_quantize_row(xs, s, zp, qmin, qmax):
    return f32s([(q - zp) * s for q in quantize_row(xs, s, zp, qmin, qmax)])


def choose_affine8(lo, hi):
    """Scale and zero point of 8-bit affine parameters for the range [lo, hi]."""
    qmin, qmax = 0, 255
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    s = max(f32(f32(hi - lo) / (qmax - qmin)), MIN_SCALE)
    if math.isinf(s):
        raise FormatError("range [%r, %r] too wide for a float32 scale" % (lo, hi))
    zp = clamp(qmin - rne(f32(lo / s)), qmin, qmax)
    return s, zp


def relu(y):
    return [v if v > 0 else 0.0 for v in y]


# ---------------------------------------------------------------------------------------
# Images between units (FORMAT.md 11.3): NHWC, row-major, value (y, x, ch) at (y*w + x)*c + ch.

def patches(img, u, pad):
    """The input rows of a unit: the whole image for a dense unit; for a convolution, one
    patch of k*k*c values per output pixel in row-major order, patch[(ky*k + kx)*c + ch] =
    img(oy*s - p + ky, ox*s - p + kx, ch), with pad outside the image."""
    if u.kind == "dense":
        return [img]
    h, w, c = u.shape
    k, s, p = u.k, u.s, u.p
    oh, ow = u.conv_out
    pad_c = [pad] * c
    rows = []
    for oy in range(oh):
        for ox in range(ow):
            patch = []
            for ky in range(k):
                y = oy * s - p + ky
                if not 0 <= y < h:
                    patch.extend([pad] * (k * c))
                    continue
                for kx in range(k):
                    x = ox * s - p + kx
                    if 0 <= x < w:
                        j = (y * w + x) * c
                        patch.extend(img[j:j + c])
                    else:
                        patch.extend(pad_c)
            rows.append(patch)
    return rows


def maxpool(img, u):
    """Max pooling of a unit's output image (FORMAT.md 11.3; no padding)."""
    if not u.pool:
        return img
    oh, ow = u.conv_out
    c = u.n_out
    k, s = u.pool
    ph, pw = window(oh, k, s, 0), window(ow, k, s, 0)
    out = []
    for py in range(ph):
        for px in range(pw):
            for ch in range(c):
                out.append(max(img[((py * s + ky) * ow + (px * s + kx)) * c + ch]
                               for ky in range(k) for kx in range(k)))
    return out


def weight_shape(u, stored_as):
    """The shape of a unit's weight tensor (FORMAT.md 11.2): float [in, out] or [k, k, c, out];
    int8 [out, in] or [out, k, k, c]."""
    if u.kind == "dense":
        return [u.n_in, u.n_out] if stored_as == "float" else [u.n_out, u.n_in]
    c = u.shape[2]
    return [u.k, u.k, c, u.n_out] if stored_as == "float" else [u.n_out, u.k, u.k, c]


# ---------------------------------------------------------------------------------------
# Float models and the QAT simulation (FORMAT.md 7.3, 7.4, 11.2, 11.3).

class FloatLayer:
    def __init__(self, n_in, n_out, W, b, relu_):
        self.n_in, self.n_out, self.relu = n_in, n_out, relu_
        self.rows = [W[k * n_out:(k + 1) * n_out] for k in range(n_in)]  # W[k, :]
        self.b = list(b)

    def forward(self, x):
        y = list(self.b)
        for k, xv in enumerate(x):
            if xv == 0:
                continue
            prods = f32s([xv * w for w in self.rows[k]])
            y = f32s([a + p for a, p in zip(y, prods)])
        return relu(y) if self.relu else y


def fold_batchnorm(st, n, n_in, n_out, W, b):
    """W' and b' of a unit with a BatchNorm (FORMAT.md 11.2): float64 factors, each folded
    value rounded once to float32."""
    gamma = st.floats(n + ".bn.gamma", "F32", [n_out])
    beta = st.floats(n + ".bn.beta", "F32", [n_out])
    mean = st.floats(n + ".bn.running_mean", "F32", [n_out])
    var = st.floats(n + ".bn.running_var", "F32", [n_out])
    eps = st.floats(n + ".bn.eps", "F32", [1])[0]
    if not eps >= 0:
        raise FormatError("%s.bn.eps %r, want >= 0" % (n, eps))
    f = []
    for o in range(n_out):
        v = var[o] + eps
        if not v > 0:
            raise FormatError("%s.bn.running_var[%d] + eps = %r, want > 0" % (n, o, v))
        f.append(gamma[o] / math.sqrt(v))
    Wf = [f32(W[j] * f[j % n_out]) for j in range(n_in * n_out)]
    bf = [f32((b[o] - mean[o]) * f[o] + beta[o]) for o in range(n_out)]
    for v in Wf + bf:
        if math.isinf(v) or math.isnan(v):
            raise FormatError("%s: the folded BatchNorm gives %r" % (n, v))
    return Wf, bf


class FloatModel:
    def __init__(self, st, info, simulation=False):
        units = info["units"]
        dtype = "F32"
        if not simulation and st.has("fc1.w") and st.entries["fc1.w"]["dtype"] == "F16":
            dtype = "F16"
        self.dtype = dtype
        self.units = units
        self.layers = []
        self.inputs = []  # the QAT simulation's input parameters per unit
        if simulation:
            q = json.loads(st.meta["quantization"])
            wbits, wscheme, wgran = parse_spec(q["weight"], info["version"], 1)  # [in, out]
            abits, ascheme, agran = parse_spec(q["activation"], info["version"], 0)
            if wscheme != "symmetric" or ascheme != "affine" or agran != "per-tensor":
                raise FormatError("qat quantization: want symmetric weights, affine per-tensor activations")
            self.name = "qat w%da%d" % (wbits, abits)
        for i, u in enumerate(units):
            n = "fc%d" % (i + 1)
            n_in, n_out = u.n_in, u.n_out
            W = st.floats(n + ".w", dtype, weight_shape(u, "float"))
            b = st.floats(n + ".b", dtype, [n_out])
            if u.bn:
                W, b = fold_batchnorm(st, n, n_in, n_out, W, b)
            if simulation:
                W, b = self._fake_quantize_params(st, n, n_in, n_out, W, b, wbits, wgran, abits)
            self.layers.append(FloatLayer(n_in, n_out, W, b, u.relu))
        if not simulation:
            self.name = "fp16" if dtype == "F16" else "fp32"
        else:
            s, zp, qmin, qmax = self.inputs[0]
            check_input_steps("fc1", info["input"]["pixel_divisor"], s, zp, qmin, qmax)

    def _fake_quantize_params(self, st, n, n_in, n_out, W, b, wbits, wgran, abits):
        c = n_out if wgran == "per-channel" else 1
        sw = st.floats(n + ".w.scale", "F32", [c])
        check_scales(n + ".w.scale", sw)
        if any(z != 0 for z in st.tensor(n + ".w.zero_point", "I32", [c])):
            raise FormatError("%s.w.zero_point: want 0" % n)
        s_in = st.floats(n + ".in.scale", "F32", [1])[0]
        check_scales(n + ".in.scale", [s_in])
        zp_in = st.tensor(n + ".in.zero_point", "I32", [1])[0]
        amax = 2 ** abits - 1
        if not 0 <= zp_in <= amax:
            raise FormatError("%s.in.zero_point %d outside [0, %d]" % (n, zp_in, amax))
        self.inputs.append((s_in, zp_in, 0, amax))
        qw = sym_max(wbits)
        sw_o = [sw[o] if c > 1 else sw[0] for o in range(n_out)]
        Wq = []
        for k in range(n_in):
            row = W[k * n_out:(k + 1) * n_out]
            t = f32s([w / s for w, s in zip(row, sw_o)])
            Wq.extend(f32s([clamp(rne(v), -qw, qw) * s for v, s in zip(t, sw_o)]))
        bq = []
        for o in range(n_out):
            S = float(s_in) * float(sw_o[o])
            q = rne(float(b[o]) / S)
            if not INT32_MIN <= q <= INT32_MAX:
                raise FormatError("%s.b[%d] = %r is %d steps of s_in*s_w, outside int32" % (n, o, b[o], q))
            bq.append(f32(q * S))
        return Wq, bq

    def forward(self, x):
        for i, (u, layer) in enumerate(zip(self.units, self.layers)):
            if self.inputs:  # the whole input image, before forming patches (11.3)
                s, zp, qmin, qmax = self.inputs[i]
                x = fake_quantize_row(x, s, zp, qmin, qmax)
            y = []
            for row in patches(x, u, 0.0):
                y.extend(layer.forward(row))
            x = maxpool(y, u)
        return x


# ---------------------------------------------------------------------------------------
# Integer models (FORMAT.md 5.3, 6, 7.5, 7.6, 11.2, 11.3).

def unpack_weights(data, bits, n):
    """The n signed weights of a packed (U8) int weight tensor, row-major [out, in]."""
    out = []
    if bits >= 3:
        for j in range(n):
            nib = (data[j >> 1] >> (4 * (j & 1))) & 0xF
            out.append(nib - 16 if nib >= 8 else nib)
    else:
        for j in range(n):
            v = (data[j >> 2] >> (2 * (j & 3))) & 3
            out.append(v - 4 if v >= 2 else v)
    return out


def quantize_multiplier(real):
    """(mult, shift) with real ~ mult * 2^(shift-31) (FORMAT.md 7.5)."""
    if real == 0:
        return 0, 0
    f, e = math.frexp(real)
    x = f * 2.0 ** 31  # exact
    q = int(math.floor(x))
    if x - q >= 0.5:  # round half away from zero (x > 0)
        q += 1
    if q == 2 ** 31:
        q, e = 2 ** 30, e + 1
    if e < -31:
        return 0, 0
    if e > 30:
        raise FormatError("requantization multiplier %r is too large" % real)
    return q, e


class IntLayer:
    pass


class IntModel:
    def __init__(self, st, info):
        q = json.loads(st.meta["quantization"])
        mode = q.get("mode")
        if mode not in ("static", "dynamic"):
            raise FormatError("quantization mode %r" % mode)
        self.mode = mode
        wbits, wscheme, wgran = parse_spec(q["weight"], info["version"], 0)  # [out, in]
        if wscheme != "symmetric":
            raise FormatError("weight scheme %r, want symmetric" % wscheme)
        abits = 8
        if mode == "static":
            if "activation" not in q or q["activation"] is None:
                raise FormatError("static model without an activation spec")
            abits, ascheme, agran = parse_spec(q["activation"], info["version"], 0)
            if ascheme != "affine" or agran != "per-tensor":
                raise FormatError("activation spec must be affine per-tensor")
        self.wbits, self.abits = wbits, abits
        self.name = "int w%d%s-%s" % (wbits, "a%d" % abits if mode == "static" else "", mode)
        units = info["units"]
        self.units = units
        nl = len(units)
        for i, u in enumerate(units):
            if u.bn:  # FORMAT.md 11.2: conversion folds BatchNorm
                raise FormatError("fc%d: an int file with a batchnorm layer" % (i + 1))
            if mode == "dynamic" and u.kind != "dense":
                raise FormatError("fc%d: a dynamic int file with a convolution" % (i + 1))
        layer_bits = [(wbits, abits)] * nl
        if "layer_bits" in q:  # FORMAT.md 3: per-layer widths, version 3, static only
            lb = q["layer_bits"]
            if info["version"] < 3 or mode != "static":
                raise FormatError("layer_bits needs format_version 3 and static mode")
            if not isinstance(lb, list) or len(lb) != nl:
                raise FormatError("layer_bits: want one [w, a] per layer")
            layer_bits = []
            for pair in lb:
                if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(b, int) and 2 <= b <= 8 for b in pair)):
                    raise FormatError("layer_bits entry %r" % (pair,))
                layer_bits.append(tuple(pair))
            self.name = "int " + "-".join("w%da%d" % p for p in layer_bits) + "-static"
        self.layers = []
        for i, u in enumerate(units):
            wbits, abits = layer_bits[i]
            qw = sym_max(wbits)
            n = "fc%d" % (i + 1)
            n_in, n_out = u.n_in, u.n_out
            if n_in > (2 ** 31 - 1) // (255 * 128):
                raise FormatError("%s: %d inputs, at most 65793" % (n, n_in))
            L = IntLayer()
            L.n_in, L.n_out, L.relu = n_in, n_out, u.relu
            cnt = n_in * n_out
            if wbits >= 5:
                w = st.tensor(n + ".w", "I8", weight_shape(u, "int"))
            elif wbits >= 3:
                w = unpack_weights(st.tensor(n + ".w", "U8", [(cnt + 1) // 2]), wbits, cnt)
            else:
                w = unpack_weights(st.tensor(n + ".w", "U8", [(cnt + 3) // 4]), wbits, cnt)
            for v in w:
                if not -qw <= v <= qw:
                    raise FormatError("%s.w holds %d, outside [%d, %d]" % (n, v, -qw, qw))
            # Transposed: cols[k][o] = q_w[o, k], for accumulating input by input.
            L.cols = [w[k::n_in] for k in range(n_in)]
            c = n_out if wgran == "per-channel" else 1
            sw = st.floats(n + ".w.scale", "F32", [c])
            check_scales(n + ".w.scale", sw, MIN_DYNAMIC_WEIGHT_SCALE if mode == "dynamic" else MIN_NORMAL)
            if any(z != 0 for z in st.tensor(n + ".w.zero_point", "I32", [c])):
                raise FormatError("%s.w.zero_point: want 0" % n)
            L.sw = [sw[o] if c > 1 else sw[0] for o in range(n_out)]
            if mode == "dynamic":
                L.bias = st.floats(n + ".b", "F32", [n_out])
            else:
                L.bias = st.tensor(n + ".b", "I32", [n_out])
                L.s_in = st.floats(n + ".in.scale", "F32", [1])[0]
                check_scales(n + ".in.scale", [L.s_in])
                L.zp_in = st.tensor(n + ".in.zero_point", "I32", [1])[0]
                L.qmin, L.qmax = st.tensor(n + ".in.qrange", "I32", [2])
                if (L.qmin, L.qmax) != (0, 2 ** abits - 1):
                    raise FormatError("%s.in.qrange [%d, %d], want [0, %d]" % (n, L.qmin, L.qmax, 2 ** abits - 1))
                if not L.qmin <= L.zp_in <= L.qmax:
                    raise FormatError("%s.in.zero_point %d outside the range" % (n, L.zp_in))
            self.layers.append(L)
        if mode == "static":
            first = self.layers[0]
            check_input_steps("fc1", info["input"]["pixel_divisor"], first.s_in, first.zp_in, first.qmin, first.qmax)
            self._derive()

    def _derive(self):
        """The output stage of every static layer (FORMAT.md 7.5, derived once at load)."""
        last = len(self.layers) - 1
        for i, L in enumerate(self.layers):
            if i == last:
                L.logit_scale = [f32(L.s_in * s) for s in L.sw]
                for ls in L.logit_scale:  # FORMAT.md 10, degenerate scales, rule 3
                    if not MIN_NORMAL <= ls < math.inf:
                        raise FormatError("logit scale %r is not a normal float32" % ls)
                continue
            nxt = self.layers[i + 1]
            L.zp_out = nxt.zp_in
            L.lo_out = max(nxt.qmin, nxt.zp_in) if L.relu else nxt.qmin
            L.hi_out = nxt.qmax
            L.mult, L.shift = [], []
            for s in L.sw:
                real = float(L.s_in) * float(s) / float(nxt.s_in)
                m, sh = quantize_multiplier(real)
                if m == 0:  # FORMAT.md 10, degenerate scales, rule 2
                    raise FormatError("fc%d: requantization multiplier %r flushes to 0" % (i + 1, real))
                L.mult.append(m)
                L.shift.append(sh)

    @staticmethod
    def _accumulate(L, a, zp):
        acc = [0] * L.n_out
        for k, ak in enumerate(a):
            d = ak - zp
            if d:
                acc = [c + d * w for c, w in zip(acc, L.cols[k])]
        return acc

    def forward(self, x):
        if self.mode == "dynamic":
            return self._forward_dynamic(x)
        first = self.layers[0]
        a = quantize_row(x, first.s_in, first.zp_in, first.qmin, first.qmax)
        last = len(self.layers) - 1
        for i, (u, L) in enumerate(zip(self.units, self.layers)):
            out = []
            for row in patches(a, u, L.zp_in):  # padding: the input's zero point (11.3)
                acc = self._accumulate(L, row, L.zp_in)
                v = [c + b for c, b in zip(acc, L.bias)]
                if i == last:
                    y = [f32(f32(float(vo)) * ls) for vo, ls in zip(v, L.logit_scale)]
                    return relu(y) if L.relu else y
                for vo, m, sh in zip(v, L.mult, L.shift):
                    t = 31 - sh
                    r = (((vo * m) >> (t - 1)) + 1) >> 1
                    out.append(clamp(r + L.zp_out, L.lo_out, L.hi_out))
            a = maxpool(out, u)  # on the next unit's input integers (11.3)
        return None

    def _forward_dynamic(self, h):
        for u, L in zip(self.units, self.layers):
            s, zp = choose_affine8(min(h), max(h))
            a = quantize_row(h, s, zp, 0, 255)
            acc = self._accumulate(L, a, zp)
            y = []
            for o in range(L.n_out):
                y.append(f32(f32(f32(float(acc[o])) * f32(s * L.sw[o])) + L.bias[o]))
            h = maxpool(relu(y) if L.relu else y, u)
        return h


# ---------------------------------------------------------------------------------------
# Loading, preprocessing, prediction (FORMAT.md 7.1, 7.7).

def load(path):
    st = SafeTensors(path)
    info = read_info(st)
    kind = info["kind"]
    if kind == "float":
        m = FloatModel(st, info)
    elif kind == "qat":
        m = FloatModel(st, info, simulation=True)
    elif kind == "int":
        m = IntModel(st, info)
    else:
        raise FormatError("kind %r: this reader runs float, qat and int files" % kind)
    m.info = info
    return m


def preprocess(pixels, divisor):
    table = [f32(p / divisor) for p in range(256)]
    return [table[p] for p in pixels]


def argmax(v):
    best = 0
    for i, x in enumerate(v):
        if x > v[best]:
            best = i
    return best


def softmax(logits):
    m = max(logits)
    e = [math.exp(v - m) for v in logits]
    s = 0.0
    for v in e:  # in order, in float64 (not sum(): Python 3.12+ compensates its rounding)
        s += v
    return [f32(v / s) for v in e]


def read_rows(path, fmt, n_in, divisor):
    with open(path, "rb") as fh:
        data = fh.read()
    if fmt == "u8":
        vals = preprocess(data, divisor)
    elif fmt == "f32":
        if len(data) % 4:
            raise SystemExit("%s: %d bytes are not whole float32 values" % (path, len(data)))
        vals = list(struct.unpack("<%df" % (len(data) // 4), data))
    else:
        vals = f32s([float(t) for t in data.decode("ascii").split()])
    if not vals or len(vals) % n_in:
        raise SystemExit("%s: %d values are not whole rows of %d" % (path, len(vals), n_in))
    for v in vals:
        if math.isnan(v) or math.isinf(v):
            raise SystemExit("%s: input value %r" % (path, v))
    return [vals[r * n_in:(r + 1) * n_in] for r in range(len(vals) // n_in)]


def main(argv=None):
    ap = argparse.ArgumentParser(description="Classify images with a tinyq model file (docs/FORMAT.md).")
    ap.add_argument("model")
    ap.add_argument("images")
    ap.add_argument("--input", choices=("u8", "f32", "text"), default="u8",
                    help="u8: raw pixel bytes (default); f32: raw little-endian float32, preprocessed; "
                         "text: decimal numbers, preprocessed")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--logits", action="store_true", help="print the logits as decimals")
    g.add_argument("--hex", action="store_true", help="print the logits as float32 bit patterns")
    ap.add_argument("--probs", action="store_true", help="print the softmax probabilities")
    ap.add_argument("--describe", action="store_true", help="describe the model on stderr")
    args = ap.parse_args(argv)
    try:
        m = load(args.model)
    except (FormatError, KeyError, ValueError, TypeError) as e:
        raise SystemExit("%s: %s" % (args.model, e))
    info = m.info
    if args.describe:
        print("%s: %s, format_version %d, input %s" % (args.model, m.name, info["version"], info["input"]), file=sys.stderr)
        for i, u in enumerate(info["units"]):
            print("  fc%d: %s %s -> %s, weights [%d, %d]%s%s%s" % (
                i + 1, u.kind, "x".join(map(str, u.shape)), "x".join(map(str, u.out_shape())), u.n_in, u.n_out,
                " k%d s%d p%d" % (u.k, u.s, u.p) if u.kind == "conv2d" else "", " bn" if u.bn else "",
                " relu" if u.relu else ""), file=sys.stderr)
    rows = read_rows(args.images, args.input, info["n_in"], info["input"]["pixel_divisor"])
    out = sys.stdout
    for x in rows:
        logits = m.forward(x)
        fields = [str(argmax(logits))]
        if args.logits:
            fields += ["%.9g" % v for v in logits]
        if args.hex:
            fields += ["%08x" % bits(v) for v in logits]
        if args.probs:
            fields += ["%.9g" % p for p in softmax(logits)]
        out.write(" ".join(fields) + "\n")


if __name__ == "__main__":
    main()
