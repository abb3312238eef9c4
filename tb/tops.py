"""The generated tops of each configuration: what ``make lint`` checks and the generator
tests elaborate. Each entry maps a module name to a factory."""

from rtl.config import CONFIGS
from rtl.vmm import VMM

__all__ = ["tops"]


def tops(config):
    """Return ``{module_name: factory}`` for the tops of the named configuration."""
    core = CONFIGS[config].core
    return {
        f"vmm_{config}": lambda: VMM.from_config(core),
    }
