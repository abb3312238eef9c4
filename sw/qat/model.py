"""The digits network, its precision configurations, its float and quantization-aware
forward and backward, and its frozen integer form in the machine's numerics.

Network (``C`` channels, default 16); inputs NCHW, NHWC inside::

    x (N, 1, 8, 8), pixel / 16
    a1 = relu(conv1(x))          3 x 3, pad 1, 1 -> C
    a2 = relu(conv2(a1))         3 x 3, pad 1, C -> C
    a3 = relu(conv3(a2) + a1)    3 x 3, pad 1, C -> C, residual added before requantization
    p  = maxpool2x2(a3)          C x 4 x 4
    logits = fc(flatten(p))      C * 16 -> 10, signed 8-bit output

A configuration gives each layer's ``bits`` (its weights and input activations) and
``out_bits`` (its output activations). The network's input is quantized to conv1's
precision (unsigned); every hidden activation is unsigned (after ReLU), the logits are
signed 8-bit. The machine needs: conv2's bits = conv1's out_bits, conv3's bits = conv2's
out_bits, conv3's out_bits = conv1's out_bits (the residual has the add's output type),
fc's bits = conv3's out_bits (the pool keeps its input's type).
"""

from dataclasses import dataclass

import numpy as np

from sw.golden import fp16 as gfp16

from . import lsq
from .nn import conv2d, conv2d_backward, maxpool2, maxpool2_backward

__all__ = ["LAYERS", "CONFIGS", "QuantConfig", "get_config", "make_config", "input_step",
           "DigitsNet", "QLayer", "QuantizedNet", "integer_forward"]

LAYERS = ("conv1", "conv2", "conv3", "fc")
LN2 = np.log(2.0)


@dataclass(frozen=True)
class QuantConfig:
    """A precision configuration: ``layers`` maps each of :data:`LAYERS` to ``(bits,
    out_bits)``; None for the float network."""
    name: str
    layers: dict = None

    @property
    def quantized(self):
        return self.layers is not None

    def bits(self, layer):
        return self.layers[layer][0]

    def out_bits(self, layer):
        return self.layers[layer][1]


def make_config(name, layers):
    """A checked :class:`QuantConfig` (``layers`` None for float); ``ValueError`` names
    the layer and the rule a wrong configuration breaks."""
    if layers is None:
        return QuantConfig(name, None)
    if not isinstance(layers, dict) or set(layers) != set(LAYERS):
        raise ValueError(f"configuration {name!r}: give (bits, out_bits) for exactly the "
                         f"layers {', '.join(LAYERS)}")
    checked = {}
    for layer in LAYERS:
        pair = layers[layer]
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"configuration {name!r}: {layer} needs (bits, out_bits), not "
                             f"{pair!r}")
        checked[layer] = (lsq.check_bits(pair[0], f"{layer}'s bits"),
                          lsq.check_bits(pair[1], f"{layer}'s out_bits"))
    rules = [("conv2", "bits", "conv1", "out_bits", "conv2 reads conv1's output"),
             ("conv3", "bits", "conv2", "out_bits", "conv3 reads conv2's output"),
             ("conv3", "out_bits", "conv1", "out_bits",
              "the residual (conv1's output) must have the add's output type"),
             ("fc", "bits", "conv3", "out_bits", "fc reads the pooled conv3 output")]
    for a, fa, b, fb, why in rules:
        va = checked[a][0 if fa == "bits" else 1]
        vb = checked[b][0 if fb == "bits" else 1]
        if va != vb:
            raise ValueError(f"configuration {name!r}: {a}'s {fa} ({va}) must equal {b}'s "
                             f"{fb} ({vb}): {why}")
    if checked["fc"][1] != 8:
        raise ValueError(f"configuration {name!r}: the logits (fc's out_bits) are 8 bits, "
                         f"not {checked['fc'][1]}")
    return QuantConfig(name, checked)


#: The configurations of `make train`. int4 keeps conv1 at 8 bits so that the pixels
#: (0..16) enter exactly; everything after conv1 is 4 bits.
CONFIGS = {
    "float": make_config("float", None),
    "int8": make_config("int8", {"conv1": (8, 8), "conv2": (8, 8), "conv3": (8, 8),
                                 "fc": (8, 8)}),
    "int4": make_config("int4", {"conv1": (8, 4), "conv2": (4, 4), "conv3": (4, 4),
                                 "fc": (4, 8)}),
    "mixed": make_config("mixed", {"conv1": (8, 4), "conv2": (4, 2), "conv3": (2, 4),
                                   "fc": (4, 8)}),
}


def get_config(name):
    """The configuration called ``name`` (``ValueError`` listing the known ones)."""
    if not isinstance(name, str) or name not in CONFIGS:
        raise ValueError(f"unknown configuration {name!r}: choose one of "
                         f"{', '.join(CONFIGS)}")
    return CONFIGS[name]


def input_step(bits):
    """The input's power-of-two step for ``bits``-bit unsigned pixels: 1/16 when the
    range holds every pixel (8 bits: the integers are the pixels 0..16 themselves), else
    the finest step whose range holds 16 / 16 = 1.0 (1/8 at 4 bits, 1/2 at 2 bits)."""
    high = lsq.qrange(bits, False)[1]
    return float(max(1.0 / 16.0, 2.0 ** np.ceil(np.log2(1.0 / high))))


_ACT = {"conv1": "sa1", "conv2": "sa2", "conv3": "sa3", "fc": "sl"}
_WSTEP = {"conv1": "sw1", "conv2": "sw2", "conv3": "sw3", "fc": "swf"}
_WEIGHT = {"conv1": "w1", "conv2": "w2", "conv3": "w3", "fc": "wf"}
_BIAS = {"conv1": "b1", "conv2": "b2", "conv3": "b3", "fc": "bf"}


class DigitsNet:
    """The network's parameters (a dict of arrays of ``dtype``: the weights and biases of
    :meth:`init`, plus the log2 steps once quantized) and its forward and backward in its
    current :class:`QuantConfig` (``self.config``; float at first, see
    :meth:`quantize_config`)."""

    def __init__(self, channels=16, seed=0, dtype=np.float32):
        if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) \
                or channels < 1:
            raise ValueError(f"channels must be a positive integer, not {channels!r}")
        self.channels = int(channels)
        self.params = {k: v.astype(dtype) for k, v in
                       self.init(np.random.default_rng(seed)).items()}
        self.dtype = dtype
        self.config = CONFIGS["float"]

    def init(self, rng):
        c = self.channels

        def he(shape, fan_in):
            return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
        return {"w1": he((c, 1, 3, 3), 9), "b1": np.zeros(c),
                "w2": he((c, c, 3, 3), 9 * c), "b2": np.zeros(c),
                "w3": he((c, c, 3, 3), 9 * c) * 0.5, "b3": np.zeros(c),
                "wf": rng.normal(0.0, np.sqrt(1.0 / (16 * c)), (10, 16 * c)),
                "bf": np.zeros(10)}

    def copy(self):
        other = DigitsNet.__new__(DigitsNet)
        other.channels, other.config, other.dtype = self.channels, self.config, self.dtype
        other.params = {k: v.copy() for k, v in self.params.items()}
        return other

    # -- quantization state --------------------------------------------------------------

    def weight_step(self, layer):
        return lsq.weight_step(self.params[_WSTEP[layer]])

    def act_exp(self, layer):
        """log2 of the activation step of ``layer``'s output (conv3's never below
        conv1's: the residual is shifted left into the add, never right)."""
        e = float(np.rint(self.params[_ACT[layer]][0]))
        if layer == "conv3":
            e = max(e, float(np.rint(self.params["sa1"][0])))
        return e

    def act_step(self, layer):
        return float(2.0 ** self.act_exp(layer))

    def quantize_config(self, config, x_calib):
        """Switch to ``config`` and initialize its steps from the current (float)
        weights and a calibration batch ``x_calib``: each weight step per channel and
        each activation step (layer by layer, through the already quantized layers)
        minimizing the squared quantization error."""
        self.config = config
        for layer in LAYERS:
            w = self.params[_WEIGHT[layer]]
            w2 = w.reshape(w.shape[0], -1)
            low, high = lsq.qrange(config.bits(layer), True)
            best = np.full(w2.shape[0], np.inf)
            step = np.ones(w2.shape[0])
            amax = np.abs(w2).max(axis=1) + 1e-12
            for f in np.linspace(0.05, 1.2, 116):
                s = lsq.fp16_value(np.maximum(amax * f / max(high, 1), lsq.MIN_STEP))
                err = ((np.clip(np.rint(w2 / s[:, None]), low, high) * s[:, None] - w2) ** 2
                       ).sum(axis=1)
                better = err < best
                best[better], step[better] = err[better], s[better]
            self.params[_WSTEP[layer]] = np.log2(step).astype(self.dtype)
            self.params[_ACT[layer]] = np.zeros(1, dtype=self.dtype)
        self._forward(x_calib, calibrate=True)

    # -- forward and backward ------------------------------------------------------------

    def forward(self, x):
        """Logits (fake-quantized when the configuration is quantized) and the cache of
        :meth:`backward`."""
        return self._forward(x)

    def _conv_layer(self, layer, a_in, cache, calibrate, residual=None):
        p, cfg = self.params, self.config
        wkey, bkey = _WEIGHT[layer], _BIAS[layer]
        w, b = p[wkey], p[bkey]
        is_fc = layer == "fc"
        if cfg.quantized:
            sw = self.weight_step(layer)
            low, high = lsq.qrange(cfg.bits(layer), True)
            shape = (-1, 1) if is_fc else (-1, 1, 1, 1)
            w, wcache = lsq.lsq_forward(w, sw.reshape(shape).astype(w.dtype), low, high)
            cache[layer + ".w"] = (wcache, sw)
        if is_fc:
            h = a_in @ w.T
            cache[layer + ".x"] = (a_in, w)
        else:
            h, ccache = conv2d(a_in, w, 1)
            cache[layer + ".x"] = ccache
        bshape = (1, -1)
        if residual is not None:
            h = h + residual
        signed = is_fc
        if not cfg.quantized:
            h = h + b.reshape(bshape)
            if signed:
                return h
            cache[layer + ".relu"] = h > 0
            return np.maximum(h, 0.0)
        low, high = lsq.qrange(cfg.out_bits(layer), signed)
        if calibrate:
            self._calibrate_step(layer, h + b.reshape(bshape), low, high)
        s = self.act_step(layer)
        bq = (lsq.fp16_value(b / s) * s).astype(h.dtype)
        h = h + bq.reshape(bshape)
        y, acache = lsq.lsq_forward(h, s, low, high)
        cache[layer + ".a"] = (acache, s, high)
        return y

    def _calibrate_step(self, layer, h, low, high):
        best, best_e = np.inf, 0
        target = h if low < 0 else np.maximum(h, 0.0)
        for e in range(-16, 9):
            err = ((np.clip(np.rint(h / 2.0 ** e), low, high) * 2.0 ** e - target) ** 2
                   ).mean()
            if err < best:
                best, best_e = err, e
        self.params[_ACT[layer]] = np.array([float(best_e)], dtype=self.dtype)

    def _forward(self, x, calibrate=False):
        cfg, cache = self.config, {}
        if cfg.quantized:
            bits = cfg.bits("conv1")
            s = input_step(bits)
            x = lsq.quantize(x, s, *lsq.qrange(bits, False)) * s
        x = np.asarray(x, dtype=self.dtype).transpose(0, 2, 3, 1)  # NHWC inside
        a1 = self._conv_layer("conv1", x, cache, calibrate)
        a2 = self._conv_layer("conv2", a1, cache, calibrate)
        a3 = self._conv_layer("conv3", a2, cache, calibrate, residual=a1)
        pooled, cache["pool"] = maxpool2(a3)
        flat = pooled.transpose(0, 3, 1, 2).reshape(len(x), -1)  # ONNX's (c, h, w) order
        logits = self._conv_layer("fc", flat, cache, calibrate)
        return logits, cache

    def backward(self, dlogits, cache):
        """Gradients of every parameter of the current configuration (a dict)."""
        grads = {}
        d, _ = self._layer_backward("fc", dlogits, cache, grads)
        d = d.reshape(-1, self.channels, 4, 4).transpose(0, 2, 3, 1)
        d = maxpool2_backward(d, cache["pool"])
        d, dres = self._layer_backward("conv3", d, cache, grads)  # dres: into a1
        d, _ = self._layer_backward("conv2", d, cache, grads)
        self._layer_backward("conv1", d + dres, cache, grads, need_dx=False)
        return grads

    def _layer_backward(self, layer, dy, cache, grads, need_dx=True):
        """Gradients of one layer into ``grads``; returns the gradient of its input and
        of its pre-activation sum (the residual's gradient)."""
        cfg = self.config
        is_fc = layer == "fc"
        if cfg.quantized:
            acache, s, high = cache[layer + ".a"]
            n = int(np.prod(dy.shape[1:]))
            dh, ds = lsq.lsq_backward(dy, acache, lsq.grad_scale(n, high))
            grads[_ACT[layer]] = np.array([ds * s * LN2], dtype=self.dtype)
        elif is_fc:
            dh = dy
        else:
            dh = dy * cache[layer + ".relu"]
        grads[_BIAS[layer]] = dh.reshape(-1, dh.shape[-1]).sum(axis=0)
        if is_fc:
            a_in, w = cache[layer + ".x"]
            dw = dh.T @ a_in
            dx = dh @ w
        else:
            dx, dw = conv2d_backward(dh, cache[layer + ".x"], need_dx=need_dx)
        if cfg.quantized:
            wcache, sw = cache[layer + ".w"]
            axes = tuple(range(1, dw.ndim))
            dw, dsw = lsq.lsq_backward(dw, wcache, lsq.grad_scale(dw[0].size, wcache[3]),
                                       step_axes=axes)
            grads[_WSTEP[layer]] = (dsw * sw * LN2).astype(self.dtype)
        grads[_WEIGHT[layer]] = dw
        return dx, dh

    def quantizer_names(self):
        return [_WSTEP[k] for k in LAYERS] + [_ACT[k] for k in LAYERS]

    def freeze(self):
        """The :class:`QuantizedNet` of the current quantized configuration."""
        cfg = self.config
        if not cfg.quantized:
            raise ValueError("the float network has no integer form: quantize it first")
        p = self.params
        layers = []
        in_step, in_signed = input_step(cfg.bits("conv1")), False
        for layer in LAYERS:
            bits, out_bits = cfg.bits(layer), cfg.out_bits(layer)
            sw = self.weight_step(layer)
            w = p[_WEIGHT[layer]]
            shape = (-1,) + (1,) * (w.ndim - 1)
            # As the forward computes it (in the parameters' dtype).
            wq = np.clip(np.rint(w / sw.reshape(shape).astype(w.dtype)),
                         *lsq.qrange(bits, True)).astype(np.int64)
            out_step = self.act_step(layer)
            bias16 = p[_BIAS[layer]].astype(np.float64) / out_step
            bias16 = bias16.astype(np.float16)
            residual, res_shift = None, 0
            if layer == "conv3":
                residual = "a1"
                res_shift = int(self.act_exp("conv3") - self.act_exp("conv1"))
            layers.append(QLayer.build(
                layer, wq, sw, bias16, in_step, in_signed, out_step, bits, out_bits,
                out_signed=layer == "fc", relu=layer != "fc", residual=residual,
                res_shift=res_shift, padding=0 if layer == "fc" else 1))
            in_step = out_step
        return QuantizedNet(self.channels, cfg.name, cfg.bits("conv1"),
                            input_step(cfg.bits("conv1")), layers)


@dataclass(frozen=True)
class QLayer:
    """One layer in the machine's numerics: ``acc = sum(weights * x)`` (int),
    ``v = fp16(acc * 2**-shift)``, ``v = fma(v, scale[c], bias[c])``, ``v = fp16(res *
    2**-res_shift) + v`` with a residual, ReLU if ``relu``, then the ``out_bits``
    integer (round half even, saturate). ``scale[c] = in_step * w_step[c] * 2**shift /
    out_step`` exactly; ``bias`` is binary16 (``float16`` values); the real bias is
    ``bias * out_step``. Weights are (O, C, k, k) for a convolution, (O, F) for fc."""
    name: str
    weights: np.ndarray
    w_step: np.ndarray
    bias: np.ndarray
    scale: np.ndarray
    shift: int
    in_step: float
    in_signed: bool
    out_step: float
    bits: int
    out_bits: int
    out_signed: bool
    relu: bool
    residual: str
    res_shift: int
    padding: int

    @classmethod
    def build(cls, name, wq, w_step, bias16, in_step, in_signed, out_step, bits, out_bits,
              out_signed, relu, residual, res_shift, padding):
        """Chooses ``shift``: the smallest that keeps every possible ``acc * 2**-shift``
        finite in binary16, raised while a scale would be below binary16's normal range;
        checks that every scale is exact in binary16."""
        in_high = max(-lsq.qrange(bits, in_signed)[0], lsq.qrange(bits, in_signed)[1])
        worst = np.abs(wq.reshape(len(wq), -1)).sum(axis=1).max() * in_high
        shift = 0
        while worst * 2.0 ** -shift > 65504:
            shift += 1
        ratio = in_step * w_step / out_step
        while (ratio * 2.0 ** shift).min() < 2.0 ** -14 and shift < 63:
            shift += 1
        scale = ratio * 2.0 ** shift
        if np.any(lsq.fp16_value(scale) != scale) or scale.max() > 65504:
            raise ValueError(f"layer {name}: its scales are not exact binary16 values")
        return cls(name, wq, w_step, bias16, scale.astype(np.float16), shift, in_step,
                   in_signed, out_step, bits, out_bits, out_signed, relu, residual,
                   res_shift, padding)


@dataclass(frozen=True)
class QuantizedNet:
    """The trained network in the machine's numerics: integer weights, binary16 scales
    and biases, power-of-two activation steps. Tensors: ``x`` (the input, ``input_bits``
    unsigned at ``input_step``), ``a1``, ``a2``, ``a3`` (the layers' outputs), ``p``
    (pooled a3) and ``logits``."""
    channels: int
    config: str
    input_bits: int
    input_step: float
    layers: list

    def layer(self, name):
        return next(q for q in self.layers if q.name == name)

    def quantize_input(self, x):
        """Real inputs (pixel / 16) to the input's integers."""
        return lsq.quantize(x, self.input_step, *lsq.qrange(self.input_bits, False)
                            ).astype(np.int64)


def _requantize(q, acc, residual=None):
    """The machine's post-processing of int sums ``acc`` (channels on the last axis)."""
    v = gfp16.from_int32(acc, q.shift)
    v = gfp16.fma(v, q.scale.view(np.uint16), q.bias.view(np.uint16))
    if residual is not None:
        v = gfp16.add(gfp16.from_int32(residual, q.res_shift), v)
    if q.relu:  # the activation unit's ReLU: +0 for every negative input
        v = np.where(v & 0x8000, np.uint16(0), v)
    return gfp16.to_int(v, q.out_bits, q.out_signed)


def integer_forward(qnet, x):
    """Every tensor of ``qnet`` for real inputs ``x`` (N, 1, 8, 8), exactly as the machine
    computes them: int64 arrays, NHWC (the machine's HWC per image); ``logits`` (N, 10)."""
    t = {"x": qnet.quantize_input(x).transpose(0, 2, 3, 1)}
    a = t["x"].astype(np.float64)
    for q, name in zip(qnet.layers[:3], ("a1", "a2", "a3"), strict=True):
        acc, _ = conv2d(a, q.weights.astype(np.float64), q.padding)  # exact: small ints
        res = t[q.residual] if q.residual else None
        t[name] = _requantize(q, np.rint(acc).astype(np.int64), res)
        a = t[name].astype(np.float64)
    t["p"], _ = maxpool2(t["a3"])
    flat = t["p"].transpose(0, 3, 1, 2).reshape(len(x), -1).astype(np.float64)
    fc = qnet.layers[3]
    t["logits"] = _requantize(fc, np.rint(flat @ fc.weights.T.astype(np.float64)
                                          ).astype(np.int64))
    return t
