"""The whole machine's RTL through the C++ harness (:mod:`sw.runtime.machine`), talked to
as a host does, with :class:`sw.runtime.hostlink.HostLinkClient` over its transport:
random data written to the framebuffer reads back equal; STATUS is idle after a reset; a
bad CRC and a READ past the end are NAKed by name and the link works on; the answers to
a random mix of requests, good and bad, equal the golden model's byte for byte; a RUN of
a command list copies words into a core's MEM and back; several frames sent at once are
answered in order; a timeout and every bad argument raise.

The harness library is built once per module (``sim``; reused from
``build/runtime/machine_sim`` when nothing changed). Random data comes from the session
seed (tb/conftest.py), printed by each test that uses it.
"""

import random

import pytest

from rtl.spec.config import get_config
from rtl.spec.framebuffer import FbOp, encode
from sw.golden.hostlink import (HostLinkModel, Nak, State, build_frame, cobs_decode,
                                cobs_encode, info_request, read_request, status_request,
                                write_request)
from sw.runtime.hostlink import HostLinkClient, HostLinkNak, model_transport
from sw.runtime.machine import MAX_DATA, RtlError, RtlTimeout, VerilatedMachine

FB_BYTES = get_config("sim").framebuffer_bytes


@pytest.fixture(scope="module")
def machine():
    with VerilatedMachine("sim") as m:
        yield m


@pytest.fixture
def fresh(machine):
    """The module's machine, reset before the test."""
    machine.reset()
    return machine


def client(machine):
    return HostLinkClient(*machine.transport(), max_data=machine.max_data)


def test_write_read(fresh, seed):
    print(f"seed {seed}")
    rng = random.Random(seed)
    c = client(fresh)
    # Aligned and unaligned, both ends of the framebuffer, overlapping pieces.
    addrs = [0, rng.randrange(1, FB_BYTES // 2), FB_BYTES - 4096,
             rng.randrange(FB_BYTES // 2, FB_BYTES - 4096) | 1]
    shadow = bytearray(FB_BYTES)   # (only the bytes written are compared)
    for addr in addrs:
        data = rng.randbytes(4096)
        c.write(addr, data)
        shadow[addr:addr + len(data)] = data
    start = fresh.clocks
    for addr in addrs:
        assert c.read(addr, 4096) == shadow[addr:addr + 4096], \
            f"read-back at {addr:#x} differs (seed {seed})"
    # Short and odd lengths, a byte at a time at the very end.
    for _ in range(20):
        n = rng.randrange(1, MAX_DATA + 1)
        addr = rng.choice(addrs) + rng.randrange(0, 4096 - n + 1)
        assert c.read(addr, n) == shadow[addr:addr + n]
    assert c.read(FB_BYTES - 1, 1) == shadow[-1:]
    assert fresh.clocks > start
    assert not fresh.busy


def test_status_idle_after_reset(fresh):
    c = client(fresh)
    status = c.status()
    assert status.state == State.IDLE and status.error == 0 and status.cycles == 0, status
    c.write(0x100, b"\x01\x02\x03")
    fresh.reset()
    assert client(fresh).status() == (State.IDLE, 0, 0)
    assert client(fresh).read(0x100, 3) == b"\x01\x02\x03"   # reset keeps the memory


def test_bad_crc_nak(fresh, seed):
    print(f"seed {seed}")
    rng = random.Random(seed)
    send, receive = fresh.transport()
    corrupt = [False]

    def bad_send(frame):   # when corrupt: one bit of the frame's CRC flipped
        if corrupt[0]:
            body = bytearray(cobs_decode(frame[:-1]))
            body[-4 + rng.randrange(4)] ^= 1 << rng.randrange(8)
            frame = cobs_encode(body) + b"\x00"
        send(frame)

    c = HostLinkClient(bad_send, receive, max_data=fresh.max_data)
    before = c.read(0x2000, 16)
    corrupt[0] = True
    with pytest.raises(HostLinkNak) as nak:
        c.write(0x2000, b"\xaa" * 16)
    assert nak.value.code == Nak.BAD_CRC
    corrupt[0] = False
    assert c.read(0x2000, 16) == before, "a frame with a bad CRC wrote the memory"
    c.write(0x2000, b"\x55" * 16)
    assert c.read(0x2000, 16) == b"\x55" * 16
    assert c.status().state == State.IDLE


def test_read_past_end_nak(fresh):
    c = client(fresh)
    for addr, n in [(FB_BYTES - 10, 11), (FB_BYTES, 1), (0xFFFF_FFFF, 1)]:
        with pytest.raises(HostLinkNak) as nak:
            c.read(addr, n)
        assert nak.value.code == Nak.ADDRESS, (addr, n)
    end = c.read(FB_BYTES - 10, 10)
    with pytest.raises(HostLinkNak) as nak:
        c.write(FB_BYTES - 2, b"abc")
    assert nak.value.code == Nak.ADDRESS
    assert c.read(FB_BYTES - 10, 10) == end, "a NAKed WRITE wrote the memory"


def test_against_model(fresh, seed):
    """Random requests, good and bad, several frames at a time: the answers equal the
    golden model's byte for byte."""
    print(f"seed {seed}")
    rng = random.Random(seed + 1)
    word = get_config("sim").core.mem_port_bits // 8
    model = HostLinkModel(word, FB_BYTES, MAX_DATA, ident=get_config("sim").ident)
    # The model's memory starts as zeros: begin from a memory in the same state.
    span = 0x800
    client(fresh).write(0, bytes(span))
    HostLinkClient(*model_transport(model), max_data=MAX_DATA).write(0, bytes(span))
    for _ in range(40):
        frames = b""
        for _ in range(rng.randrange(1, 4)):
            addr = rng.randrange(span - MAX_DATA)
            kind = rng.randrange(6)
            if kind == 0:
                payload = write_request(addr, rng.randbytes(rng.randrange(1, MAX_DATA + 1)))
            elif kind == 1:
                payload = read_request(addr, rng.randrange(1, MAX_DATA + 1))
            elif kind == 2:
                payload = rng.choice([status_request(), info_request()])
            elif kind == 3:   # a bad CRC
                payload = read_request(addr, 4)
                frames += cobs_encode(payload + bytes(4)) + b"\x00"
                continue
            elif kind == 4:   # an unknown command
                payload = bytes([0x7F]) + rng.randbytes(4)
            else:             # garbage (a frame of random non-zero bytes)
                frames += bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 9)))
                frames += b"\x00"
                continue
            frames += build_frame(payload)
            if rng.randrange(4) == 0:
                frames += b"\x00"   # an empty frame: no answer
        expected = model.feed(frames)
        assert fresh.transfer(frames) == expected, f"answers differ (seed {seed})"


def test_run_copies_through_a_core(fresh, seed):
    """A RUN of a command list that copies words into a core's MEM and back (through the
    framebuffer engine and the core's host port) ends DONE, the words arriving intact."""
    print(f"seed {seed}")
    rng = random.Random(seed + 2)
    word = get_config("sim").core.mem_port_bits // 8
    c = client(fresh)
    data = rng.randbytes(8 * word)
    src, dst, entry = 0x4000, 0x5000, 0x6000
    core = rng.randrange(get_config("sim").cores)
    commands = [encode(FbOp.COPY_IN, core=core, count=8, fb=src // word, mem=0x100),
                encode(FbOp.COPY_OUT, core=core, count=8, fb=dst // word, mem=0x100),
                encode(FbOp.END)]
    c.write(src, data)
    c.write(dst, bytes(len(data)))
    c.write(entry, b"".join(f.to_bytes(word, "little") for cmd in commands for f in cmd))
    c.run(entry)
    for _ in range(100):
        status = c.status()
        if status.state != State.RUNNING:
            break
    assert status.state == State.DONE and status.error == 0, status
    assert status.cycles > 0
    assert c.read(dst, len(data)) == data
    assert not fresh.busy and fresh.error == 0


def test_transport_queues_answers(fresh):
    send, receive = fresh.transport()
    send(build_frame(status_request()))
    send(build_frame(read_request(0, 2)))
    first, second = receive(), receive()
    assert first.endswith(b"\x00") and second.endswith(b"\x00")
    assert first == build_frame(bytes([0x06, 0x04, 0, 0, 0, 0, 0, 0]))
    with pytest.raises(RtlError, match="no request"):
        receive()


def test_timeout_and_reset(fresh):
    with pytest.raises(RtlTimeout, match="reset"):
        fresh.transfer(b"\x02\x01\x01", max_cycles=1000)   # no delimiter: no answer
    fresh.reset()
    with pytest.raises(RtlTimeout):
        fresh.transfer(b"\x00\x00", max_cycles=1000)       # empty frames: no answer
    fresh.reset()
    assert client(fresh).status().state == State.IDLE


def test_bad_arguments(fresh):
    with pytest.raises(TypeError, match="data"):
        fresh.transfer("text")
    with pytest.raises(ValueError, match="empty"):
        fresh.transfer(b"")
    with pytest.raises(ValueError, match="max_cycles"):
        fresh.transfer(b"\x00", max_cycles=0)
    with pytest.raises(TypeError, match="max_cycles"):
        fresh.transfer(b"\x00", max_cycles=1.5)
    with pytest.raises(ValueError, match="n must"):
        fresh.idle(-1)
    send, _ = fresh.transport()
    with pytest.raises(TypeError, match="data"):
        send([1, 2])
    with pytest.raises(ValueError, match="config"):
        VerilatedMachine("nope")
    with pytest.raises(ValueError, match="northpole"):
        VerilatedMachine("northpole")
    with pytest.raises(TypeError, match="config"):
        VerilatedMachine(3)
    with pytest.raises(ValueError, match="max_cycles"):
        VerilatedMachine("sim", max_cycles=0)


def test_close():
    m = VerilatedMachine("sim")
    m.idle(10)
    assert m.clocks >= 10
    m.close()
    m.close()
    with pytest.raises(ValueError, match="closed"):
        _ = m.clocks
    with pytest.raises(ValueError, match="closed"):
        m.transfer(b"\x00")
