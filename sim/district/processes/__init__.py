"""The submodels: the four processes of each step, grouped by actor (model brief, "Processes each step").

Each function takes the model and updates its state arrays in place, vectorized
over all teachers or schools. :meth:`sim.district.model.DistrictModel.step` calls
the four step functions in order (office, principals, teachers, knowledge); each
function can be called, and tested, on its own. Equations are in docs/ODD.md ("Submodels").
"""

from sim.district.calendar import MONTHS_PER_YEAR, monthly
from sim.district.processes.common import NEVER, readiness
from sim.district.processes.knowledge import (
    adaptation_help,
    deepen_models,
    knowledge_step,
    model_adaptation,
    peer_learning,
)
from sim.district.processes.office import (
    back_away,
    budget,
    central_office_step,
    cohort_sizes,
    forget_repository,
    implementation_dip,
    key_person,
    leadership_change,
    review,
    select_schools,
    set_conditions,
    special_programs,
    waivers,
)
from sim.district.processes.principals import (
    allocate_support,
    colleague_help,
    codify,
    effective_change_mgmt,
    knowledge_reach,
    principal_turnover,
    principals_step,
    replicate,
)
from sim.district.processes.teachers import (
    commit,
    decide,
    effort,
    evaluate,
    judged_weight,
    opportunity,
    peer_exposure,
    plan,
    prototype,
    quitting_colleagues,
    spend_energy,
    start_experiments,
    teacher_turnover,
    teachers_step,
)

__all__ = [
    "MONTHS_PER_YEAR",
    "NEVER",
    "monthly",
    "readiness",
    "back_away",
    "budget",
    "central_office_step",
    "cohort_sizes",
    "implementation_dip",
    "leadership_change",
    "waivers",
    "colleague_help",
    "judged_weight",
    "quitting_colleagues",
    "adaptation_help",
    "deepen_models",
    "forget_repository",
    "key_person",
    "review",
    "select_schools",
    "set_conditions",
    "special_programs",
    "allocate_support",
    "codify",
    "effective_change_mgmt",
    "knowledge_reach",
    "principal_turnover",
    "principals_step",
    "replicate",
    "commit",
    "decide",
    "effort",
    "evaluate",
    "opportunity",
    "peer_exposure",
    "plan",
    "prototype",
    "spend_energy",
    "start_experiments",
    "teacher_turnover",
    "teachers_step",
    "knowledge_step",
    "model_adaptation",
    "peer_learning",
]
