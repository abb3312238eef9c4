"""The machine: the array of cores, the framebuffer and the host link."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..framebuffer.framebuffer import Framebuffer
from ..spec.config import ArrayConfig
from .array import CoreArray
from .hostlink import HostLink

__all__ = ["Machine"]


class Machine(wiring.Component):
    """A whole machine of an :class:`ArrayConfig` behind one byte stream: the host link
    (:class:`HostLink`, docs/architecture.md 10) on the framebuffer's memory
    (:class:`rtl.framebuffer.framebuffer.Framebuffer`, 11), whose engine runs command
    lists that copy words to and from the cores (:class:`CoreArray`), put words into
    them over the meshes from the array's south-west corner, start them, and take the
    puts they send it over the ANoC there.
    A host writes a model image and tensors into the framebuffer (WRITE), runs a command
    list (RUN), polls STATUS and reads tensors (READ).

    Latency and throughput: the host link's and the framebuffer engine's (a word a cycle
    to or from a core).

    Members
    -------
    rx : In(stream.Signature(8))
    tx : Out(stream.Signature(8))
    busy : Out(1)
        A run is in progress.
    error : Out(8)
        The last run's error code (:class:`rtl.spec.framebuffer.FbError`).
    """

    rx: In(stream.Signature(8))
    tx: Out(stream.Signature(8))
    busy: Out(1)
    error: Out(8)

    def __init__(self, config, *, core_module=None, max_data=256, depth=2):
        if not isinstance(config, ArrayConfig):
            raise TypeError(f"config must be an ArrayConfig, not {config!r}")
        self._config, self._core_module = config, core_module
        self._max_data, self._depth = max_data, depth
        super().__init__()

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        core = cfg.core
        word = core.mem_port_bits // 8
        m.submodules.link = link = HostLink(word, cfg.framebuffer_bytes, self._max_data,
                                            ident=cfg.ident)
        m.submodules.fb = fb = Framebuffer(cfg.framebuffer_bytes, word, cfg.cores,
                                           core.sram_bytes, core.mem_latency, cols=cfg.cols)
        m.submodules.array = array = CoreArray(cfg, depth=self._depth,
                                               core_module=self._core_module)
        wiring.connect(m, link=link.rx, rx=wiring.flipped(self.rx))
        wiring.connect(m, link=link.tx, tx=wiring.flipped(self.tx))
        wiring.connect(m, link=link.mem, fb=fb.host)
        m.d.comb += [fb.start.eq(link.start), fb.entry.eq(link.entry),
                     link.busy.eq(fb.busy), link.error.eq(fb.error), link.cycles.eq(fb.cycles),
                     self.busy.eq(fb.busy), self.error.eq(fb.error)]
        for j in range(len(fb.put)):
            wiring.connect(m, fb=fb.put[j], array=array.inject[j])
        wiring.connect(m, array=array.eject, fb=fb.recv)
        m.d.comb += fb.noc_idle.eq(array.noc_idle)
        for k in range(cfg.cores):
            wiring.connect(m, fb=fb.core_mem[k], array=array.host[k])
            m.d.comb += [array.start[k].eq(fb.core_start), array.entry[k].eq(fb.core_entry),
                         fb.core_busy[k].eq(array.busy[k]),
                         fb.core_conflict[k].eq(array.conflict[k]),
                         fb.core_overflow[k].eq(array.overflow[k])]
        return m
