"""Compiler stub for the core; :mod:`sw.compiler_stub.asm` assembles and disassembles its
thread programs."""
