"""Host-link faults on the whole sim machine (host link, framebuffer, 2 x 2 array) under
Verilator: the link's fault traffic (tb/hostlink/faults.py: frames corrupted, dropped
and inserted at 1e-3 a byte among bad frames of every kind and garbage) in groups of 1
to 6 frames, with RUNs of real command lists among them: a short one (END), a long one
(copies into every core, about 13,000 cycles, so that the frames after it in its group
meet a run in progress: READ, WRITE and RUN refused, STATUS running) and entries the
engine refuses (not a word's address, past the framebuffer). Every answer byte equals
:class:`sw.golden.hostlink.HostLinkModel`'s, each run's STATUS cycles and error equal
the framebuffer model's, no input hangs the link (every group answered within the
harness's cycle bound), and the framebuffer read back at the end equals the model's
memory: every acknowledged write and nothing else (``hostlink.machine_bad_writes``).

``MACHINE_FAULT_FRAMES`` sets the frame count (default 10,000); ``MACHINE_FAULT_JSON``
the file its counts go to.
"""

import json
import os
import random
from pathlib import Path

from rtl.spec.config import get_config
from rtl.spec.framebuffer import COMMAND_WORDS, FbOp, encode
from sw.golden.framebuffer import FramebufferModel
from sw.golden.hostlink import (HostLinkModel, build_frame, parse_frame, read_request,
                                write_request)
from sw.runtime.machine import VerilatedMachine, _pieces

from ..hostlink.faults import GOOD_KINDS, fault_frame, noisy

CONFIG = get_config("sim")
WORD = CONFIG.core.mem_port_bits // 8
MEM = CONFIG.framebuffer_bytes
MAXD = 256                        # the machine's max_data (rtl/top/machine.py)
FRAMES = int(os.environ.get("MACHINE_FAULT_FRAMES", "10000"))
#: The command lists live below LOW, which no good WRITE touches: SHORT is an END, LONG
#: copies 3,200 words into each core (about 13,000 cycles), then ends.
SHORT, LONG, LOW = 0, 64, 1024


def lists():
    out = bytearray(LOW)

    def put(at, cmds):
        for i, (op, kw) in enumerate(cmds):
            a, b = encode(op, **kw)
            base = at + i * COMMAND_WORDS * WORD
            out[base:base + 8] = a.to_bytes(8, "little")
            out[base + WORD:base + WORD + 8] = b.to_bytes(8, "little")

    put(SHORT, [(FbOp.END, {})])
    put(LONG, [(FbOp.COPY_IN, dict(core=k, count=3200, fb=LOW // WORD, mem=0))
               for k in range(CONFIG.cores)] + [(FbOp.END, {})])
    return bytes(out)


def entry(rng):
    """A RUN's entry: either list, or one the engine refuses at once."""
    return rng.choice([SHORT, LONG, LONG, SHORT + 1 + rng.randrange(WORD - 1),
                       MEM + rng.randrange(1 << 20)])


def test_faults_on_the_machine(seed):
    print(f"seed {seed}")
    counts = run_faults(seed)
    print("machine faults:", json.dumps(counts))
    if os.environ.get("MACHINE_FAULT_JSON"):
        path = Path(os.environ["MACHINE_FAULT_JSON"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(counts, indent=2) + "\n")
    assert counts["bad_writes"] == 0
    assert counts["fault_frames"] >= FRAMES // 4 and counts["busy_frames"] > 0


def run_faults(seed, frames=FRAMES):
    """The fault run of ``frames`` frames from ``seed``; return its counts (the asserts
    on every answer, run and the read-back are inside)."""
    rng = random.Random(f"{seed}:machine-faults")
    init = lists()
    model = HostLinkModel(WORD, MEM, MAXD, ident=CONFIG.ident)
    engine = FramebufferModel(CONFIG)
    engine.write(0, init)
    counts = {"frames": 0, "fault_frames": 0, "noisy_frames": 0, "runs": 0,
              "busy_frames": 0, "kinds": {}}
    with VerilatedMachine("sim", max_cycles=200_000) as machine:
        # the lists, through the link itself (clean frames, checked like any other)
        for at in range(0, LOW, MAXD):
            frame = build_frame(write_request(at, init[at:at + MAXD]))
            assert machine.transfer(frame) == model.feed(frame)
        carry = b""   # bytes the machine has not been given yet: no frame ended in them
        pending = None
        while counts["frames"] < frames:
            group = bytearray()
            for _ in range(rng.randint(1, 6)):
                frame, kind = fault_frame(rng, MEM, MAXD, low=LOW, entry=entry)
                frame, hit = noisy(rng, frame, 1e-3)
                counts["fault_frames"] += hit or kind not in GOOD_KINDS
                counts["noisy_frames"] += hit
                counts["kinds"][kind] = counts["kinds"].get(kind, 0) + 1
                counts["frames"] += 1
                group += frame
            pieces = _pieces(carry + bytes(group))
            skip, carry = len(carry), b""
            for piece in pieces:
                was_running = model.running
                want = model.feed(piece[skip:])   # (the model has had the carry already)
                skip = 0
                if not want:           # no frame ended: the bytes wait for the next group
                    carry = piece
                    continue
                got = machine.transfer(piece)
                assert got == want, (piece.hex(), got.hex(), want.hex())
                if model.running and not was_running:
                    counts["runs"] += 1
                    cycles, error = engine.run(model.entries[-1])
                    if model.entries[-1] == LONG:
                        pending = (cycles, error)
                    else:              # over before the next frame comes in
                        model.finish_run(cycles, error)
                elif model.running:
                    counts["busy_frames"] += 1
            if model.running:   # the long run: let it end, then the model follows
                while machine.busy:
                    assert machine.idle(1000) == 0
                model.finish_run(*pending)
        # end any frame in progress, then read the whole framebuffer back
        tail = b"\0" + build_frame(read_request(0, 1))
        assert machine.transfer(carry + tail) == model.feed(tail)
        got = bytearray()
        for at in range(0, MEM, MAXD):
            request = build_frame(read_request(at, MAXD))
            answer = machine.transfer(request)
            got += parse_frame(answer)[2:]
            assert answer == model.feed(request)
    written = bytearray(MEM)
    for addr, data in model.acked_writes:
        written[addr:addr + len(data)] = data
    assert written == model.mem, "the model's memory is not its acknowledged writes"
    counts["bad_writes"] = sum(a != b for a, b in zip(got, written, strict=True))
    counts["acked_writes"] = len(model.acked_writes)
    counts["naks"] = {code.name: n for code, n in model.naks.items()}
    return counts
