"""Virtual teacher survey: sampled teachers answer Likert (1-5) items with noise.

Each item maps a latent 0-1 quantity of the teacher (or her school) to the
Likert scale: ``answer = clip(round(1 + 4 * latent + N(0, noise_sd)), 1, 5)``.
The items and their latents are documented in docs/survey.md; real surveys are
compared with these answers item by item.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.district.metrics import inclusion, school_use_share
from sim.district.state import District, Stage

#: Survey items: column name -> (statement put to teachers, latent it measures).
ITEMS: dict[str, tuple[str, str]] = {
    "tried_pl": ("I have tried personalized-learning practices in my classroom.",
                 "1 if the teacher is exploring, using or has abandoned the practice, else 0"),
    "use_frequency": ("I use personalized-learning practices in most of my lessons.",
                      "stage: non-use 0, exploring 0.25, prototyping 0.5, routine 0.75, refining 1, abandoned 0.1"),
    "classroom_structures": ("My classroom is organized for personalization (stations, choice boards, flexible seating).",
                             "surface quality"),
    "rigor": ("Personalized work in my class is rigorous and demands depth of knowledge.", "depth quality"),
    "support": ("I get the coaching, time and materials I need to try new practices.", "support"),
    "goal_clarity": ("The goals of personalized learning for my students are clear to me.",
                     "district goal clarity x (1 + principal leadership) / 2"),
    "schoolwide": ("My school has a shared, school-wide approach to personalized learning.",
                   "1 if the school has a codified model else the school's use share"),
    "exhausted": ("Trying new practices has left me worn out.", "1 - energy"),
    "enthusiasm": ("I am enthusiastic about personalized learning.", "enthusiasm"),
    "capacity": ("I am confident using data to adjust instruction for each student.", "capacity"),
    "autonomy": ("I have the latitude to change how I teach.", "autonomy x school flexibility"),
    "margins_included": ("Students who struggle take full part in the richer learning activities.",
                         "inclusion of students on the margins"),
}

_STAGE_USE = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 0.1])


def latents(m: District) -> pd.DataFrame:
    """The 0-1 latent value behind each item for every teacher."""
    ts, s, o = m.teachers_state, m.schools_state, m.office
    school = ts.school
    has_model = s.model >= 0
    return pd.DataFrame({
        "tried_pl": (ts.stage != Stage.NON_USE).astype(float),
        "use_frequency": _STAGE_USE[ts.stage],
        "classroom_structures": ts.surface,
        "rigor": ts.depth,
        "support": ts.support,
        "goal_clarity": (o.goal_clarity * (1 + s.leadership) / 2)[school],
        "schoolwide": np.where(has_model, 1.0, school_use_share(m))[school],
        "exhausted": 1 - ts.energy,
        "enthusiasm": ts.enthusiasm,
        "capacity": ts.capacity,
        "autonomy": ts.autonomy * s.flexibility[school],
        "margins_included": inclusion(m),
    })


def likert(latent: np.ndarray, noise_sd: float, rng: np.random.Generator) -> np.ndarray:
    """Map 0-1 latents to integer Likert answers 1-5 with Gaussian measurement noise."""
    raw = 1 + 4 * np.asarray(latent) + rng.normal(0.0, noise_sd, np.shape(latent))
    return np.clip(np.rint(raw), 1, 5).astype(np.int64)


def survey(m: District, n_respondents: int | None = None) -> pd.DataFrame:
    """Sample teachers without replacement and return their answers, one row per respondent.

    Parameters
    ----------
    m : District
    n_respondents : int, optional
        Number of respondents (at most the number of teachers); default
        ``survey.response_rate`` of all teachers.
    """
    n = m.n_teachers
    k = int(round(m.p.survey.response_rate * n)) if n_respondents is None else int(n_respondents)
    if not 0 <= k <= n:
        raise ValueError(f"n_respondents must be between 0 and the number of teachers ({n}); got {k}")
    who = np.sort(m.rng.choice(n, size=k, replace=False))
    lat = latents(m).iloc[who]
    out = pd.DataFrame({
        "respondent_id": np.arange(k),
        "district": m.p.district.name,
        "school": m.teachers_state.school[who],
        "teacher": who,
        "wave": m.steps,
        "role": "teacher",
    })
    for item in ITEMS:
        out[item] = likert(lat[item].to_numpy(), m.p.survey.noise_sd, m.rng)
    return out


def traits_from_survey(m: District, measured: dict[str, tuple[np.ndarray, np.ndarray]]
                       ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-school (mean, sd) of the teacher traits, from what a survey measured (the inverse of :data:`ITEMS`).

    ``measured`` is :func:`sim.inputs.survey.surveyed_traits`: per school, the
    mean and spread of the ``capacity``, ``autonomy`` and ``support`` answers on
    the 0-1 scale, NaN where not surveyed. The ``autonomy`` item measures
    autonomy times the school's flexibility, so it is divided by the
    flexibility the district grants at the start; the ``support`` item measures
    support received, so the school's extra support at the start (principal,
    coaching) is subtracted. Schools (or traits) without answers keep the
    ``teacher.*_mean`` / ``*_sd`` priors, and a school with one answer the prior sd.
    """
    from sim.district import processes

    processes.set_conditions(m)
    processes.allocate_support(m)
    flex, extra = m.schools_state.flexibility, m.schools_state.extra_support
    p = m.p.teacher
    prior = {"capacity": (p.capacity_mean, p.capacity_sd), "autonomy": (p.autonomy_mean, p.autonomy_sd),
             "support_base": (p.support_mean, p.support_sd)}
    out = {}
    for trait, (mu0, sd0) in prior.items():
        mean, sd = (np.asarray(a, dtype=float).copy() for a in measured[trait])
        keep = np.isnan(mean)
        sd = np.where(np.isnan(sd), sd0, sd)
        if trait == "autonomy":
            keep |= flex <= 0
            mean, sd = mean / np.where(keep, 1.0, flex), sd / np.where(keep, 1.0, flex)
        elif trait == "support_base":
            mean = mean - extra
        out[trait] = (np.where(keep, mu0, np.clip(mean, 0.0, 1.0)), np.where(keep, sd0, np.clip(sd, 0.0, 0.5)))
    return out
