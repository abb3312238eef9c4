"""The buildable designs, written once.

:data:`DESIGNS` names every design that can be built on its own, with a factory that builds
it from a named configuration. The tests, ``make bench``, ``make lint``, ``make sim`` and
the FPGA flow (:mod:`fpga.ulx3s`) all look designs up here. The Verilog module of design
``d`` in configuration ``c`` is named ``d_c`` (:func:`module_name`), e.g. ``vmm_sim``.

Also here: the benchmark results file (:data:`RESULTS`, :func:`merge_results`), where the
figures measured of these designs go, from the simulator (``make bench``) and from the
FPGA tools (``make bitstream``).
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rtl.spec.config import CONFIGS, get_config
from rtl.core.afu import ActivationUnit
from rtl.core.core import Core
from rtl.core.noc import put_layout
from rtl.core.post import PostProcessor
from rtl.core.vcu import VectorUnit
from rtl.noc.flit import coord_bits
from rtl.noc.mesh import Mesh
from rtl.noc.router import Router
from rtl.top.hostlink import HostLink
from rtl.vmm import VMM

__all__ = ["DesignEntry", "DESIGNS", "module_name", "tops", "noc_payload_bits", "RESULTS",
           "merge_results"]


@dataclass(frozen=True)
class DesignEntry:
    """One buildable design.

    Parameters
    ----------
    name : str
        The design's name, the prefix of its module names.
    summary : str
        What it is, in a few words.
    factory : callable
        Takes an :class:`rtl.spec.config.ArrayConfig` and returns the component.
    configs : tuple of str
        The configurations it is generated for by ``make lint`` and the generator tests;
        :meth:`build` accepts any.
    """

    name:    str
    summary: str
    factory: Callable
    configs: tuple = tuple(CONFIGS)

    def build(self, config):
        """Build the component for ``config`` (a name or an :class:`ArrayConfig`)."""
        return self.factory(get_config(config) if isinstance(config, str) else config)


# The FP16 units and the core holding them are not generated for northpole: large to
# convert (the 32-lane activation unit alone takes about a minute, the 256-lane vector
# unit longer) and linted in their sim and ulx3s builds.
_SMALL = tuple(name for name in CONFIGS if name != "northpole")

def noc_payload_bits(config):
    """A NoC flit's payload in a configuration: a core's put, one MEM word, its address,
    ``signal``, ``ctr``, ``start`` and ``weight`` (:func:`rtl.core.noc.put_layout`)."""
    return put_layout(config.core.mem_port_bits // 8).size


def _router(config):
    # A router inside the configuration's array (at (1, 1) when there is one), so that no
    # port is an edge; its rows count the framebuffer's, below the array (rows + 1).
    return Router(min(1, config.cols - 1), min(1, config.rows - 1),
                  x_bits=coord_bits(config.cols), y_bits=coord_bits(config.rows + 1),
                  payload_bits=noc_payload_bits(config))


def _mesh(rows=None, cols=None):
    return lambda config: Mesh(rows or config.rows, cols or config.cols,
                               payload_bits=noc_payload_bits(config))


#: Every buildable design, by name.
DESIGNS = {entry.name: entry for entry in [
    DesignEntry("vmm", "the weight-stationary vector-matrix multiply unit",
                lambda config: VMM.from_config(config.core)),
    DesignEntry("vcu", "the FP16 vector unit",
                lambda config: VectorUnit.from_config(config.core), _SMALL),
    DesignEntry("afu", "the FP16 activation unit",
                lambda config: ActivationUnit.from_config(config.core), _SMALL),
    # Four small vector units, a vector unit and an activation unit: generated for sim only
    # (for ulx3s its units are the vcu and afu designs above), to keep the lint run short.
    DesignEntry("post", "the fused post-processing block, with units of its own",
                lambda config: PostProcessor.from_config(config.core), ("sim",)),
    DesignEntry("core", "the core tile: memory, threads, VMM, vector and activation units",
                lambda config: Core(config.core, rows=config.rows, cols=config.cols), _SMALL),
    # The NoC: generated for sim only (a router and meshes of three shapes; the tests
    # build more shapes with a 32-bit payload, tb/noc).
    DesignEntry("noc_router", "one NoC router (XY, wormhole, one-flit multicast)", _router,
                ("sim",)),
    DesignEntry("noc_mesh", "the NoC mesh of the configuration's array", _mesh(), ("sim",)),
    DesignEntry("noc_mesh2x3", "a 2 x 3 NoC mesh", _mesh(2, 3), ("sim",)),
    DesignEntry("noc_mesh4x4", "a 4 x 4 NoC mesh", _mesh(4, 4), ("sim",)),
    # The host link: a test-sized memory (1 KiB) for sim, the framebuffer's size otherwise.
    DesignEntry("hostlink", "the host link: framed commands over a byte stream",
                lambda config: HostLink(word_bytes=config.core.mem_port_bits // 8,
                                        mem_bytes=1024 if config.name == "sim"
                                        else config.framebuffer_bytes, max_data=256),
                ("sim", "ulx3s")),
]}


def module_name(design, config):
    """The Verilog module name of ``design`` in configuration ``config`` (names)."""
    return f"{design}_{config}"


def tops(config):
    """Return ``{module_name: factory}`` of the designs generated for the named
    configuration; each factory takes no argument."""
    return {module_name(name, config): (lambda entry=entry: entry.build(config))
            for name, entry in DESIGNS.items() if config in entry.configs}


#: The benchmark results: one JSON object mapping metric names to numbers.
RESULTS = Path(__file__).resolve().parent.parent / "build" / "bench" / "results.json"


def merge_results(metrics, path=RESULTS):
    """Merge ``metrics`` into the results file, keeping the other keys; return the whole
    result."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(path.read_text()) if path.exists() else {}
    results.update(metrics)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return results
