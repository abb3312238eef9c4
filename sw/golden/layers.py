"""Reference semantics of the layers the compiler maps onto a core: plain numpy over whole
tensors, independent of how the core computes them, with the machine's numerics.

A convolution's int32 sums go to binary16 as ``fp16(acc * 2**-shift)``, then
``fma(value, scale[c], bias[c])`` (one rounding), the activation unit's function, and a
conversion to the output type (round to nearest even, saturate).
"""

from dataclasses import dataclass, field

import numpy as np

from rtl.spec.codes import PRECISIONS, AfuOp

from . import checks, fp16
from .afu import ActivationUnit

__all__ = ["Conv2d", "conv2d_reference", "Pool2d", "pool2d_reference"]


@dataclass(frozen=True)
class Conv2d:
    """A 2-D convolution (a fully connected layer is a 1 x 1 convolution).

    Every field is checked on construction: integers must be Python or numpy integers
    (not floats or bools), flags bools; a wrong type raises ``TypeError``, a wrong value
    ``ValueError``, each naming the field.

    Attributes
    ----------
    in_channels, out_channels, kernel, stride : int
        Positive; ``kernel`` at most 7.
    padding : int
        Zero border of the input, from 0 to ``kernel - 1``.
    bits : int
        Weight and input activation precision: 8, 4 or 2.
    in_signed : bool
        Input activations signed (weights always are).
    out_bits : int
        Output activation precision.
    out_signed : bool
    shift : int
        The int32 sums are scaled by ``2**-shift`` into binary16 (0 to 63).
    activation : AfuOp or None
        An :class:`~rtl.spec.codes.AfuOp` (or its integer value) applied after scale and
        bias, or None.
    act_p0, act_p1 : int
        binary16 parameters of the activation (slope, clamp bounds): a bit pattern (an
        integer from 0 to 0xFFFF) or a ``numpy.float16``, stored as the bit pattern.
    depthwise : bool
        Each output channel sees only its own input channel (``in_channels ==
        out_channels``, weights of shape ``(channels, kernel, kernel, 1)``).
    residual : bool
        Add a residual tensor (the output's shape and type) times ``2**-res_shift`` after
        scale and bias, before the activation.
    res_shift : int
        0 to 63.
    name : str
    """
    in_channels: int
    out_channels: int
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    bits: int = 8
    in_signed: bool = True
    out_bits: int = 8
    out_signed: bool = True
    shift: int = 0
    activation: object = None
    act_p0: int = 0
    act_p1: int = 0
    depthwise: bool = False
    residual: bool = False
    res_shift: int = 0
    name: str = field(default="conv", compare=False)

    def __post_init__(self):
        # Each field in its exact, checked form (frozen: set through object).
        def put(attr, value):
            object.__setattr__(self, attr, value)
        for attr in ("in_channels", "out_channels", "kernel", "stride"):
            put(attr, checks.integer(getattr(self, attr), attr, low=1))
        if self.kernel > 7:
            raise ValueError(f"kernel must be at most 7, not {self.kernel}")
        put("padding", checks.integer(self.padding, "padding"))
        if not 0 <= self.padding < self.kernel:
            raise ValueError(f"padding must be from 0 to kernel - 1 = {self.kernel - 1}, "
                             f"not {self.padding}")
        for attr in ("bits", "out_bits"):
            put(attr, checks.integer(getattr(self, attr), attr))
            if getattr(self, attr) not in PRECISIONS:
                raise ValueError(f"{attr} must be one of {PRECISIONS}, not "
                                 f"{getattr(self, attr)!r}")
        for attr in ("in_signed", "out_signed", "depthwise", "residual"):
            put(attr, checks.boolean(getattr(self, attr), attr))
        for attr in ("shift", "res_shift"):
            put(attr, checks.integer(getattr(self, attr), attr, 0, 63))
        if self.activation is not None:
            try:
                op = checks.integer(self.activation, "activation")
            except TypeError:
                raise TypeError(f"activation must be an AfuOp or None, not "
                                f"{self.activation!r}") from None
            if op not in list(AfuOp):
                raise ValueError(f"activation must be an AfuOp or None, not {op!r}")
            put("activation", AfuOp(op))
        for attr in ("act_p0", "act_p1"):
            put(attr, int(checks.binary16(getattr(self, attr), attr, shape=())))
        if self.depthwise and self.in_channels != self.out_channels:
            raise ValueError(f"a depthwise convolution needs in_channels == out_channels, "
                             f"not {self.in_channels} and {self.out_channels}")
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str, not {self.name!r}")

    @property
    def weight_shape(self):
        """Shape of the layer's weights."""
        k = self.kernel
        return (self.out_channels, k, k, 1 if self.depthwise else self.in_channels)

    def out_size(self, height, width):
        """Output height and width for an input of ``height x width`` (positive integers)."""
        height, width = checks.integer(height, "height", 1), checks.integer(width, "width", 1)
        oh = (height + 2 * self.padding - self.kernel) // self.stride + 1
        ow = (width + 2 * self.padding - self.kernel) // self.stride + 1
        if oh < 1 or ow < 1:
            raise ValueError(f"a {height} x {width} input is smaller than the kernel")
        return oh, ow


def conv2d_reference(layer, x, weights, scale, bias, residual=None):
    """The layer's output for input ``x``.

    Parameters
    ----------
    layer : Conv2d
    x : array of int, shape (H, W, in_channels)
        Integers in the range of ``layer.bits`` and ``layer.in_signed``.
    weights : array of int, shape ``layer.weight_shape``
        Signed ``layer.bits``-bit integers.
    scale, bias : binary16, shape (out_channels,)
        ``float16`` values or integer bit patterns from 0 to 0xFFFF (other floats are
        rejected: see :func:`sw.golden.checks.binary16`).
    residual : array of int, shape (OH, OW, out_channels)
        In the range of ``layer.out_bits`` and ``layer.out_signed``; required when
        ``layer.residual``, else must be None.

    Returns
    -------
    (acc, out) : int64 arrays of shape (OH, OW, out_channels): the exact sums and the
        output activations.

    Raises
    ------
    TypeError, ValueError
        If an argument has the wrong type, shape or range; the message names it.
    """
    if not isinstance(layer, Conv2d):
        raise TypeError(f"layer must be a Conv2d, not {type(layer).__name__}")
    x = checks.integers(x, "x", layer.bits, layer.in_signed,
                        shape=(None, None, layer.in_channels)).astype(np.int64)
    w = checks.integers(weights, "weights", layer.bits, True,
                        shape=layer.weight_shape).astype(np.int64)
    scale = checks.binary16(scale, "scale", shape=(layer.out_channels,))
    bias = checks.binary16(bias, "bias", shape=(layer.out_channels,))
    h, wd, _ = x.shape
    oh, ow = layer.out_size(h, wd)
    if layer.residual:
        residual = checks.integers(residual, "residual", layer.out_bits, layer.out_signed,
                                   shape=(oh, ow, layer.out_channels)).astype(np.int64)
    elif residual is not None:
        raise ValueError("residual must be None: the layer has no residual addition")
    p, s, k = layer.padding, layer.stride, layer.kernel
    xp = np.zeros((h + 2 * p, wd + 2 * p, layer.in_channels), dtype=np.int64)
    xp[p:p + h, p:p + wd] = x
    acc = np.zeros((oh, ow, layer.out_channels), dtype=np.int64)
    for ky in range(k):
        for kx in range(k):
            window = xp[ky:ky + s * (oh - 1) + 1:s, kx:kx + s * (ow - 1) + 1:s]
            if layer.depthwise:
                acc += window * w[:, ky, kx, 0]
            else:
                acc += window @ w[:, ky, kx, :].T
    if acc.min() < -(1 << 31) or acc.max() >= 1 << 31:
        raise OverflowError("the layer's sums leave int32")
    value = fp16.from_int32(acc, layer.shift)
    value = fp16.fma(value, np.broadcast_to(scale, value.shape),
                     np.broadcast_to(bias, value.shape))
    if layer.residual:
        value = fp16.add(fp16.from_int32(residual, layer.res_shift), value)
    if layer.activation is not None:
        afu = ActivationUnit(layer.out_channels)
        value = afu.execute(layer.activation, value, layer.act_p0, layer.act_p1)
    return acc, fp16.to_int(value, layer.out_bits, layer.out_signed)


@dataclass(frozen=True)
class Pool2d:
    """Max or average pooling over ``kernel x kernel`` windows (no padding).

    The maximum is exact. The average sums the window in binary16, row by row, then
    multiplies by ``fp16(1 / kernel**2)``, each step rounded, and converts to the type.
    Input and output share the type: ``bits`` and ``signed``. Fields are checked as
    :class:`Conv2d`'s are.

    Attributes
    ----------
    channels, kernel, stride : int
        Positive; ``kernel`` at most 7.
    kind : str
        ``"max"`` or ``"avg"``.
    bits : int
        8, 4 or 2.
    signed : bool
    name : str
    """
    channels: int
    kernel: int = 2
    stride: int = 2
    kind: str = "max"
    bits: int = 8
    signed: bool = True
    name: str = field(default="pool", compare=False)

    def __post_init__(self):
        def put(attr, value):
            object.__setattr__(self, attr, value)
        if self.kind not in ("max", "avg"):
            raise ValueError(f"kind must be 'max' or 'avg', not {self.kind!r}")
        for attr in ("channels", "kernel", "stride"):
            put(attr, checks.integer(getattr(self, attr), attr, low=1))
        if self.kernel > 7:
            raise ValueError(f"kernel must be at most 7, not {self.kernel}")
        put("bits", checks.integer(self.bits, "bits"))
        if self.bits not in PRECISIONS:
            raise ValueError(f"bits must be one of {PRECISIONS}, not {self.bits!r}")
        put("signed", checks.boolean(self.signed, "signed"))
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str, not {self.name!r}")

    def out_size(self, height, width):
        """Output height and width for an input of ``height x width`` (positive integers)."""
        height, width = checks.integer(height, "height", 1), checks.integer(width, "width", 1)
        oh = (height - self.kernel) // self.stride + 1
        ow = (width - self.kernel) // self.stride + 1
        if oh < 1 or ow < 1:
            raise ValueError(f"a {height} x {width} input is smaller than the kernel")
        return oh, ow

    @property
    def inverse(self):
        """``fp16(1 / kernel**2)`` of the average."""
        return int(fp16.from_float(1.0 / self.kernel ** 2))


def pool2d_reference(pool, x):
    """The pooled tensor of ``x`` (integers of shape (H, W, channels) in the pool's range).

    Raises
    ------
    TypeError, ValueError
        If an argument has the wrong type, shape or range; the message names it.
    """
    if not isinstance(pool, Pool2d):
        raise TypeError(f"pool must be a Pool2d, not {type(pool).__name__}")
    x = checks.integers(x, "x", pool.bits, pool.signed,
                        shape=(None, None, pool.channels)).astype(np.int64)
    oh, ow = pool.out_size(*x.shape[:2])
    s, k = pool.stride, pool.kernel
    taps = [fp16.from_int32(x[ky:ky + s * (oh - 1) + 1:s, kx:kx + s * (ow - 1) + 1:s], 0)
            for ky in range(k) for kx in range(k)]
    if pool.kind == "max":
        acc = taps[0]
        for t in taps[1:]:
            acc = fp16.maximum_number(t, acc)
    else:
        acc = np.zeros_like(taps[0])
        for t in taps:
            acc = fp16.add(t, acc)
        acc = fp16.mul(acc, np.full_like(acc, pool.inverse))
    return fp16.to_int(acc, pool.bits, pool.signed)
