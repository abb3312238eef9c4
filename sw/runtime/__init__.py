"""Runtime: a compiled network on a core from a user's script (:class:`Runtime`:
``write_tensor`` / ``run`` / ``read_tensor``, backends ``golden`` and ``rtl``), and the
fast RTL backend (:mod:`sw.runtime.verilated`: the core under Verilator, its clock
running in a C++ harness)."""

from .runtime import BACKENDS, Runtime

__all__ = ["Runtime", "BACKENDS"]
