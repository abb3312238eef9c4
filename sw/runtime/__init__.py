"""Runtime: running compiled programs on a core (the RTL under Verilator:
:mod:`sw.runtime.verilated`)."""
