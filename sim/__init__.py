"""District innovation diffusion: an agent-based model on Mesa.

Entry points: :func:`simulate`, :func:`virtual_survey`, :func:`load_config`,
and :class:`DistrictModel` with its agents :class:`Teacher`,
:class:`Principal` and :class:`CentralOffice`.
"""

from sim.agents import CentralOffice, Principal, Stage, Teacher
from sim.api import simulate, virtual_survey
from sim.config import ConfigError, available_scenarios, load_config
from sim.metrics import METRICS
from sim.model import DistrictModel

__all__ = ["simulate", "virtual_survey", "load_config", "available_scenarios", "ConfigError",
           "DistrictModel", "Teacher", "Principal", "CentralOffice", "Stage", "METRICS"]
__version__ = "0.1.0"
