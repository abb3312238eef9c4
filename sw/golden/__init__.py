"""NumPy golden model of the machine, mirroring ``rtl/`` block by block.

The golden model defines the numerics; the RTL is compared against it bit for bit.
"""
