"""The NoC's flit layout and its stream signature.

A packet is one or more flits; the flit with ``last`` set ends it and the next flit on the
same stream is the head of the next packet. Every flit carries the same fields:

==========  =====================  ==================================================
field       bits                   meaning
==========  =====================  ==================================================
``payload`` ``payload_bits``       the data (LSBs of the flat vector)
``dest``    ``2 * (x_bits+y_bits)`` the destination rectangle ``x0..x1`` by ``y0..y1``
                                   (inclusive); read from the head flit only
``last``    1                      end of packet (MSB)
==========  =====================  ==================================================

One core is the rectangle ``x0 == x1, y0 == y1``; a row or a column is a rectangle one
core wide. A rectangle of more than one core (multicast) must be a one-flit packet
(docs/architecture.md, 9.4).
"""

from amaranth.lib import data, stream

__all__ = ["coord_bits", "dest_layout", "flit_layout", "flit_signature"]


def coord_bits(size):
    """Bits of a coordinate in a mesh dimension of ``size`` routers (at least 1)."""
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer, not {size!r}")
    return max(1, (size - 1).bit_length())


def dest_layout(x_bits, y_bits):
    """A destination rectangle: columns ``x0..x1`` and rows ``y0..y1``, inclusive."""
    return data.StructLayout({"x0": x_bits, "x1": x_bits, "y0": y_bits, "y1": y_bits})


def flit_layout(x_bits, y_bits, payload_bits):
    """One flit: ``payload``, ``dest`` (meaningful in a head flit) and ``last``."""
    for name, value in (("x_bits", x_bits), ("y_bits", y_bits), ("payload_bits", payload_bits)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return data.StructLayout({"payload": payload_bits, "dest": dest_layout(x_bits, y_bits),
                              "last": 1})


def flit_signature(x_bits, y_bits, payload_bits):
    """A stream of :func:`flit_layout` flits."""
    return stream.Signature(flit_layout(x_bits, y_bits, payload_bits))
