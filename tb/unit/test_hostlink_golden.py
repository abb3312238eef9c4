# amaranth: UnusedElaboratable=no
"""The host link's golden model and client (``sw/golden/hostlink.py``,
``sw/runtime/hostlink.py``) on their own: COBS against published vectors and round trips,
CRC-32 against zlib, Amaranth's catalog and the RTL's CRC appender, frames, the client over
the model, and every parameter rejection."""

import random
import zlib

import pytest
from amaranth.lib.crc import catalog
from amaranth.sim import Simulator

import rtl.top.hostlink as rtl_hostlink
import sw.golden.hostlink as golden
import sw.runtime.hostlink as client_module
from rtl.top.hostlink import CrcAppender, HostLink
from sw.golden.hostlink import (ACK, NAK, Cmd, CobsError, FrameError, HostLinkModel, Nak,
                                State, build_frame, check_params, cobs_decode, cobs_encode,
                                crc32, info_request, parse_frame, read_request, run_request,
                                status_request, write_request)
from sw.runtime.hostlink import (HostLinkClient, HostLinkError, HostLinkNak, describe_ident,
                                 model_transport)


def rng_for(seed, salt):
    print(f"seed {seed} (rerun with --seed {seed} or SEED={seed})")
    return random.Random(f"{seed}:{salt}")


@pytest.mark.parametrize("module", [golden, client_module, rtl_hostlink])
def test_all_names_exist(module):
    for name in module.__all__:
        assert hasattr(module, name), name


# The examples of the COBS paper's successor on Wikipedia ("Consistent Overhead Byte
# Stuffing", Encoding examples), delimiters left off.
_R = bytes(range(1, 255))
COBS_VECTORS = [
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (_R, b"\xff" + _R),
    (b"\x00" + _R, b"\x01\xff" + _R),
    (_R + b"\xff", b"\xff" + _R + b"\x02\xff"),
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01"),
    (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01"),
]


@pytest.mark.parametrize("raw, encoded", COBS_VECTORS, ids=range(len(COBS_VECTORS)))
def test_cobs_vectors(raw, encoded):
    assert cobs_encode(raw) == encoded
    assert cobs_decode(encoded) == raw


def test_cobs_round_trip(seed):
    rng = rng_for(seed, "cobs")
    cases = [b"", bytes(253), bytes([7]) * 253, bytes([7]) * 254, bytes([7]) * 255,
             bytes([7]) * 508, bytes([7]) * 509, bytes([7]) * 254 + b"\x00",
             b"\x00" + bytes([9]) * 254, bytes([9]) * 254 + b"\x00" + bytes([9]) * 254]
    for _ in range(2000):
        n = rng.choice([rng.randrange(20), rng.randrange(250, 260), rng.randrange(600)])
        p_zero = rng.choice([0.0, 0.01, 0.3, 1.0])
        cases.append(bytes(0 if rng.random() < p_zero else rng.randrange(1, 256)
                           for _ in range(n)))
    for raw in cases:
        enc = cobs_encode(raw)
        assert 0 not in enc, raw.hex()
        assert len(enc) <= len(raw) + len(raw) // 254 + 1
        assert cobs_decode(enc) == raw, raw.hex()


@pytest.mark.parametrize("bad", [b"\x00", b"\x03\x11", b"\x03\x00\x11", b"\x02", b"\xff\x01"])
def test_cobs_decode_rejects(bad):
    with pytest.raises(CobsError):
        cobs_decode(bad)


def test_crc32(seed):
    rng = rng_for(seed, "crc")
    ethernet = catalog.CRC32_ETHERNET(data_width=8)
    assert crc32(b"123456789") == 0xCBF43926   # the catalog's check value
    for _ in range(300):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(300)))
        assert crc32(data) == zlib.crc32(data) == ethernet.compute(data)


def test_rtl_crc_appender(seed):
    """The RTL's CRC appender (Amaranth's CRC32_ETHERNET processor) appends the golden
    CRC, little-endian, frame after frame, with random gaps on both sides."""
    rng = rng_for(seed, "appender")
    frames = [bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))) for _ in range(8)]
    dut = CrcAppender()
    got = []

    async def source(ctx):
        for frame in frames:
            for i, b in enumerate(frame):
                while rng.random() < 0.3:
                    await ctx.tick()
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.p, {"data": b, "last": i == len(frame) - 1})
                await ctx.tick().until(dut.i.ready)
                ctx.set(dut.i.valid, 0)

    async def sink(ctx):
        current = bytearray()
        while len(got) < len(frames):
            ready = rng.random() < 0.7
            ctx.set(dut.o.ready, ready)
            _, _, valid, p = await ctx.tick().sample(dut.o.valid, dut.o.p)
            if ready and valid:
                current.append(p.data)
                if p.last:
                    got.append(bytes(current))
                    current.clear()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source, background=True)
    sim.add_testbench(sink)
    sim.run()
    for frame, out in zip(frames, got, strict=True):
        assert out == frame + zlib.crc32(frame).to_bytes(4, "little")


def test_frames():
    for payload in [b"\x04", write_request(5, b"\x00\x01\x00"), bytes(300)]:
        frame = build_frame(payload)
        assert frame.endswith(b"\x00") and 0 not in frame[:-1]
        assert parse_frame(frame) == payload
        assert parse_frame(frame[:-1]) == payload
    frame = bytearray(build_frame(status_request()))
    frame[1] ^= 0x40
    with pytest.raises(FrameError, match="CRC"):
        parse_frame(frame)
    with pytest.raises(FrameError, match="COBS"):
        parse_frame(b"\x05\x01\x00")
    with pytest.raises(FrameError, match="short"):
        parse_frame(b"\x02\x01\x00")


def test_model_resynchronises():
    """Garbage, a cut frame and a frame with a bad CRC, then a good frame: one answer per
    non-empty frame, the good one's an ACK; nothing written but the good WRITE."""
    model = HostLinkModel(word_bytes=4, mem_bytes=64, max_data=8)
    before = bytes(model.mem)
    good = build_frame(write_request(8, b"\x01\x02"))
    bad_crc = bytearray(build_frame(write_request(0, b"\x09\x09")))
    bad_crc[-2] ^= 1
    stream = b"\x13\x37\x00" + good[:5] + b"\x00" + bytes(bad_crc) + b"\x00\x00" + good
    out = model.feed(stream)
    answers = [parse_frame(f + b"\x00") for f in out.split(b"\x00")[:-1]]
    assert [a[0] for a in answers] == [NAK, NAK, NAK, ACK]
    assert answers[-1] == bytes([ACK, Cmd.WRITE])
    assert model.mem == before[:8] + b"\x01\x02" + before[10:]
    assert model.acked_writes == [(8, b"\x01\x02")]


def test_client_round_trip(seed):
    rng = rng_for(seed, "client")
    model = HostLinkModel(word_bytes=8, mem_bytes=1024, max_data=16, ident=0x123456789ABC)
    client = HostLinkClient(*model_transport(model), max_data=16)
    assert client.status() == (State.IDLE, 0, 0)
    assert client.info() == 0x123456789ABC
    assert describe_ident(client.info()) == \
        "a 188 x 154 array of configuration CRC 0x12345678"
    data = bytes(rng.randrange(256) for _ in range(100))   # split into 7 frames each way
    client.write(300, data)
    assert client.read(300, 100) == data
    assert bytes(model.mem[300:400]) == data
    client.run(0x1234)
    assert model.entries == [0x1234]
    assert client.status().state == State.RUNNING
    for call in (lambda: client.run(1), lambda: client.read(0, 1),
                 lambda: client.write(0, b"\x01")):
        with pytest.raises(HostLinkNak, match="BUSY") as e:
            call()
        assert e.value.code == Nak.BUSY
    assert client.info() == 0x123456789ABC      # answered during a run too
    model.finish_run(999, 3)
    assert client.status() == (State.ERROR, 3, 999)
    with pytest.raises(HostLinkNak, match="ADDRESS"):
        client.read(1020, 5)
    with pytest.raises(HostLinkNak, match="ADDRESS"):
        client.write(1024, b"\x00")


def test_client_rejects_bad_answers():
    answers = [build_frame(bytes([ACK, Cmd.READ])), b"\x05\x01\x00",
               build_frame(bytes([ACK, Cmd.STATUS, 0])), build_frame(bytes([NAK, 0x77]))]
    client = HostLinkClient(lambda data: None, lambda: answers.pop(0))
    with pytest.raises(HostLinkError, match="does not acknowledge"):
        client.run(0)
    with pytest.raises(HostLinkError, match="bad answer"):
        client.status()
    with pytest.raises(HostLinkError, match="answered 1 bytes"):
        client.status()
    with pytest.raises(HostLinkNak, match="unknown code"):
        client.status()


BAD_PARAMS = [
    ({"word_bytes": 3}, "word_bytes"), ({"word_bytes": 0}, "word_bytes"),
    ({"word_bytes": 8.0}, "word_bytes"),
    ({"mem_bytes": 1000}, "mem_bytes"), ({"mem_bytes": 4}, "mem_bytes"),
    ({"mem_bytes": 1 << 33}, "mem_bytes"),
    ({"max_data": 0}, "max_data"), ({"max_data": 1 << 16}, "max_data"),
    ({"max_data": 2.5}, "max_data"),
    ({"word_bytes": True}, "word_bytes"), ({"max_data": True}, "max_data"),
    ({"ident": -1}, "ident"), ({"ident": 1 << 48}, "ident"), ({"ident": 1.0}, "ident"),
    ({"ident": True}, "ident"),
]


@pytest.mark.parametrize("kwargs, name", BAD_PARAMS, ids=[str(k) for k, _ in BAD_PARAMS])
def test_parameter_rejections(kwargs, name):
    params = {"word_bytes": 8, "mem_bytes": 1024, "max_data": 64} | kwargs
    with pytest.raises(ValueError, match=name):
        HostLink(**params)
    with pytest.raises(ValueError, match=name):
        check_params(**params)
    with pytest.raises(ValueError, match=name):
        HostLinkModel(**params)


def test_other_rejections():
    HostLink(word_bytes=1, mem_bytes=1, max_data=1)   # the smallest link is accepted
    with pytest.raises(ValueError, match="init"):
        HostLinkModel(mem_bytes=64, init=bytes(63))
    with pytest.raises(ValueError, match="max_data"):
        HostLinkClient(print, print, max_data=0)
    with pytest.raises(TypeError, match="callables"):
        HostLinkClient(None, print)
    with pytest.raises(RuntimeError, match="no run"):
        HostLinkModel().finish_run(1, 0)


def test_request_encodings():
    """The request layouts of docs/architecture.md, 10, field by field."""
    assert write_request(0x04030201, b"\xaa") == b"\x01\x01\x02\x03\x04\xaa"
    assert read_request(0x10, 0x0102) == b"\x02\x10\x00\x00\x00\x02\x01"
    assert run_request(0xDEADBEEF) == b"\x03\xef\xbe\xad\xde"
    assert status_request() == b"\x04"
    assert info_request() == b"\x05"


def test_smallest_link():
    """With ``max_data`` 1 a READ (7 payload bytes) still fits a frame; a WRITE of two data
    bytes fits it too but is refused (LENGTH), of three is OVERSIZE."""
    model = HostLinkModel(word_bytes=1, mem_bytes=4, max_data=1)
    client = HostLinkClient(*model_transport(model), max_data=1)
    client.write(0, b"\x5a")
    assert client.read(0, 1) == b"\x5a"
    wide = HostLinkClient(*model_transport(model), max_data=3)
    with pytest.raises(HostLinkNak, match="LENGTH"):
        wide.write(0, b"\x01\x02")
    with pytest.raises(HostLinkNak, match="OVERSIZE"):
        wide.write(0, b"\x01\x02\x03")
    assert bytes(model.mem) == b"\x5a\x00\x00\x00"
