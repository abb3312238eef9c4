"""Configuration validation: the named configs hold, impossible ones name the parameter."""

import re

import pytest

from rtl.spec.config import CONFIGS, ArrayConfig, CoreConfig, get_config


def test_named_configs():
    assert set(CONFIGS) == {"sim", "ulx3s", "northpole"}
    assert get_config().name == "sim"
    northpole = get_config("northpole")
    assert (northpole.rows, northpole.cols) == (16, 16)
    assert northpole.core.vmm_macs == 1024
    assert northpole.core.vmm_peak_ops_per_cycle(8) == 2048
    assert northpole.core.vmm_peak_ops_per_cycle(4) == 4096
    assert northpole.core.vmm_peak_ops_per_cycle(2) == 8192
    assert northpole.core.sram_bytes == 768 * 1024
    assert northpole.framebuffer_bytes == 32 * 1024 * 1024
    assert get_config("ulx3s").cores * get_config("ulx3s").core.vmm_macs <= 156  # DSPs


def test_unknown_config():
    with pytest.raises(ValueError, match=r"config must be one of \['northpole', 'sim', 'ulx3s'\]"):
        get_config("tiny")


@pytest.mark.parametrize("kwargs, message", [
    ({"vmm_rows": 0},           r"vmm_rows must be a power of two"),
    ({"vmm_rows": 6},           r"vmm_rows must be a power of two"),
    ({"vmm_rows": 2},           r"vmm_rows must be a power of two from 4"),
    ({"vmm_rows": 8},           r"afu_lanes must be at least vmm_rows = 8"),
    ({"psb_entries": 100},      r"psb_entries must be a power of two"),
    ({"vbuf_entries": 0},       r"vbuf_entries must be a power of two"),
    ({"vbuf_entries": 1 << 18}, r"vbuf_entries must be a power of two from 2 to 131072, "
                                r"not 262144"),
    ({"program_len": 1},        r"program_len must be a power of two from 2"),
    ({"mem_latency": 3},        r"mem_latency must be 1 or 2, not 3"),
    ({"mem_latency": 1.0},      r"mem_latency must be 1 or 2, not 1.0"),
    ({"vmm_cols": 12},          r"vmm_cols must be a power of two"),
    ({"vmm_cols": True},        r"vmm_cols must be a power of two"),
    ({"precisions": (8, 3)},    r"precisions must be a non-empty tuple of distinct values "
                                r"from \(8, 4, 2\)"),
    ({"precisions": ()},        r"precisions must be"),
    ({"precisions": [8]},       r"precisions must be"),
    ({"precisions": (8, 8)},    r"precisions must be"),
    ({"vmm_cols": 16},          r"mem_port_bits must be at least 8 \* vmm_cols = 128"),
    ({"mem_port_bits": 96},     r"mem_port_bits must be a power of two"),
    ({"sram_bank_bytes": 1000}, r"sram_bank_bytes must be a power of two"),
    ({"sram_bank_bytes": 4},    r"sram_bank_bytes must be a power of two from 8"),
    ({"sram_banks": 0},         r"sram_banks must be a positive integer"),
    ({"mem_port_bits": 32, "vmm_cols": 4},
                                r"mem_port_bits must be a power of two from 64"),
    ({"threads": 8},            r"unexpected keyword argument 'threads'"),
    ({"vcu_lanes": 3},          r"vcu_lanes must be a power of two"),
    ({"vcu_lanes": 2},          r"vcu_lanes must be a power of two from 4"),
    ({"afu_lanes": 16},         r"afu_lanes must be a power of two from 1 to 8"),
    ({"afu_lanes": 2},          r"afu_lanes must be at least vmm_rows = 4"),
    ({"unit_passes": 0},        r"unit_passes must be a power of two from 1 to 4, not 0"),
    ({"unit_passes": 3},        r"unit_passes must be a power of two from 1 to 4, not 3"),
    ({"unit_passes": 8},        r"unit_passes must be a power of two from 1 to 4, not 8"),
    ({"unit_passes": True},     r"unit_passes must be a power of two from 1 to 4, not True"),
    ({"unit_passes": 2.0},      r"unit_passes must be a power of two from 1 to 4, not 2.0"),
    ({"afu_table_reg": 1},      r"afu_table_reg must be True or False, not 1"),
    ({"afu_table_reg": "no"},   r"afu_table_reg must be True or False, not 'no'"),
    ({"spare_threads": 0},      r"spare_threads must be True or False, not 0"),
    ({"spare_threads": None},   r"spare_threads must be True or False, not None"),
    ({"thread_program_len": (32,) * 7},
                                r"thread_program_len must be \(\) or 8 powers of two from 2 "
                                r"to program_len = 64, not \(32, 32, 32, 32, 32, 32, 32\)"),
    ({"thread_program_len": (32,) * 7 + (128,)},
                                r"thread_program_len must be \(\) or 8 powers of two"),
    ({"thread_program_len": (32,) * 7 + (24,)},
                                r"thread_program_len must be \(\) or 8 powers of two"),
    ({"thread_program_len": (32,) * 7 + (1,)},
                                r"thread_program_len must be \(\) or 8 powers of two"),
    ({"thread_program_len": [64] * 8},
                                r"thread_program_len must be \(\) or 8 powers of two"),
])
def test_invalid_core(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        CoreConfig(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"rows": 3},                  r"rows must be a power of two from 1 to 64"),
    ({"cols": 128},                r"cols must be a power of two from 1 to 64"),
    ({"name": "my config"},        r"name must be an identifier"),
    ({"core": {"vmm_rows": 4}},    r"core must be a CoreConfig"),
    ({"framebuffer_bytes": 1000},  r"framebuffer_bytes must be a power of two"),
])
def test_invalid_array(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ArrayConfig(**kwargs)


def test_threads():
    """A core has all eight threads, or without its spare ones (no engine) six."""
    assert CoreConfig().threads == tuple(range(8))
    assert CoreConfig(spare_threads=False).threads == (0, 1, 2, 4, 6, 7)
    assert get_config("ulx3s").core.threads == (0, 1, 2, 4, 6, 7)
    assert get_config("sim").core.threads == get_config("northpole").core.threads \
        == tuple(range(8))


def test_program_lens():
    """Each thread's program buffer: ``program_len``, unless ``thread_program_len``."""
    assert CoreConfig(program_len=128).program_lens == (128,) * 8
    lens = (2, 4, 8, 16, 32, 64, 64, 2)
    assert CoreConfig(thread_program_len=lens).program_lens == lens
    assert get_config("ulx3s").core.program_lens == (32, 32, 64, 32, 32, 32, 32, 32)


def test_ag_bits():
    """The generators' addresses cover MEM's bytes and the VBUF's and PSB's entries,
    whichever needs the most bits, and never more than the ISA's 24."""
    assert [get_config(n).core.ag_bits for n in ("sim", "ulx3s", "northpole")] == [15, 14, 20]
    small = {"sram_bank_bytes": 8, "psb_entries": 2, "vbuf_entries": 2}
    assert CoreConfig(**small, sram_banks=3).ag_bits == 5                 # 24 bytes
    assert CoreConfig(**small, sram_banks=4).ag_bits == 5                 # 32 bytes
    assert CoreConfig(**small, sram_banks=5).ag_bits == 6                 # 40 bytes
    assert CoreConfig(**{**small, "vbuf_entries": 512}).ag_bits == 9
    assert CoreConfig(**{**small, "psb_entries": 1024}).ag_bits == 10
    assert CoreConfig(sram_bank_bytes=1 << 22, sram_banks=5).ag_bits == 24


def test_resized():
    """An array of the same cores in another shape, named apart; the same shape is the
    same configuration; a bad shape is rejected as the constructor rejects it."""
    ulx3s = get_config("ulx3s")
    one_by_two = ulx3s.resized(1, 2)
    assert (one_by_two.name, one_by_two.rows, one_by_two.cols) == ("ulx3s_1x2", 1, 2)
    assert (one_by_two.core, one_by_two.framebuffer_bytes) == \
        (ulx3s.core, ulx3s.framebuffer_bytes)
    assert ulx3s.resized(2, 2) is ulx3s
    with pytest.raises(ValueError, match=r"cols must be a power of two from 1 to 64, not 3"):
        ulx3s.resized(1, 3)


def test_parse_array():
    """``RxC`` as the command lines' ``--array`` takes it; anything else rejected, naming
    the flag and the text (the numbers are the configuration's to check)."""
    from rtl.spec.config import parse_array
    assert parse_array("1x2") == (1, 2) and parse_array("4X16") == (4, 16)
    assert parse_array("3x0") == (3, 0)
    for bad in ("2", "1x2x1", "-1x2", "1by2", "x2", "1x\u00b2", "", 12):
        with pytest.raises(ValueError, match=rf"--array must be RxC \(e.g. 1x2\), not "
                                             rf"{re.escape(repr(bad))}"):
            parse_array(bad)


def test_frozen():
    with pytest.raises(AttributeError):
        get_config().core.vmm_rows = 8


def test_peak_ops_rejects_unbuilt_precision():
    core = CoreConfig(precisions=(8,))
    with pytest.raises(ValueError, match=r"bits must be one of \(8,\)"):
        core.vmm_peak_ops_per_cycle(4)
