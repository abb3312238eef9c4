"""Quantization-aware training for the machine, in NumPy: learned step-size quantization
(LSQ) with the machine's scale constraints, a small CNN on scikit-learn's digits, and the
export to ONNX QDQ models. ``python -m sw.qat`` (``make train``) trains every
configuration into ``build/train/``; the method is described in docs/training.md.
"""
