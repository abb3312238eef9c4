"""Learned step-size quantization (Esser et al., "Learned Step Size Quantization", ICLR
2020) constrained to the machine's numerics.

A quantizer maps a real tensor ``x`` to ``s * clip(round(x / s), low, high)`` (rounding
half to even, zero point 0). Its backward is LSQ's: the straight-through estimator for the
rounding (``dx = dy`` inside the range, 0 outside), and for the step

    dL/ds = g * sum(dy * (q - x / s))   inside the range,
            g * sum(dy * q)             where clipped (q = low or high),

with the gradient scale ``g = 1 / sqrt(N * Qp)`` (``N`` elements per step: one output
channel's weights, or one sample's activations; ``Qp = high``).

The steps are learned as ``log2 s`` (so Adam moves them by relative amounts and they stay
positive): ``dL/dlog2(s) = dL/ds * s * ln 2``. Two constraints of the machine enter the
forward, each with a straight-through backward:

- an activation step is a power of two, ``s = 2**round(log2 s)``, so that a residual add
  and the requantization scale ``s_x * s_w * 2**shift / s_y`` stay exact;
- a weight step is a binary16 value, ``s = fp16(2**log2 s)`` (normal: at least 2**-14),
  so that the per-channel scale of the machine is exactly ``s_x * s_w * 2**shift / s_y``.
"""

import numpy as np

__all__ = ["qrange", "check_bits", "quantize", "lsq_forward", "lsq_backward",
           "weight_step", "activation_step", "grad_scale", "fp16_value", "MIN_STEP"]

#: The smallest weight step: binary16's smallest normal number.
MIN_STEP = 2.0 ** -14


def check_bits(bits, what="bits"):
    """``bits`` if it is one of the machine's precisions (8, 4, 2), else ``ValueError``."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) \
            or int(bits) not in (8, 4, 2):
        raise ValueError(f"{what} must be 8, 4 or 2 (the machine's precisions), not "
                         f"{bits!r}")
    return int(bits)


def qrange(bits, signed):
    """The integer range ``(low, high)`` of a ``bits``-bit type."""
    bits = check_bits(bits)
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def fp16_value(x):
    """``x`` rounded to binary16 (nearest even), as float64."""
    return np.asarray(x, dtype=np.float64).astype(np.float16).astype(np.float64)


def weight_step(log2_step):
    """Forward value of per-channel weight steps learned as ``log2 s``: binary16, normal."""
    return fp16_value(np.maximum(np.exp2(log2_step), MIN_STEP))


def activation_step(log2_step):
    """Forward value of an activation step learned as ``log2 s``: ``2**round(log2 s)``."""
    return float(np.exp2(np.rint(log2_step)))


def grad_scale(n, high):
    """LSQ's gradient scale ``1 / sqrt(N * Qp)``."""
    return 1.0 / np.sqrt(n * max(high, 1))


def quantize(x, step, low, high):
    """The integers ``clip(round_half_even(x / step), low, high)`` (float64 array)."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) / step), low, high)


def lsq_forward(x, step, low, high):
    """Fake quantization ``step * quantize(x)``; ``step`` a scalar or an array that
    broadcasts against ``x``. Returns the value and the cache of :func:`lsq_backward`."""
    v = x / step
    q = np.clip(np.rint(v), low, high)
    return q * step, (v, q, low, high)


def lsq_backward(dy, cache, g, step_axes=None):
    """LSQ gradients: ``(dx, dstep)``. ``step_axes`` are the axes summed into one step
    (None: all, a per-tensor step); ``g`` the gradient scale."""
    v, q, low, high = cache
    inside = (v >= low) & (v <= high)
    dx = np.where(inside, dy, 0.0)
    local = np.where(inside, q - v, q)
    dstep = (dy * local).sum(axis=step_axes) * g
    return dx, dstep
