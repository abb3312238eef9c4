"""Packing of int8, int4 and int2 tensors into bytes.

Elements are packed little-endian inside bytes: element 0 of a byte occupies its lowest
``bits`` bits. A tensor of ``n`` elements at ``bits`` bits packs into ``n * bits / 8``
bytes; ``n * bits`` must be a multiple of 8.
"""

import numpy as np

__all__ = ["PRECISIONS", "value_range", "per_byte", "pack", "unpack"]

PRECISIONS = (8, 4, 2)


def _check_bits(bits):
    if bits not in PRECISIONS:
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
        of 8.
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
    ValueError
        If a value is outside the range of the type, or the length does not fill whole
        bytes.
    """
    k = per_byte(bits)
    values = np.asarray(values)
    if values.ndim == 0:
        raise ValueError("values must have at least one dimension")
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"values must be integers, not {values.dtype}")
    if values.shape[-1] % k:
        raise ValueError(f"the last axis ({values.shape[-1]} elements) must be a multiple of "
                         f"{k} to fill whole bytes at {bits} bits")
    low, high = value_range(bits, signed)
    if values.size and (values.min() < low or values.max() > high):
        bad = values[(values < low) | (values > high)].flat[0]
        kind = "signed" if signed else "unsigned"
        raise ValueError(f"value {int(bad)} is outside the {kind} {bits}-bit range "
                         f"[{low}, {high}]")
    fields = (values.astype(np.int64) & ((1 << bits) - 1)).reshape(values.shape[:-1] + (-1, k))
    shifts = np.arange(k, dtype=np.int64) * bits
    return (fields << shifts).sum(axis=-1).astype(np.uint8)


def unpack(data, bits, signed):
    """Unpack bytes along the last axis into integers (the inverse of :func:`pack`).

    Returns
    -------
    numpy.ndarray of int64
        Shape ``data.shape[:-1] + (data.shape[-1] * 8 // bits,)``.
    """
    k = per_byte(bits)
    data = np.asarray(data)
    if data.dtype != np.uint8:
        raise ValueError(f"data must be uint8 bytes, not {data.dtype}")
    shifts = np.arange(k, dtype=np.int64) * bits
    fields = (data.astype(np.int64)[..., None] >> shifts) & ((1 << bits) - 1)
    if signed:
        fields = np.where(fields >= 1 << (bits - 1), fields - (1 << bits), fields)
    return fields.reshape(data.shape[:-1] + (-1,))
