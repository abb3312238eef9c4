"""The generated tops of each configuration: what ``make lint`` checks and the generator
tests elaborate. Each entry maps a module name to a factory."""

from rtl.spec.config import CONFIGS
from rtl.core.afu import ActivationUnit
from rtl.core.core import Core
from rtl.core.vcu import VectorUnit
from rtl.vmm import VMM

__all__ = ["tops"]


def tops(config):
    """Return ``{module_name: factory}`` for the tops of the named configuration."""
    core = CONFIGS[config].core
    tops = {f"vmm_{config}": lambda: VMM.from_config(core)}
    if config != "northpole":  # 256 FP16 lanes: minutes to convert, not needed to lint
        tops[f"vcu_{config}"] = lambda: VectorUnit.from_config(core)
        tops[f"afu_{config}"] = lambda: ActivationUnit.from_config(core)
        tops[f"core_{config}"] = lambda: Core(core)
    return tops
