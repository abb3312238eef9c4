"""The vector-matrix multiply unit."""

from .vmm import Precision, weight_layout, step_layout, result_layout, VMM

__all__ = ["Precision", "weight_layout", "step_layout", "result_layout", "VMM"]
