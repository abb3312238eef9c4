"""The core's unified memory: banks of single-port SRAM in one byte address space."""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["mem_port_signature", "UnifiedMemory"]


def mem_port_signature(word_bytes, addr_bits=24, *, ready=False):
    """A requester's port: one word access a cycle; read data the next cycle.

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

    Latency: read data arrives on the requester's ``rdata`` 1 cycle after its request; a
    write is done at the end of the request's cycle. Throughput: one access per bank a
    cycle.

    Parameters
    ----------
    word_bytes, bank_bytes, banks : int
    requesters : tuple of str
        The requesters' names, highest priority first; each is a member.
    waiting : tuple of str
        The last of ``requesters``, which wait for their bank: their ports have
        ``ready``.

    Members
    -------
    <requester> : In(mem_port_signature(word_bytes, ready=<in waiting>))
        One for each name in ``requesters``.
    conflict : Out(1)
    """

    def __init__(self, word_bytes, bank_bytes, banks, requesters, waiting=()):
        requesters, waiting = tuple(requesters), tuple(waiting)
        if not requesters or len(set(requesters)) != len(requesters) or not all(
                isinstance(name, str) and name.isidentifier() and name != "conflict"
                for name in requesters):
            raise ValueError(f"requesters must be distinct identifiers other than "
                             f"'conflict', not {requesters!r}")
        if waiting != requesters[len(requesters) - len(waiting):]:
            raise ValueError(f"waiting must be the last of the requesters, not {waiting!r}")
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

    def elaborate(self, platform):
        m = Module()
        wbits = (self._word - 1).bit_length()
        dbits = (self._depth - 1).bit_length()
        names = self._requesters
        ports = [getattr(self, name) for name in names]
        bank_of = []
        for name, p in zip(names, ports, strict=True):
            b = Signal(8, name=f"bank_of_{name}")
            m.d.comb += b.eq(p.addr[wbits + dbits:])
            bank_of.append(b)
        last_bank = [Signal(8, name=f"last_bank_{name}") for name in names]
        rdatas = []
        conflicts = []
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
            requests = Cat(p.en & (bank_of[i] == b) for i, p in enumerate(ports))
            served = requests[:len(ports) - len(self._waiting)]   # the ones that never wait
            conflicts.append((served & (served - 1)).any())
            # The first requester wins: a one-hot grant formed side by side, then an
            # AND-OR multiplexer (not a priority chain through the requesters).
            grant = Signal(len(ports), name=f"grant{b}")
            m.d.comb += grant.eq(Cat(requests[i] & ~requests[:i].any() if i else requests[0]
                                     for i in range(len(ports))))
            addr = Signal(dbits, name=f"addr{b}")   # one address for both ports
            m.d.comb += [addr.eq(_and_or(grant, [p.addr[wbits:wbits + dbits] for p in ports])),
                         rd.addr.eq(addr), wr.addr.eq(addr),
                         wr.data.eq(_and_or(grant, [p.wdata for p in ports])),
                         rd.en.eq(_and_or(grant, [~p.we for p in ports])),
                         wr.en.eq(_and_or(grant, [Mux(p.we, p.mask, 0) for p in ports]))]
        for i, (name, p) in enumerate(zip(names, ports, strict=True)):
            if name in self._waiting:   # served unless an earlier requester has the bank
                m.d.comb += p.ready.eq(~Cat(q.en & (bank_of[j] == bank_of[i])
                                            for j, q in enumerate(ports[:i])).any())
        for i, p in enumerate(ports):
            m.d.sync += last_bank[i].eq(bank_of[i])
            m.d.comb += p.rdata.eq(Array(rdatas)[last_bank[i]])
        m.d.comb += self.conflict.eq(Cat(conflicts).any())
        return m
