"""The vector-matrix multiply unit."""

from .vmm import weight_layout, step_layout, result_layout, VMM

__all__ = ["weight_layout", "step_layout", "result_layout", "VMM"]
