"""cocotb testbenches, run under Verilator from pytest."""
