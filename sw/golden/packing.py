"""Packing of int8, int4 and int2 tensors into bytes.

Elements are packed little-endian inside bytes: element 0 of a byte occupies its lowest
``bits`` bits. A tensor of ``n`` elements at ``bits`` bits packs into ``n * bits / 8``
bytes; ``n * bits`` must be a multiple of 8.
"""

import numpy as np

from . import checks

__all__ = ["PRECISIONS", "value_range", "per_byte", "pack", "unpack"]

PRECISIONS = (8, 4, 2)


def _check_bits(bits):
    if checks.integer(bits, "bits") not in PRECISIONS:
        raise ValueError(f"bits must be one of {PRECISIONS}, not {bits!r}")


def value_range(bits, signed):
    """Return the inclusive ``(low, high)`` range of a ``bits``-bit integer."""
    _check_bits(bits)
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def per_byte(bits):
    """Return how many ``bits``-bit elements one byte holds."""
    _check_bits(bits)
    return 8 // bits


def pack(values, bits, signed):
    """Pack integers along the last axis into bytes.

    Parameters
    ----------
    values : array_like of int
        Values along the last axis are packed; its length times ``bits`` must be a multiple
        of 8. Integers only: a float or bool array is rejected, not truncated.
    bits : int
        8, 4 or 2.
    signed : bool
        Whether ``values`` are two's complement (checked against the range).

    Returns
    -------
    numpy.ndarray of uint8
        Shape ``values.shape[:-1] + (values.shape[-1] * bits // 8,)``.

    Raises
    ------
    TypeError
        If ``values`` are not integers, or ``bits`` or ``signed`` has the wrong type.
    ValueError
        If a value is outside the range of the type, or the length does not fill whole
        bytes.
    """
    k = per_byte(bits)
    signed = checks.boolean(signed, "signed")
    values = checks.integers(values, "values", bits, signed)
    if values.ndim == 0:
        raise ValueError("values must have at least one dimension")
    if values.shape[-1] % k:
        raise ValueError(f"the last axis of values ({values.shape[-1]} elements) must be a "
                         f"multiple of {k} to fill whole bytes at {bits} bits")
    fields = (values.astype(np.int64) & ((1 << bits) - 1)).reshape(values.shape[:-1] + (-1, k))
    shifts = np.arange(k, dtype=np.int64) * bits
    return (fields << shifts).sum(axis=-1).astype(np.uint8)


def unpack(data, bits, signed):
    """Unpack bytes along the last axis into integers (the inverse of :func:`pack`).

    Parameters
    ----------
    data : numpy.ndarray of uint8
        At least one dimension.
    bits : int
    signed : bool

    Returns
    -------
    numpy.ndarray of int64
        Shape ``data.shape[:-1] + (data.shape[-1] * 8 // bits,)``.

    Raises
    ------
    TypeError
        If ``data`` is not a uint8 array, or ``bits`` or ``signed`` has the wrong type.
    """
    k = per_byte(bits)
    signed = checks.boolean(signed, "signed")
    data = np.asarray(data)
    if data.dtype != np.uint8:
        raise TypeError(f"data must be uint8 bytes, not {data.dtype}")
    if data.ndim == 0:
        raise ValueError("data must have at least one dimension")
    shifts = np.arange(k, dtype=np.int64) * bits
    fields = (data.astype(np.int64)[..., None] >> shifts) & ((1 << bits) - 1)
    if signed:
        fields = np.where(fields >= 1 << (bits - 1), fields - (1 << bits), fields)
    return fields.reshape(data.shape[:-1] + (-1,))
