"""Runtime: a compiled network on a core from a user's script (:class:`Runtime`:
``write_tensor`` / ``run`` / ``read_tensor``, backends ``golden``, ``rtl`` and ``fpga``),
the fast RTL backend (:mod:`sw.runtime.verilated`: the core under Verilator, its clock
running in a C++ harness), and a board's serial port (:mod:`sw.runtime.serial_link`).
``python -m sw.runtime`` runs a network from the command line (:mod:`sw.runtime.__main__`)."""

from .runtime import BACKENDS, Runtime

__all__ = ["Runtime", "BACKENDS"]
