"""The golden VMM against an independent per-element reference, and its stream model."""

import numpy as np
import pytest

from sw.golden.packing import pack, value_range
from rtl.spec.codes import Precision
from sw.golden.vmm import INT32_MAX, INT32_MIN, VMM, Step, Tile


def reference_dot(tile_bytes, act_bytes, psum, bits, act_signed):
    """Plain-Python reference: extract each field bit by bit from the bytes."""
    def field(byte, k, signed):
        value = (int(byte) >> (k * bits)) & ((1 << bits) - 1)
        return value - (1 << bits) if signed and value >> (bits - 1) else value
    out = []
    for r, row in enumerate(tile_bytes):
        total = int(psum[r])
        for c, byte in enumerate(row):
            for k in range(8 // bits):
                total += field(byte, k, True) * field(act_bytes[c], k, act_signed)
        out.append(total)
    return out


@pytest.mark.parametrize("bits", [8, 4, 2])
@pytest.mark.parametrize("act_signed", [True, False])
def test_dot_matches_reference(bits, act_signed, seed):
    rng = np.random.default_rng(seed)
    vmm = VMM(4, 8)
    for _ in range(200):
        data = rng.integers(0, 256, size=(4, 8)).astype(np.uint8)
        acts = rng.integers(0, 256, size=8).astype(np.uint8)
        psum = rng.integers(-1 << 30, 1 << 30, size=4)
        tile = Tile(data, Precision.from_bits(bits), act_signed)
        got = vmm.dot(tile, acts, psum)
        assert got.tolist() == reference_dot(data, acts, psum, bits, act_signed)


def test_overflow_raises_or_wraps():
    vmm = VMM(1, 1)
    tile = Tile.from_weights(np.array([[-128]]), 8, True)
    acts = pack(np.array([-128]), 8, True)
    with pytest.raises(OverflowError):
        vmm.dot(tile, acts, [INT32_MAX])
    assert vmm.dot(tile, acts, [INT32_MAX], wrap=True).tolist() == [INT32_MIN + 16383]
    assert vmm.dot(tile, acts, [INT32_MAX - 16384]).tolist() == [INT32_MAX]


def test_reserved_precision_is_psum():
    vmm = VMM(2, 2)
    tile = Tile(np.full((2, 2), 0x55, dtype=np.uint8), 3, True)
    assert vmm.dot(tile, np.array([7, 9], dtype=np.uint8), [5, -6]).tolist() == [5, -6]


def test_run_follows_last():
    vmm = VMM(1, 1)
    t1 = Tile.from_weights(np.array([[2]]), 8, True)
    t2 = Tile.from_weights(np.array([[-3]]), 8, True)
    steps = [Step(pack(np.array([a]), 8, True), np.array([0]), last)
             for a, last in [(1, False), (2, True), (5, True)]]
    out = vmm.run([t1, t2], steps)
    assert [(r.tolist(), last) for r, last in out] == [([2], False), ([4], True), ([-15], True)]
    with pytest.raises(ValueError, match="more tiles"):
        vmm.run([t1], steps)


def test_rejects_bad_shapes():
    vmm = VMM(2, 4)
    tile = Tile.from_weights(np.zeros((2, 4), dtype=int), 8, True)
    with pytest.raises(ValueError, match=r"activations must be uint8 of shape \(4,\)"):
        vmm.dot(tile, np.zeros(3, dtype=np.uint8), [0, 0])
    with pytest.raises(ValueError, match=r"tile data must be uint8 of shape \(2, 4\)"):
        vmm.dot(Tile(np.zeros((4, 2), dtype=np.uint8), 0, True),
                np.zeros(4, dtype=np.uint8), [0, 0])
    with pytest.raises(ValueError, match="psum must be 2 int32 values"):
        vmm.dot(tile, np.zeros(4, dtype=np.uint8), [0, 1 << 31])


def test_precision_codes():
    assert [(p.value, p.bits) for p in Precision] == [(0, 8), (1, 4), (2, 2)]
    assert [Precision.from_bits(b) for b in (8, 4, 2)] == list(Precision)
    for bad in (1, 16, True, 8.0):
        with pytest.raises(ValueError, match="bits must be one of"):
            Precision.from_bits(bad)
    assert value_range(2, True) == (-2, 1)
