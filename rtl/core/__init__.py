"""The core tile: FP16 vector and activation units (and, later, memory and threads)."""
