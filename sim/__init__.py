"""District innovation diffusion: an agent-based model on Mesa.

Entry points: :func:`simulate`, :func:`virtual_survey`, :func:`load_config`,
and :class:`DistrictModel` with its agents :class:`Teacher`,
:class:`Principal` and :class:`CentralOffice`.
"""

from sim.api import simulate, virtual_survey
from sim.config import ConfigError, available_scenarios, load_config
from sim.district.agents import CentralOffice, Principal, Teacher
from sim.district.metrics import METRICS
from sim.district.model import DistrictModel
from sim.district.state import Stage

__all__ = ["simulate", "virtual_survey", "load_config", "available_scenarios", "ConfigError",
           "DistrictModel", "Teacher", "Principal", "CentralOffice", "Stage", "METRICS"]
__version__ = "0.1.0"
