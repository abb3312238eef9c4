"""cocotb testbench of the host link (``rtl/top/hostlink.py``) against its golden model."""
