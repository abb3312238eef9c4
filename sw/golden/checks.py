"""Checks of user-facing arguments: each returns the value in its exact form or raises a
``TypeError`` (wrong type) or ``ValueError`` (wrong value or shape) whose message names
the argument. Nothing is cast, wrapped or truncated: a float is never taken for an
integer, a bool never for a number, and a bit pattern never wraps to 16 bits.
"""

import numbers

import numpy as np

__all__ = ["integer", "boolean", "integers", "binary16"]


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array" if value.ndim else f"{value.item()!r} ({value.dtype})"
    if isinstance(value, np.generic):
        return f"{value.item()!r} ({value.dtype})"
    return f"{value!r} ({type(value).__name__})"


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def integer(value, name, low=None, high=None):
    """Return ``value`` as an ``int``, from ``low`` to ``high`` (each bound optional).

    Python and numpy integers are accepted; bools and floats (even integral ones) are not.
    """
    if not _is_integer(value):
        raise TypeError(f"{name} must be an integer, not {_describe(value)}")
    value = int(value)
    if low is not None and value < low or high is not None and value > high:
        if high is None:
            bound = "positive" if low == 1 else f"at least {low}"
        elif low is None:
            bound = f"at most {high}"
        else:
            bound = f"from {low} to {high}"
        raise ValueError(f"{name} must be {bound}, not {value}")
    return value


def boolean(value, name):
    """Return ``value`` as a ``bool``; only ``bool`` and ``numpy.bool_`` are accepted."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, not {_describe(value)}")
    return bool(value)


def _array(values, name):
    try:
        return np.asarray(values)
    except ValueError as e:  # ragged nesting
        raise ValueError(f"{name} must be a rectangular array: {e}") from None


def _shape(values, name, shape):
    if shape is None:
        return
    fits = values.ndim == len(shape) and all(
        want is None or got == want for got, want in zip(values.shape, shape, strict=True))
    if not fits:
        text = "(" + ", ".join("*" if n is None else str(n) for n in shape) + \
            ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {text}, not {values.shape}")


def integers(values, name, bits, signed, shape=None):
    """Return ``values`` as an integer array in the ``bits``-bit range.

    Parameters
    ----------
    values : array_like of int
        A numpy integer array or (nested) Python ints; float and bool arrays are rejected.
    name : str
        The argument's name, for messages.
    bits : int
    signed : bool
        Two's complement range ``[-2**(bits-1), 2**(bits-1))``, else ``[0, 2**bits)``.
    shape : tuple or None
        The exact shape; ``None`` in an axis accepts any length.
    """
    values = _array(values, name)
    if not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"{name} must be integers, not {_describe(values)}")
    _shape(values, name, shape)
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if values.size and (values.min() < low or values.max() > high):
        bad = values[(values < low) | (values > high)].flat[0]
        kind = "signed" if signed else "unsigned"
        raise ValueError(f"{name}: value {int(bad)} is outside the {kind} {bits}-bit range "
                         f"[{low}, {high}]")
    return values


def binary16(values, name, shape=None):
    """Return binary16 ``values`` as ``uint16`` bit patterns.

    Two forms are accepted: ``float16`` values (a numpy array or scalar of that dtype),
    and bit patterns as integers from 0 to 0xFFFF (a numpy integer array or scalar, or
    Python ints). Other floats are rejected, not rounded or reinterpreted: round them with
    :func:`sw.golden.fp16.from_float` or ``numpy.float16`` first.

    Parameters
    ----------
    shape : tuple or None
        The exact shape (``()`` for a scalar).
    """
    values = _array(values, name)
    if values.dtype == np.float16:
        bits = values.view(np.uint16)
    elif np.issubdtype(values.dtype, np.integer):
        if values.size and (values.min() < 0 or values.max() > 0xFFFF):
            bad = values[(values < 0) | (values > 0xFFFF)].flat[0]
            raise ValueError(f"{name}: bit pattern {int(bad)} is outside [0, 0xFFFF]")
        bits = values.astype(np.uint16)
    else:
        raise TypeError(f"{name} must be binary16: float16 values or integer bit patterns "
                        f"from 0 to 0xFFFF, not {_describe(values)}")
    _shape(bits, name, shape)
    return bits
