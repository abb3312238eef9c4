"""The core's unified memory: banks of single-port SRAM in one byte address space."""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["mem_port_signature", "UnifiedMemory", "read_stages"]


def mem_port_signature(word_bytes, addr_bits=24, *, ready=False):
    """A requester's port: one word access a cycle; read data the memory's ``latency``
    (1 or 2) cycles later.

    ``addr`` is a byte address (its low bits, inside the word, are ignored); ``mask``
    enables the written bytes. With ``ready`` the port also has ``ready``
    (combinational): the access is served this cycle (a requester that waits for its
    bank)."""
    members = {
        "en":    Out(1),
        "we":    Out(1),
        "addr":  Out(addr_bits),
        "wdata": Out(8 * word_bytes),
        "mask":  Out(word_bytes),
        "rdata": In(8 * word_bytes),
    }
    if ready:
        members["ready"] = In(1)
    return wiring.Signature(members)


def read_stages(m, take, payload, latency, name):
    """Carry a requester's reads to the cycle their data arrives: ``take`` (a read is
    requested this cycle) and ``payload`` (a value: what the read is for) are registered
    ``latency`` times (each stage loads only when the one before is valid).

    Returns ``(valid, value, inflight)``: whether a read's data is on ``rdata`` this cycle,
    its payload, and how many reads are in flight: requested in the last ``latency``
    cycles, the one whose data arrives this cycle included."""
    payload = Value.cast(payload)
    valid, value, valids = take, payload, []
    for k in range(latency):
        v = Signal(name=f"{name}_valid{k + 1}")
        d = Signal(payload.shape(), name=f"{name}_payload{k + 1}", reset_less=True)
        m.d.sync += v.eq(valid)
        with m.If(valid):
            m.d.sync += d.eq(value)
        valid, value = v, d
        valids.append(v)
    inflight = Signal(range(latency + 1), name=f"{name}_inflight")
    m.d.comb += inflight.eq(sum(valids))
    return valid, value, inflight


def _and_or(onehot, values):
    """The value of ``values`` selected by the one-hot ``onehot`` (0 when none is)."""
    width = max(len(Value.cast(v)) for v in values)
    terms = [Mux(onehot[i], v, C(0, width)) for i, v in enumerate(values)]
    result = terms[0]
    for term in terms[1:]:
        result = result | term
    return result


class UnifiedMemory(wiring.Component):
    """``banks`` banks of ``bank_bytes`` bytes, contiguous in one byte address space,
    served to the named ``requesters``, in priority order.

    Each bank performs one access a cycle. When several requesters address one bank in
    the same cycle the first of them in ``requesters`` is served. A requester named in
    ``waiting`` (they come last) has a ``ready`` and waits; for the others ``conflict``
    is raised for that cycle (the compiler's schedule never does this; the testbenches
    check ``conflict``). The served requester is chosen by a one-hot grant formed side by side
    and an AND-OR multiplexer, not by a priority chain through the requesters (an FPGA
    timing fix: docs/fpga.md, "timing closure").

    With ``latency`` 2 every request (the served ones: a waiting requester's only when
    ``ready``) is registered, its bank decoded, before the banks' grants and multiplexers,
    so that the wires from the requesters to the memory and the paths into the block RAMs
    are in different cycles (the FPGA's 50 MHz: docs/fpga.md). A waiting requester's
    ``ready`` is still decided in the request's cycle, and the grants by the same rule, so
    the accesses happen in the order of their requests and a read sees every write
    requested in an earlier cycle; the read data comes a cycle later, and so does
    ``conflict``: it is formed from the registered requests (the cycle after the meeting),
    so that the paths from the requesters end at the register stage.

    Latency: read data arrives on the requester's ``rdata`` ``latency`` cycles after its
    request; a write is done at the end of the request's cycle (``latency`` 1) or of the
    next (2). Throughput: one access per bank a cycle.

    Parameters
    ----------
    word_bytes, bank_bytes, banks : int
    requesters : tuple of str
        The requesters' names, highest priority first; each is a member.
    waiting : tuple of str
        The last of ``requesters``, which wait for their bank: their ports have
        ``ready``.
    latency : int
        Cycles from a read request to its data: 1, or 2 with the register stage.
    held : tuple of str
        Requesters (not waiting ones) whose registered address and data (``latency`` 2)
        load only with their ``en``, as every requester's ``we`` and ``mask`` do: the host
        port, which the framebuffer drives with the same address and data in every core
        of an array, so that synthesis cannot merge the cores' registers of it into one
        whose wires cross the chip (docs/fpga.md, b12g). What a bank does is the same
        either way: a request's payload is used only with its ``en``.

    Members
    -------
    <requester> : In(mem_port_signature(word_bytes, ready=<in waiting>))
        One for each name in ``requesters``.
    conflict : Out(1)
        Two requesters that never wait addressed one bank: in the requests' cycle
        (``latency`` 1) or the cycle after (2).
    """

    def __init__(self, word_bytes, bank_bytes, banks, requesters, waiting=(), *, latency=1,
                 held=()):
        requesters, waiting, held = tuple(requesters), tuple(waiting), tuple(held)
        if type(latency) is not int or latency not in (1, 2):
            raise ValueError(f"latency must be 1 or 2, not {latency!r}")
        self._latency = latency
        if not requesters or len(set(requesters)) != len(requesters) or not all(
                isinstance(name, str) and name.isidentifier() and name != "conflict"
                for name in requesters):
            raise ValueError(f"requesters must be distinct identifiers other than "
                             f"'conflict', not {requesters!r}")
        if waiting != requesters[len(requesters) - len(waiting):]:
            raise ValueError(f"waiting must be the last of the requesters, not {waiting!r}")
        if not set(held) <= set(requesters) - set(waiting):
            raise ValueError(f"held must name requesters that do not wait, not {held!r}")
        self._held = held
        self._waiting = waiting
        self._word  = word_bytes
        self._depth = bank_bytes // word_bytes
        self._banks = banks
        self._requesters = requesters
        members = {name: In(mem_port_signature(word_bytes, ready=name in waiting))
                   for name in requesters}
        members["conflict"] = Out(1)
        super().__init__(members)

    @property
    def requesters(self):
        return self._requesters

    @property
    def latency(self):
        return self._latency

    def elaborate(self, platform):
        m = Module()
        wbits = (self._word - 1).bit_length()
        dbits = (self._depth - 1).bit_length()
        names = self._requesters
        ports = [getattr(self, name) for name in names]
        nwait = len(self._waiting)

        def bank_of(addr):   # (8 bits: a bank's number)
            return addr[wbits + dbits:wbits + dbits + 8]

        # The request's cycle: which requesters ask for each bank, a waiting requester's
        # ``ready``.
        asks = [Cat(p.en & (bank_of(p.addr) == b) for p in ports) for b in range(self._banks)]
        for i, (name, p) in enumerate(zip(names, ports, strict=True)):
            if name in self._waiting:   # served unless an earlier requester has the bank
                m.d.comb += p.ready.eq(~Cat(q.en & (bank_of(q.addr) == bank_of(p.addr))
                                            for q in ports[:i]).any())

        # The requests the banks serve: these, or (latency 2) these registered, a waiting
        # requester's only when ready (so the same one is served a cycle later). A
        # request's ``ask`` has a bit a bank, set for the bank it accesses (none without
        # ``en``); with latency 2 it is registered decoded, so that the banks' grants
        # start from registers.
        if self._latency == 1:
            reqs = [(Cat(a[i] for a in asks), p.we, p.addr, p.wdata, p.mask)
                    for i, p in enumerate(ports)]
        else:
            reqs = []
            for i, (name, p) in enumerate(zip(names, ports, strict=True)):
                ask = Signal(self._banks, name=f"{name}_ask_q")
                we = Signal(name=f"{name}_we_q", reset_less=True)
                addr = Signal(len(p.addr), name=f"{name}_addr_q", reset_less=True)
                wdata = Signal(len(p.wdata), name=f"{name}_wdata_q", reset_less=True)
                mask = Signal(len(p.mask), name=f"{name}_mask_q", reset_less=True)
                go = p.ready if name in self._waiting else 1
                m.d.sync += ask.eq(Cat(a[i] & go for a in asks))
                # ``we`` and ``mask`` load only with ``en``: a put's are constant (1, all
                # ones), and as registers of their own they would be one and the same in
                # every port and every core, merged into one whose fan-out crosses the
                # chip.
                load = [addr.eq(p.addr), wdata.eq(p.wdata)]
                with m.If(p.en):
                    m.d.sync += [we.eq(p.we), mask.eq(p.mask)]
                    if name in self._held:
                        m.d.sync += load
                if name not in self._held:
                    m.d.sync += load
                reqs.append((ask, we, addr, wdata, mask))
        rdatas, conflicts = [], []
        for b in range(self._banks):
            mem = Memory(shape=8 * self._word, depth=self._depth, init=[])
            m.submodules[f"bank{b}"] = mem
            wr = mem.write_port(granularity=8)
            # A bank never reads and writes in one cycle (``rd.en`` is ``~we`` of the one
            # requester served), so either collision rule is right; declared transparent,
            # with both ports on one address, the FPGA flow needs no logic to emulate it
            # (read-first costs a delayed write and a bypass on the read data).
            rd = mem.read_port(transparent_for=(wr,))
            rdatas.append(rd.data)
            requests = Cat(ask[b] for ask, _, _, _, _ in reqs)
            # The conflicts among the requesters that never wait (with latency 2, among
            # the registered requests: a cycle later).
            served = requests[:len(ports) - nwait]
            conflicts.append((served & (served - 1)).any())
            # The first requester wins: a one-hot grant formed side by side, then an
            # AND-OR multiplexer (not a priority chain through the requesters).
            grant = Signal(len(ports), name=f"grant{b}")
            m.d.comb += grant.eq(Cat(requests[i] & ~requests[:i].any() if i else requests[0]
                                     for i in range(len(ports))))
            addr = Signal(dbits, name=f"addr{b}")   # one address for both ports
            m.d.comb += [addr.eq(_and_or(grant, [a[wbits:wbits + dbits]
                                                 for _, _, a, _, _ in reqs])),
                         rd.addr.eq(addr), wr.addr.eq(addr),
                         wr.data.eq(_and_or(grant, [d for _, _, _, d, _ in reqs])),
                         rd.en.eq(_and_or(grant, [~we for _, we, _, _, _ in reqs])),
                         wr.en.eq(_and_or(grant, [Mux(we, mk, 0)
                                                  for _, we, _, _, mk in reqs]))]
        m.d.comb += self.conflict.eq(Cat(conflicts).any())
        # Each requester's read data: from the bank it addressed ``latency`` cycles before.
        for name, p, (_, _, addr, _, _) in zip(names, ports, reqs, strict=True):
            last_bank = Signal(8, name=f"last_bank_{name}")
            m.d.sync += last_bank.eq(bank_of(addr))
            m.d.comb += p.rdata.eq(Array(rdatas)[last_bank])
        return m
