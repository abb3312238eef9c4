"""Faulty host-link traffic, shared by the link's fault test (``hostlink_tests.py``, on its
test top) and the whole machine's (``tb/runtime/test_machine_faults.py``): frames of every
kind, bad ones among them, and byte noise."""

from sw.golden.hostlink import (Cmd, build_frame, cobs_encode, crc32, info_request,
                                max_frame, read_request, run_request, status_request,
                                write_request)

__all__ = ["noisy", "fault_frame", "GOOD_KINDS"]

#: The frame kinds that are good unless noise hits them.
GOOD_KINDS = ("write", "read", "status", "info", "run")


def noisy(rng, data, p):
    """``data`` with each byte corrupted, dropped, or preceded by an inserted byte, each
    with probability ``p``; return the bytes and whether any fault was applied."""
    out, hit = bytearray(), False
    for b in data:
        r = rng.random()
        if r < p:
            out.append(b ^ rng.randrange(1, 256))
        elif r < 2 * p:
            pass
        elif r < 3 * p:
            out += bytes([rng.randrange(256), b])
        else:
            out.append(b)
            continue
        hit = True
    return bytes(out), hit


def fault_frame(rng, mem, maxd, *, low=0, entry=None):
    """One frame's bytes and its kind (a good kind of :data:`GOOD_KINDS`, or which way it
    is bad), for a link in front of ``mem`` bytes taking ``maxd`` bytes a WRITE or READ.
    Good WRITEs and READs stay at ``low`` and above; a RUN's entry is ``entry(rng)``
    (any 32-bit value by default)."""
    kind = rng.choices(
        ["write", "read", "status", "info", "run", "crc", "unknown", "truncated",
         "oversize", "range", "garbage"], [30, 25, 8, 2, 4, 6, 4, 5, 1, 6, 6])[0]
    if kind == "write":
        n = rng.randint(1, 12)
        return build_frame(write_request(rng.randrange(low, mem - n + 1),
                                         bytes(rng.randrange(256) for _ in range(n)))), kind
    if kind == "read":
        n = rng.randint(1, 12)
        return build_frame(read_request(rng.randrange(low, mem - n + 1), n)), kind
    if kind == "status":
        return build_frame(status_request()), kind
    if kind == "info":
        return build_frame(info_request()), kind
    if kind == "run":
        return build_frame(run_request(entry(rng) if entry else rng.randrange(1 << 32))), kind
    if kind == "crc":
        p = write_request(rng.randrange(low, mem - 4),
                          bytes(rng.randrange(256) for _ in range(4)))
        crc = crc32(p) ^ (1 << rng.randrange(32))
        return cobs_encode(p + crc.to_bytes(4, "little")) + b"\0", kind
    if kind == "unknown":
        c = rng.choice([b for b in range(256) if b not in tuple(Cmd)])
        return build_frame(bytes([c]) + bytes(rng.randrange(256) for _ in range(4))), kind
    if kind == "truncated":
        p = rng.choice([write_request(low, b"\1"), read_request(0, 1), run_request(0)])
        return build_frame(p[:rng.randrange(len(p))]), kind
    if kind == "oversize":
        n = max_frame(maxd) - 4 - 4 + rng.randint(0, 6)  # WRITE header + data > max_data
        return build_frame(write_request(low, bytes(rng.randrange(1, 256)
                                                    for _ in range(n)))), kind
    if kind == "range":
        if rng.random() < 0.5:
            n = rng.randint(1, 12)
            return build_frame(write_request(rng.randint(mem - n + 1, mem + 40), bytes(n))), kind
        return build_frame(read_request(rng.randrange(mem),
                                        rng.choice([0, maxd + 1, min(mem, 0xFFFF)]))), kind
    # garbage: random bytes, a delimiter at the end
    n = rng.randint(1, 24)
    return bytes(rng.randrange(256) for _ in range(n)) + b"\0", kind
