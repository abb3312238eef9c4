"""Reference semantics of the layers the compiler maps onto a core: plain numpy over whole
tensors, independent of how the core computes them, with the machine's numerics.

A convolution's int32 sums go to binary16 as ``fp16(acc * 2**-shift)``, then
``fma(value, scale[c], bias[c])`` (one rounding), the activation unit's function, and a
conversion to the output type (round to nearest even, saturate).
"""

from dataclasses import dataclass, field

import numpy as np

from . import fp16
from .afu import ActivationUnit, AfuOp

__all__ = ["Conv2d", "conv2d_reference"]


@dataclass(frozen=True)
class Conv2d:
    """A 2-D convolution (a fully connected layer is a 1 x 1 convolution).

    Attributes
    ----------
    in_channels, out_channels, kernel, stride, padding : int
    bits : int
        Weight and input activation precision: 8, 4 or 2.
    in_signed : bool
        Input activations signed (weights always are).
    out_bits : int
        Output activation precision.
    out_signed : bool
    shift : int
        The int32 sums are scaled by ``2**-shift`` into binary16 (0 to 63).
    activation : int or None
        An :class:`~sw.golden.afu.AfuOp` applied after scale and bias, or None.
    act_p0, act_p1 : int
        binary16 parameters of the activation (slope, clamp bounds).
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
    name: str = field(default="conv", compare=False)

    def __post_init__(self):
        for attr in ("in_channels", "out_channels", "kernel", "stride"):
            value = getattr(self, attr)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{attr} must be a positive integer, not {value!r}")
        if self.kernel > 7:
            raise ValueError(f"kernel must be at most 7, not {self.kernel}")
        if not 0 <= self.padding < self.kernel:
            raise ValueError(f"padding must be from 0 to kernel - 1 = {self.kernel - 1}, "
                             f"not {self.padding}")
        for attr in ("bits", "out_bits"):
            if getattr(self, attr) not in (8, 4, 2):
                raise ValueError(f"{attr} must be 8, 4 or 2, not {getattr(self, attr)!r}")
        if not 0 <= self.shift <= 63:
            raise ValueError(f"shift must be from 0 to 63, not {self.shift}")
        if self.activation is not None and self.activation not in list(AfuOp):
            raise ValueError(f"activation must be an AfuOp or None, not {self.activation!r}")

    def out_size(self, height, width):
        """Output height and width for an input of ``height x width``."""
        oh = (height + 2 * self.padding - self.kernel) // self.stride + 1
        ow = (width + 2 * self.padding - self.kernel) // self.stride + 1
        if oh < 1 or ow < 1:
            raise ValueError(f"a {height} x {width} input is smaller than the kernel")
        return oh, ow


def conv2d_reference(layer, x, weights, scale, bias):
    """The layer's output for input ``x``.

    Parameters
    ----------
    x : array of int, shape (H, W, in_channels)
    weights : array of int, shape (out_channels, kernel, kernel, in_channels)
    scale, bias : arrays of uint16 (binary16), shape (out_channels,)

    Returns
    -------
    (acc, out) : int64 arrays of shape (OH, OW, out_channels): the exact sums and the
        output activations.
    """
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(weights, dtype=np.int64)
    h, wd, _ = x.shape
    oh, ow = layer.out_size(h, wd)
    p, s, k = layer.padding, layer.stride, layer.kernel
    xp = np.zeros((h + 2 * p, wd + 2 * p, layer.in_channels), dtype=np.int64)
    xp[p:p + h, p:p + wd] = x
    acc = np.zeros((oh, ow, layer.out_channels), dtype=np.int64)
    for ky in range(k):
        for kx in range(k):
            window = xp[ky:ky + s * (oh - 1) + 1:s, kx:kx + s * (ow - 1) + 1:s]
            acc += window @ w[:, ky, kx, :].T
    if acc.min() < -(1 << 31) or acc.max() >= 1 << 31:
        raise OverflowError("the layer's sums leave int32")
    value = fp16.from_int32(acc, layer.shift)
    value = fp16.fma(value, np.broadcast_to(fp16.bits(scale), value.shape),
                     np.broadcast_to(fp16.bits(bias), value.shape))
    if layer.activation is not None:
        afu = ActivationUnit(layer.out_channels)
        value = afu.execute(layer.activation, value, layer.act_p0, layer.act_p1)
    return acc, fp16.to_int(value, layer.out_bits, layer.out_signed)
