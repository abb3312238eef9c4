# amaranth: UnusedElaboratable=no
"""The framebuffer's command encoding, its golden model's refusals and the model image's
size check (the RTL against the model: tb/runtime/test_machine.py)."""

import numpy as np
import pytest

from rtl.framebuffer.framebuffer import Framebuffer
from rtl.spec.config import ArrayConfig, get_config
from rtl.spec.framebuffer import FENCE_QUIET, FIELDS, FbOp, decode, encode
from rtl.spec.isa import PUT_PORTS
from sw.compiler_stub.array import compile_array, machine_image
from sw.compiler_stub.conv import CompileError
from sw.golden.framebuffer import FramebufferModel

from ..net.nets import digits_like

SIM = get_config("sim")
#: A 4 x 4 array of sim cores: flits to its far column take longer than a command fetch.
FAR = ArrayConfig(name="far", rows=4, cols=4, core=SIM.core,
                  framebuffer_bytes=SIM.framebuffer_bytes)


def test_encode_round_trip(seed):
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    for _ in range(200):
        fields = {name: int(rng.integers(0, 1 << width))
                  for name, (_, _, width) in FIELDS.items()}
        a, b = encode(fields.pop("op"), **fields)
        got = decode(a, b)
        assert {k: got[k] for k in fields} == fields


@pytest.mark.parametrize("field, value", [("core", 4096), ("count", 1 << 24), ("fb", -1),
                                          ("mem", 1 << 24), ("count", 1.0), ("core", True),
                                          ("x0", 64), ("y1", -1), ("net", 4)])
def test_encode_rejects(field, value):
    with pytest.raises(ValueError, match=f"command field {field} must be an integer"):
        encode(FbOp.COPY_IN, **{field: value})


def commands(fb, cmds):
    for i, (op, kw) in enumerate(cmds):
        a, b = encode(op, **kw)
        fb.write(16 * i, a.to_bytes(8, "little") + b.to_bytes(8, "little"))


@pytest.mark.parametrize("net", PUT_PORTS)
def test_put_multicast(net, seed):
    """A PUT to a column of the 2 x 2 array over each mesh: after the FENCE the words are
    in both cores of the column at the address given, nowhere else; the PUT takes one
    cycle a word after its first read (the edge takes a flit a cycle), the FENCE at
    least FENCE_QUIET cycles after the last flit left the mesh."""
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    fb = FramebufferModel(SIM)
    data = rng.integers(0, 256, 80, np.uint8).tobytes()
    fb.write(4096, data)
    put = (FbOp.PUT, dict(net=PUT_PORTS.index(net), count=10, fb=4096 // 8, mem=0x300,
                          x0=1, x1=1, y0=0, y1=1))
    commands(fb, [put, (FbOp.END, {})])
    assert fb.run(0) == (4 + 1 + 10 + 4, 0)   # a command fetched and decoded in 4 cycles
    # END does not wait for the meshes: on a 4 x 4 array the last flits to the far column
    # are still on their way when the run ends.
    far = FramebufferModel(FAR)
    far.write(4096, data)
    commands(far, [(FbOp.PUT, dict(put[1], x0=3, x1=3, y0=0, y1=3)), (FbOp.END, {})])
    assert far.run(0) == (4 + 1 + 10 + 4, 0)
    assert not far.array.quiet()
    commands(fb, [put, (FbOp.FENCE, {}), (FbOp.END, {})])
    cycles, error = fb.run(0)
    assert error == 0 and cycles >= 4 + 1 + 10 + 4 + FENCE_QUIET + 4
    assert fb.array.quiet()
    for k, core in enumerate(fb.array.cores):
        got = core.read(0x300, 80)
        assert got == (data if k % 2 == 1 else bytes(80)), k


def test_model_refuses_what_it_does_not_follow():
    fb = FramebufferModel(SIM)
    commands(fb, [(FbOp.WAIT, {})])
    with pytest.raises(NotImplementedError, match="a WAIT without a START"):
        fb.run(0)
    commands(fb, [(FbOp.START, {}), (FbOp.GATHER, dict(count=1)), (FbOp.WAIT, {})])
    with pytest.raises(NotImplementedError, match=r"a GATHER while the cores run \(before a "
                                                  r"WAIT\)"):
        fb.run(0, run_cycles=10, fb_puts=[])
    far = FramebufferModel(FAR)
    commands(far, [(FbOp.PUT, dict(count=4, x0=3, x1=3)), (FbOp.COPY_IN, dict(count=1))])
    with pytest.raises(NotImplementedError, match="a COPY_IN while puts are in flight"):
        far.run(0)
    with pytest.raises(TypeError, match="config must be an ArrayConfig"):
        FramebufferModel(SIM.core)
    with pytest.raises(ValueError, match="run past the framebuffer"):
        fb.write(SIM.framebuffer_bytes - 1, b"12")


def test_image_too_large():
    small = ArrayConfig(name="small", rows=2, cols=2, core=SIM.core, framebuffer_bytes=8192)
    compiled = compile_array(small, digits_like(np.random.default_rng(0)))
    with pytest.raises(CompileError, match=r"the model image needs \d+ bytes of framebuffer, "
                                           r"the small array has 8192: \d+ bytes too many"):
        machine_image(compiled)


@pytest.mark.parametrize("kw, msg", [(dict(fb_bytes=1000), "fb_bytes must be a power of two"),
                                     (dict(word_bytes=4), "word_bytes must be a power of two"),
                                     (dict(cores=0), "cores must be an integer"),
                                     (dict(mem_latency=3), "mem_latency must be 1 or 2"),
                                     (dict(cols=3), "cols must be a positive integer dividing")])
def test_framebuffer_rejects(kw, msg):
    args = dict(fb_bytes=65536, word_bytes=8, cores=4, mem_bytes=32768, mem_latency=1)
    args.update(kw)
    with pytest.raises(ValueError, match=msg):
        Framebuffer(**args)
