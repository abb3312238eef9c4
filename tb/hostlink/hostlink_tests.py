"""cocotb tests of the host link (:class:`tb.hostlink.top.HostLinkTop`): every answer byte
the RTL sends compared with :class:`sw.golden.hostlink.HostLinkModel`, under random gaps
on ``rx`` and random backpressure on ``tx``.

Every random choice derives from the cocotb seed (``COCOTB_RANDOM_SEED``, the session's
``--seed``/``SEED``). ``HOSTLINK_FAULT_FRAMES`` sets the fault test's frame count (default
10,000); ``HOSTLINK_FAULT_JSON`` the file its counts go to.
"""

import json
import os
import random
from pathlib import Path

import cocotb
from cocotb.triggers import FallingEdge

from sw.golden.hostlink import (ACK, NAK, Cmd, HostLinkModel, Nak, State, build_frame,
                                cobs_encode, crc32, info_request, parse_frame, read_request,
                                run_request, status_request, write_request)

from ..stream import StreamSink, StreamSource, random_pause, run_cycles, start_clock
from .faults import GOOD_KINDS, fault_frame, noisy
from .top import PARAMS, init_bytes

MEM, MAXD = PARAMS["mem_bytes"], PARAMS["max_data"]
FAULT_FRAMES = int(os.environ.get("HOSTLINK_FAULT_FRAMES", "10000"))


def seeded(dut, salt):
    seed = int(os.environ.get("COCOTB_RANDOM_SEED", cocotb.RANDOM_SEED))
    dut._log.info("seed %d (rerun with SEED=%d)", seed, seed)
    return random.Random(f"{seed}:{salt}")


def split_frames(data):
    """The 0x00-terminated frames of ``data`` (a trailing partial one as is)."""
    frames, start = [], 0
    for i, b in enumerate(data):
        if b == 0:
            frames.append(bytes(data[start:i + 1]))
            start = i + 1
    if start < len(data):
        frames.append(bytes(data[start:]))
    return frames


def describe(frame):
    try:
        p = parse_frame(frame)
    except ValueError as e:
        return f"{frame.hex()} ({e})"
    if p[0] == NAK and len(p) == 2:
        try:
            return f"NAK {Nak(p[1]).name}"
        except ValueError:
            return f"NAK {p[1]:#x}"
    return f"{p.hex()}"


class LinkEnv:
    """The test top, its two stream agents and the golden model.

    Args:
        dut: The cocotb top handle.
        rng: The test's random source (stalls).
        stall: Probability of an ``rx`` gap and of ``tx`` backpressure in a cycle.
    """

    def __init__(self, dut, rng, stall):
        self.dut = dut
        self.source = StreamSource(dut, "rx", random_pause(rng, stall) if stall else None)
        self.sink = StreamSink(dut, "tx", random_pause(rng, stall) if stall else None)
        self.agents = [self.source, self.sink]
        self.model = HostLinkModel(**PARAMS, init=init_bytes(MEM))
        self.cycle = 0

    async def start(self):
        self.dut.hold.value = 1
        self.dut.run_cycles.value = 1
        self.dut.run_error.value = 0
        await start_clock(self.dut)

    async def exchange(self, data, frames=1, label=""):
        """Send ``data`` (``frames`` frames' worth), wait for the answer the model gives,
        compare byte for byte. At most 60 cycles per byte in or out, and 300 per frame, may
        pass (no input may hang the link); 4 cycles more must bring no stray byte."""
        data = bytes(data)
        expected = self.model.feed(data)
        first = len(self.sink.items)
        self.source.send(data)
        bound = 60 * (len(data) + len(expected)) + 300 * frames
        try:
            self.cycle = await run_cycles(
                self.dut.clk, self.agents,
                lambda c: self.source.idle and len(self.sink.items) - first >= len(expected),
                max_cycles=bound, start=self.cycle)
        except TimeoutError:
            raise AssertionError(f"{label}: the link hung: {self.source.sent} bytes taken, "
                                 f"{len(self.sink.items) - first} of {len(expected)} answer "
                                 f"bytes in {bound} cycles; sent {data.hex()}") from None
        self.cycle = await run_cycles(self.dut.clk, self.agents,
                                      lambda c, end=self.cycle + 4: c >= end,
                                      max_cycles=4, start=self.cycle)
        got = bytes(self.sink.items[first:])
        if got != expected:
            raise AssertionError(
                f"{label}: answer differs from the model's\n sent {data.hex()}\n"
                f" got      {[describe(f) for f in split_frames(got)]}\n"
                f" expected {[describe(f) for f in split_frames(expected)]}")
        return expected

    async def request(self, payload, label=""):
        """Send one frame; return its answer payload (checked against the model's)."""
        answer = await self.exchange(build_frame(payload), label=label)
        return parse_frame(answer)

    async def writable(self):
        """Wait for the next falling edge (after an exchange, cocotb is in the read-only
        phase); both streams are idle there."""
        await FallingEdge(self.dut.clk)
        self.cycle += 1

    async def finish_run(self, cycles, error):
        """Let the run in progress end, reporting ``cycles`` and ``error``."""
        dut = self.dut
        await self.writable()
        dut.run_cycles.value = cycles
        dut.run_error.value = error
        dut.hold.value = 0
        for _ in range(cycles + 10):
            await FallingEdge(dut.clk)
            self.cycle += 1
            if not dut.busy.value:
                break
        assert not dut.busy.value, f"the run did not end after {cycles + 10} cycles"
        dut.hold.value = 1
        self.model.finish_run(cycles, error)

    def check_runs(self):
        runs, entries = self.dut.runs.value.to_unsigned(), self.model.entries
        assert runs == len(entries), f"{runs} starts, {len(entries)} RUNs acknowledged"
        if entries:
            last = self.dut.last_entry.value.to_unsigned()
            assert last == entries[-1], f"entry {last:#x}, expected {entries[-1]:#x}"

    async def read_all(self, label):
        """Read the whole memory through the link (checked against the model)."""
        out = bytearray()
        for addr in range(0, MEM, MAXD):
            answer = await self.request(read_request(addr, min(MAXD, MEM - addr)), label)
            out += answer[2:]
        return bytes(out)


def nak_of(answer):
    return Nak(answer[1]) if answer[0] == NAK else None


@cocotb.test()
@cocotb.parametrize(stall=[0.0, 0.3])
async def test_protocol(dut, stall):
    """Every command and every NAK code, the ends of the address range, the largest frames
    (with and without zeros: COBS blocks of 254 bytes), run control."""
    rng = seeded(dut, f"protocol:{stall}")
    env = LinkEnv(dut, rng, stall)
    await env.start()
    req = env.request

    def expect(answer, code, what):
        got = nak_of(answer)
        assert got == code, f"{what}: {got} ({answer.hex()}), expected {code}"

    # STATUS at reset; INFO: the ident's 6 bytes (one of them zero)
    a = await req(status_request(), "status at reset")
    assert a[:3] == bytes([ACK, Cmd.STATUS, State.IDLE]), a.hex()
    a = await req(info_request(), "info")
    assert a == bytes([ACK, Cmd.INFO]) + PARAMS["ident"].to_bytes(6, "little"), a.hex()
    # Writes and reads at the ends of the memory, aligned and not, every length up to a word+
    for addr, n in [(0, 1), (1, 7), (7, 9), (MEM - 1, 1), (MEM - 9, 9), (MEM - MAXD, MAXD),
                    (0, MAXD), (3, MAXD), (MEM // 2 + 5, 17)]:
        data = bytes(rng.randrange(256) for _ in range(n))
        expect(await req(write_request(addr, data), f"write {addr}+{n}"), None, "write")
        back = await req(read_request(addr, n), f"read {addr}+{n}")
        assert back[2:] == data, f"read-back at {addr}+{n}: {back[2:].hex()} != {data.hex()}"
    # Largest frames: all non-zero (254-byte COBS blocks), all zero, runs around 254
    for data in [bytes(rng.randrange(1, 256) for _ in range(MAXD)), bytes(MAXD),
                 bytes([1] * 249 + [0] + [2] * 6), bytes([3] * 254 + [0] + [4])]:
        data = data[:MAXD]
        expect(await req(write_request(MEM - len(data), data), "max write"), None, "max write")
        expect(await req(read_request(MEM - len(data), len(data)), "max read"), None, "read")
    # Address and length outside the memory
    for addr, n in [(MEM - 3, 4), (MEM, 1), (0xFFFFFFFF, 1), (0xFFFFFF00, MAXD)]:
        expect(await req(write_request(addr, bytes(n)), "write out"), Nak.ADDRESS, "write out")
        expect(await req(read_request(addr, n), "read out"), Nak.ADDRESS, "read out")
    expect(await req(read_request(0, 0), "read 0"), Nak.LENGTH, "read length 0")
    expect(await req(read_request(0, MAXD + 1), "read long"), Nak.LENGTH, "read too long")
    for p in [status_request() + b"\x00", info_request() + b"\x01", run_request(1) + b"\x00",
              read_request(0, 1) + b"\x01"]:
        expect(await req(p, "extra"), Nak.LENGTH, f"extra bytes {p.hex()}")
    for p in [b"\x01\x00\x00\x00\x00", b"\x02\x00\x00\x00\x00\x01", b"\x03\x00\x00", b""]:
        expect(await req(p, "short"), Nak.TRUNCATED, f"short {p.hex()}")
    for c in [0x00, 0x06, 0x07, 0x15, 0x80, 0xFF]:
        expect(await req(bytes([c, 1, 2, 3, 4]), "unknown"), Nak.UNKNOWN, f"command {c:#x}")
    # Oversize: one data byte too many; the largest decoded frame plus one
    expect(await req(write_request(0, bytes(MAXD + 1)), "oversize"), Nak.OVERSIZE, "oversize")
    # Bad CRC, bad framing, too few bytes for a CRC: built by hand
    p = write_request(0, b"\x55\x66")
    bad = cobs_encode(p + (crc32(p) ^ 1 << rng.randrange(32)).to_bytes(4, "little")) + b"\0"
    expect(parse_frame((await env.exchange(bad, label="bad crc"))), Nak.BAD_CRC, "bad CRC")
    for raw in [b"\x05\x01\x02\x00", b"\x01\x00", b"\x03\x04\x00", b"\xff\x01\x00"]:
        answer = parse_frame(await env.exchange(raw, label=f"raw {raw.hex()}"))
        assert nak_of(answer) is not None, f"{raw.hex()}: {answer.hex()}"
    # Empty frames (back-to-back delimiters) get no answer
    assert await env.exchange(b"\x00\x00\x00", 0, "empty") == b""
    # Run control
    entry = rng.randrange(1 << 32)
    expect(await req(run_request(entry), "run"), None, "run")
    env.check_runs()
    a = await req(status_request(), "status running")
    assert a[2] == State.RUNNING, a.hex()
    for p in [run_request(0), read_request(0, 1), write_request(0, b"\x01")]:
        expect(await req(p, "busy"), Nak.BUSY, f"{Cmd(p[0]).name} during a run")
    a = await req(info_request(), "info running")
    assert a == bytes([ACK, Cmd.INFO]) + PARAMS["ident"].to_bytes(6, "little"), a.hex()
    cycles = rng.randrange(1, 200)
    await env.finish_run(cycles, 0)
    a = await req(status_request(), "status done")
    assert a[2:] == bytes([State.DONE, 0]) + cycles.to_bytes(4, "little"), a.hex()
    expect(await req(run_request(entry ^ 0xFFFF), "run 2"), None, "second run")
    env.check_runs()
    await env.finish_run(7, 0x2A)
    a = await req(status_request(), "status error")
    assert a[2:] == bytes([State.ERROR, 0x2A]) + (7).to_bytes(4, "little"), a.hex()
    # A run that ends by itself (hold low)
    await env.writable()
    dut.hold.value = 0
    dut.run_cycles.value = 3
    dut.run_error.value = 0
    expect(await req(run_request(5), "free run"), None, "free run")
    env.model.finish_run(3, 0)   # over by the time the ACK has been sent
    a = await req(status_request(), "status free run")
    assert a[2:] == bytes([State.DONE, 0]) + (3).to_bytes(4, "little"), a.hex()
    await env.writable()
    dut.hold.value = 1
    env.check_runs()
    missed = [c.name for c in Nak if env.model.naks[c] == 0]
    assert not missed, f"NAK codes never produced: {missed}"
    mem = await env.read_all("read-back")
    assert mem == bytes(env.model.mem), "memory differs from the model's"
    dut._log.info("protocol, stalls %.1f: %d frames in %d cycles", stall, env.model.frames,
                  env.cycle)


@cocotb.test()
async def test_faults(dut):
    """Frames corrupted, dropped and inserted at 1e-3 a byte among bad frames of every kind
    and garbage, in groups of 1 to 6, with runs started and ended between groups: every
    answer byte equals the model's (a NAK or nothing for each bad frame, resynchronised at
    the next delimiter), no group takes more than its cycle bound, and at the end the whole
    memory equals the model's (every acknowledged write, and nothing else)."""
    rng = seeded(dut, "faults")
    env = LinkEnv(dut, rng, 0.25)
    await env.start()
    model = env.model
    fault_frames = noisy_frames = sent = 0
    kinds = {}
    while sent < FAULT_FRAMES:
        group, count = bytearray(), rng.randint(1, 6)
        for _ in range(count):
            frame, kind = fault_frame(rng, MEM, MAXD)
            frame, hit = noisy(rng, frame, 1e-3)
            bad = hit or kind not in GOOD_KINDS
            fault_frames += bad
            noisy_frames += hit
            kinds[kind] = kinds.get(kind, 0) + 1
            group += frame
        sent += count
        await env.exchange(group, count, f"group ending at frame {sent}")
        env.check_runs()
        if model.running and rng.random() < 0.5:
            await env.finish_run(rng.randint(1, 40), rng.choice([0, 0, rng.randrange(256)]))
    # A partial frame may be pending: end it, then let any run end
    await env.exchange(b"\0", 1, "final delimiter")
    if model.running:
        await env.finish_run(1, 0)
    mem = await env.read_all("final read-back")
    bad_writes = sum(a != b for a, b in zip(mem, model.mem, strict=True))
    written = bytearray(init_bytes(MEM))
    for addr, data in model.acked_writes:
        written[addr:addr + len(data)] = data
    assert written == model.mem, "the model's memory is not its acknowledged writes"
    counts = {"fault_frames": fault_frames, "noisy_frames": noisy_frames, "frames": sent,
              "bad_writes": bad_writes,
              "acked_writes": len(model.acked_writes), "answered": model.frames,
              "naks": {c.name: model.naks[c] for c in Nak}, "kinds": kinds,
              "cycles": env.cycle}
    dut._log.info("faults: %s", json.dumps(counts))
    if os.environ.get("HOSTLINK_FAULT_JSON"):
        path = Path(os.environ["HOSTLINK_FAULT_JSON"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(counts, indent=2) + "\n")
    assert bad_writes == 0, f"{bad_writes} memory bytes differ from the acknowledged writes"
