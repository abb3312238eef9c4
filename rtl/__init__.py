"""Amaranth generators for the inference machine's gateware."""
