"""pytest entry: build the sim array (2 x 2 cores, its core converted once and
instantiated four times) and run its cocotb tests. Its C++ is compiled at ``-O0``: the
runs spend their time in Python (cocotb and the golden array), and at ``-O3`` the build
alone took about 10 minutes."""

from rtl.designs import DESIGNS, module_name
from rtl.spec.config import get_config
from rtl.top.array import CoreArray

from ..hdl import Design


def array_design(config="sim"):
    core = module_name("core", config)
    return Design(f"array_{config}",
                  lambda: CoreArray(get_config(config), core_module=core),
                  modules=[(lambda: DESIGNS["core"].build(config), core)],
                  env={"ARRAY_CONFIG": config}, cflags=("-O0",))


def test_array_sim(seed):
    array_design("sim").run("tb.array.array_tests", seed=seed)
