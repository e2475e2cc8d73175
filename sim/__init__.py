"""District innovation diffusion: an agent-based model on Mesa.

Entry points: :func:`simulate`, :func:`virtual_survey`, :func:`load_config`,
and :class:`DistrictModel` with its agents :class:`Teacher`,
:class:`Principal` and :class:`CentralOffice`.

The names are imported on first use, so that ``import sim.exits`` (what the
command-line tools start with) does not load Mesa and pandas before the tools
can catch Ctrl-C.
"""

import importlib

_EXPORTS = {"CentralOffice": "sim.district.agents", "Principal": "sim.district.agents", "Stage": "sim.district.state",
            "Teacher": "sim.district.agents", "simulate": "sim.api", "virtual_survey": "sim.api",
            "ConfigError": "sim.config", "available_scenarios": "sim.config", "load_config": "sim.config",
            "METRICS": "sim.district.metrics", "DistrictModel": "sim.district.model"}

__all__ = ["simulate", "virtual_survey", "load_config", "available_scenarios", "ConfigError",
           "DistrictModel", "Teacher", "Principal", "CentralOffice", "Stage", "METRICS"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
