"""The contract between the RTL, the golden model, the compiler and the testbenches.

Everything that more than one side must agree on bit for bit has its one owner here and
is imported by ``rtl/``, ``sw/`` and ``tb/`` alike:

- :mod:`.config`: the configuration dataclasses and the named configurations;
- :mod:`.codes`: the precision codes and the vector- and activation-unit opcodes;
- :mod:`.isa`: the thread instruction formats, their encoding and decoding, the thread
  and NoC-port assignment;
- :mod:`.binary16`: binary16 bit patterns (conversions, canonical NaN);
- :mod:`.afu_tables`: the activation unit's table functions and ROM contents.

Nothing here builds hardware or models it; the modules are plain Python (with Amaranth
enums, which are also plain integers).
"""
