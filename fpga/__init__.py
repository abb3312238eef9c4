"""FPGA builds: the ULX3S 85F (ECP5 LFE5U-85F) board top, its harness and report.

``make bitstream`` runs :mod:`fpga.ulx3s`; the flow is described in docs/fpga.md.
"""
