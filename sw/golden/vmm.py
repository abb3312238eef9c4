"""Golden model of the vector-matrix multiply unit (mirrors ``rtl/vmm``).

The VMM is weight-stationary. A *tile* holds ``rows x cols`` weight bytes: ``rows`` rows of
``cols`` int8, ``2 * cols`` int4 or ``4 * cols`` int2 signed weights, packed as in
:mod:`sw.golden.packing`. Each *step* takes one activation vector of ``cols`` bytes (the
same element counts, signed or unsigned as the tile says) and ``rows`` int32 partial sums,
and produces ``rows`` int32 results::

    result[r] = psum[r] + sum_j weight[r, j] * act[j]

The dot products are exact. The hardware adds modulo 2**32; a result outside the int32
range is an overflow that the compiler must rule out, so the model raises
:class:`OverflowError` unless ``wrap=True`` asks for the hardware's modular result.

At the stream level (:meth:`VMM.run`) tiles are used in the order they arrive; an
activation vector with ``last`` set is the final one served by the current tile, and the
next vector uses the next tile.
"""

from dataclasses import dataclass

import numpy as np

from rtl.spec.codes import RESERVED_PRECISION, Precision

from .packing import pack, unpack

__all__ = ["Tile", "Step", "VMM", "INT32_MIN", "INT32_MAX"]

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


@dataclass(frozen=True)
class Tile:
    """One weight tile as the hardware holds it.

    Attributes
    ----------
    data : numpy.ndarray of uint8, shape (rows, cols)
        Packed weights, row ``r`` is the weight row of output ``r``.
    precision : int
        A :class:`Precision` value, or the reserved encoding 3 (no products).
    act_signed : bool
        Whether the activations this tile serves are signed.
    """

    data: np.ndarray
    precision: int
    act_signed: bool

    @classmethod
    def from_weights(cls, weights, bits, act_signed):
        """Pack a ``(rows, cols * 8 // bits)`` matrix of signed weights into a tile."""
        return cls(pack(weights, bits, signed=True), Precision.from_bits(bits), bool(act_signed))

    def weights(self):
        """Return the logical signed weight matrix (``None`` for the reserved precision)."""
        if self.precision == RESERVED_PRECISION:
            return None
        return unpack(self.data, Precision(self.precision).bits, signed=True)


@dataclass(frozen=True)
class Step:
    """One activation vector with its partial sums.

    Attributes
    ----------
    data : numpy.ndarray of uint8, shape (cols,)
        Packed activations.
    psum : numpy.ndarray of int64, shape (rows,)
        Incoming int32 partial sums.
    last : bool
        The last vector served by the current tile.
    """

    data: np.ndarray
    psum: np.ndarray
    last: bool = False


class VMM:
    """Golden vector-matrix multiply unit.

    Parameters
    ----------
    rows, cols : int
        As in :class:`rtl.vmm.VMM`.
    """

    def __init__(self, rows, cols):
        self.rows = rows
        self.cols = cols

    def check_tile(self, tile):
        if tile.data.shape != (self.rows, self.cols) or tile.data.dtype != np.uint8:
            raise ValueError(f"tile data must be uint8 of shape {(self.rows, self.cols)}, "
                             f"not {tile.data.dtype} {tile.data.shape}")
        if tile.precision not in (*Precision, RESERVED_PRECISION):
            raise ValueError(f"precision must be 0..3, not {tile.precision!r}")

    def dot(self, tile, data, psum, *, wrap=False):
        """Compute one step: ``psum + weights @ activations`` for one activation vector.

        Parameters
        ----------
        tile : Tile
        data : array of uint8, shape (cols,)
            Packed activations.
        psum : array of int, shape (rows,)
            int32 partial sums.
        wrap : bool
            Return results modulo 2**32 (as the hardware adds) instead of raising
            :class:`OverflowError` when a result leaves the int32 range.

        Returns
        -------
        numpy.ndarray of int64, shape (rows,)
        """
        self.check_tile(tile)
        data = np.asarray(data)
        psum = np.asarray(psum, dtype=np.int64)
        if data.shape != (self.cols,) or data.dtype != np.uint8:
            raise ValueError(f"activations must be uint8 of shape {(self.cols,)}, "
                             f"not {data.dtype} {data.shape}")
        if psum.shape != (self.rows,) or psum.min() < INT32_MIN or psum.max() > INT32_MAX:
            raise ValueError(f"psum must be {self.rows} int32 values")
        weights = tile.weights()
        if weights is None:
            result = psum.copy()
        else:
            acts = unpack(data, Precision(tile.precision).bits, signed=tile.act_signed)
            result = psum + weights @ acts
        if wrap:
            return (result - INT32_MIN) % (1 << 32) + INT32_MIN
        if result.min() < INT32_MIN or result.max() > INT32_MAX:
            raise OverflowError("a VMM result leaves the int32 range")
        return result

    def run(self, tiles, steps, *, wrap=False):
        """Model the unit's streams: return ``(results, last)`` for each step, in order.

        Raises
        ------
        ValueError
            If the steps need more tiles than are given.
        """
        tiles = iter(tiles)
        current = None
        out = []
        for step in steps:
            if current is None:
                try:
                    current = next(tiles)
                except StopIteration:
                    raise ValueError("the steps use more tiles than were given") from None
            out.append((self.dot(current, step.data, step.psum, wrap=wrap), bool(step.last)))
            if step.last:
                current = None
        return out
