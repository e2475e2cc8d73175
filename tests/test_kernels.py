"""The compiled per-teacher loops (sim/district/kernels.py) give, bit for bit, what the numpy
expressions of the processes' formulas give, draws included."""

import copy

import numpy as np
import pytest

from sim.config import load_container
from sim.district import metrics, processes
from sim.district.model import DistrictModel
from sim.district.networks import neighbour_sums
from sim.district.kernels import _clip01, _maximum
from sim.district.state import clip

SPECIAL = [-0.0, 0.0, np.nan, np.inf, -np.inf, 5e-324, -5e-324, 0.3, -2.0, 1.0, 1.5]


@pytest.mark.parametrize("n", [1, 3, 8, 17, 2000])
def test_comparison_helpers_give_numpys_values_signed_zeros_and_nan_included(n):
    """_maximum is np.maximum and _clip01 the clip ufunc on [0, 1], for every pair of special values and
    at array sizes that take numpy's scalar and vector loops."""
    def same(a, b):
        return np.asarray(a, dtype=float).tobytes() == np.asarray(b, dtype=float).tobytes()

    for x in SPECIAL:
        assert same(clip(np.full(n, x), 0.0, 1.0), np.full(n, _clip01(x)))
        for y in SPECIAL:
            assert same(np.maximum(np.full(n, x), np.full(n, y)), np.full(n, _maximum(x, y)))
            assert same(np.maximum(x, np.full(n, y)), np.full(n, _maximum(x, y)))


# The numpy expressions of the formulas, written term by term in the docstrings' order.

def judged_weight_numpy(m):
    ts, s, p = m.teachers_state, m.schools_state, m.p
    w = p.teacher.goal_weight * m.office.goal_clarity + (1 - p.teacher.goal_weight) * ts.support
    return w * (1.0 - p.principal.open_dilution * s.openness * (1.0 - s.stance))[ts.school]


def hire_numpy(m, idx):
    ts, p, k = m.teachers_state, m.p.teacher, idx.size
    traits = m.rng.standard_normal((4, k))
    traits *= np.array([[p.capacity_sd], [p.autonomy_sd], [p.support_sd], [p.enthusiasm_sd]])
    traits += np.array([[p.capacity_mean], [p.autonomy_mean], [p.support_mean], [p.enthusiasm_mean]])
    np.minimum(np.maximum(traits, 0.0, out=traits), 1.0, out=traits)
    ts.capacity[idx], ts.autonomy[idx], ts.support_base[idx], ts.enthusiasm[idx] = traits
    mean = m.p.district.margin_share_mean
    ts.margin_share[idx] = m.rng.beta(4 * mean + 1e-9, 4 * (1 - mean) + 1e-9, k) if 0 < mean < 1 else mean
    ts.energy[idx], ts.stage[idx], ts.stage_steps[idx] = 1.0, 0, 0
    ts.surface[idx], ts.depth[idx], ts.signal[idx], ts.focus[idx] = 0.0, 0.0, 0.0, p.focus_init
    ts.support_ref[idx] = ts.support[idx] + m.schools_state.flexibility[ts.school[idx]]
    ts.threshold[idx] = m.rng.normal(m.p.peers.threshold_mean, m.p.peers.threshold_sd, k)
    ts.hired[idx] = m.steps
    zone = m.schools_state.zone[ts.school[idx]]
    ts.autonomy[idx[zone]] = np.minimum(1.0, ts.autonomy[idx[zone]] + m.p.autonomy_zone.autonomy_boost)


def commit_numpy(m):
    ts, s, p = m.teachers_state, m.schools_state, m.p.teacher
    exploring = ts.stage == 1
    if not exploring.any():
        return
    draw = m.rng.random(m.n_teachers)
    prob = p.commit_rate * (1.0 - p.commit_support_weight * (1.0 - ts.support))
    go = exploring & (draw < prob)
    drop = exploring & ~go & (draw < prob + (1 - prob) * p.explore_dropout)
    transfer = m.p.principal.model_transfer
    np.putmask(ts.depth, go, np.maximum(ts.depth, transfer * s.model_depth[ts.school]))
    np.putmask(ts.surface, go, np.maximum(ts.surface, transfer * s.model_surface[ts.school]))
    for mask, stage in ((go, 2), (drop, 0)):
        ts.stage[mask], ts.stage_steps[mask] = stage, 0


def prototype_numpy(m, e, w):
    ts, p = m.teachers_state, m.p.teacher
    using = e > 0
    np.putmask(ts.focus, using, (w - ts.focus) * p.focus_adapt + ts.focus)
    gain = p.learn_rate * e * ts.capacity * ((1 - p.learn_base) * ts.support + p.learn_base)
    ts.surface += (1 - ts.focus) * gain * (1 - ts.surface)
    ts.depth += gain * ts.focus * (1 - ts.depth)
    np.putmask(ts.surface, ~using, ts.surface * (1 - p.quality_decay))
    np.putmask(ts.depth, ~using, ts.depth * (1 - p.quality_decay))


def energy_numpy(m, e):
    ts, p = m.teachers_state, m.p.teacher
    ts.energy -= p.energy_drain * e * (1 - ts.support) * (1 + ts.margin_share)
    ts.energy += (1 - ts.energy) * p.energy_recovery
    ts.energy[:] = clip(ts.energy, 0.0, 1.0)


def evaluate_numpy(m, w):
    ts, p = m.teachers_state, m.p.teacher
    noise = m.rng.standard_normal(m.n_teachers) * p.eval_noise * (1 - 0.5 * ts.support)
    ts.signal[:] = w * ts.depth + (1 - w) * ts.surface + noise


def decide_numpy(m):
    ts, s, p = m.teachers_state, m.schools_state, m.p.teacher
    stage, school = ts.stage, ts.school
    quitting = processes.quitting_colleagues(m)
    poor = ts.signal < p.keep_threshold
    hazard = ((1.0 - ts.energy) ** 2 * p.abandon_exhaustion + p.abandon_base + float(p.abandon_poor_signal) * poor
              + p.abandon_pressure * s.pressure[school]
              + np.maximum(0.0, ts.support_ref - ts.support - s.flexibility[school]) * p.abandon_support_loss
              + quitting * p.abandon_colleagues)
    hazard = np.where(stage >= 3, hazard * p.abandon_routine_factor, hazard)
    draw, draw2 = m.rng.random(m.n_teachers), m.rng.random(m.n_teachers)
    abandon = ts.using & (draw < hazard)
    routinize = ~abandon & (stage == 2) & ~poor & (ts.stage_steps >= p.min_prototype_steps) & (draw2 < p.routinize_rate)
    refine = ~abandon & (stage == 3) & (draw2 < p.refine_rate * ts.capacity * ts.support)
    np.putmask(ts.enthusiasm, abandon, ts.enthusiasm * (1 - p.disillusion))
    for mask, new in ((abandon, 5), (routinize, 3), (refine, 4)):
        stage[mask], ts.stage_steps[mask] = new, 0


def peer_learning_numpy(m):
    ts, rate = m.teachers_state, m.p.peers.learning
    using = ts.using.astype(float)
    weight = neighbour_sums(m.adjacency, using)
    has = (using > 0) & (weight > 0)
    safe = np.where(weight > 0, weight, 1.0)
    for q in (ts.surface, ts.depth):
        new = q + rate * np.maximum(0.0, neighbour_sums(m.adjacency, q * using) / safe - q)
        np.putmask(q, has, new)


def allocate_support_numpy(m):
    o, s, p, t, ts = m.office, m.schools_state, m.p, m.steps, m.teachers_state
    active = s.active(t) & ~np.bool_(o.backed_away)
    extra = (s.coaching * o.coaching_effect + p.principal.support_weight * s.leadership * o.pl_priority
             + o.ci_effect * max(0.0, o.ci_engagement) * active + p.design_competition.support * (t < s.award_until))
    s.extra_support[:] = extra
    ts.support[:] = clip(ts.support_base + extra[ts.school] + processes.colleague_help(m), 0.0, 1.0)
    ts.support_ref += (ts.support + s.flexibility[ts.school] - ts.support_ref) * p.teacher.support_memory


def model_adaptation_numpy(m):
    ts, s = m.teachers_state, m.schools_state
    has = s.model >= 0
    rate = m.p.principal.model_adapt_rate * processes.adaptation_help(m)
    idx = np.flatnonzero(ts.using & has[ts.school])
    for q, target in ((ts.depth, s.model_depth), (ts.surface, s.model_surface)):
        q[idx] += rate[ts.school[idx]] * np.maximum(0.0, target[ts.school[idx]] - q[idx])


def metrics_numpy(m):
    ts, n = m.teachers_state, m.n_teachers
    using = ts.using
    u = using.astype(float)
    n_use = int(np.count_nonzero(using))
    return {"deep_adoption": np.count_nonzero(using & (ts.depth >= m.p.metrics.depth_threshold)) / n,
            "equity_gap": float(np.add.reduce(ts.depth * (1 - metrics.inclusion(m)) * u) / n),
            "exploring_share": np.count_nonzero(ts.stage == 1) / n,
            "abandoned_share": np.count_nonzero(ts.stage == 5) / n,
            "mean_surface": float(np.add.reduce(ts.surface * u) / n_use) if n_use else 0.0,
            "mean_depth": float(np.add.reduce(ts.depth * u) / n_use) if n_use else 0.0,
            "teacher_adoption": n_use / n}


def implementation_dip_numpy(m):
    ts = m.teachers_state
    m.schools_state.dip[:] = np.where(ts.stage == 2, 1.0 - ts.depth, 0.0).reshape(m.n_schools, -1).mean(1)


def _state_bytes(m):
    ts = m.teachers_state
    return [getattr(ts, k).tobytes() for k in ("stage", "stage_steps", "focus", "surface", "depth", "energy",
                                               "signal", "enthusiasm", "support", "support_ref", "capacity",
                                               "autonomy", "support_base", "margin_share", "threshold",
                                               "hired")] + [
        m.schools_state.extra_support.tobytes(), m.schools_state.dip.tobytes(), str(m.rng.bit_generator.state)]


@pytest.mark.parametrize(("scenario", "overrides", "seed", "month"), [
    ("baseline", [], 3, 20),
    ("henry_all_in", ["district.schools=12"], 4, 30),
    ("lake_backing_away", ["district.schools=20"], 5, 36),
    ("baseline", ["cop.enabled=true", "district.schools=10", "teacher.min_prototype_steps=2"], 6, 20),
    ("autonomy_zone", ["district.schools=20", "teacher.focus_init=1"], 7, 15),
])
def test_each_loop_gives_the_numpy_formulas_values_bit_for_bit(scenario, overrides, seed, month):
    """Mid-run states of several presets and sizes (models codified and imported, teachers in every
    stage, backed away, non-integer tie weights with communities of practice): each process, run once through its
    compiled loop and once as the numpy expression of its formula from the same state and generator,
    leaves the same bytes in every array and the generator in the same state."""
    base = DistrictModel(load_container(scenario, overrides), seed=seed, validate_config=False)
    base.run(month)
    assert np.count_nonzero(base.teachers_state.using) > 0 and np.count_nonzero(base.teachers_state.stage == 5) > 0
    ours = {
        "commit": processes.commit,
        "prototype": lambda m: processes.prototype(m, processes.effort(m), processes.judged_weight(m)),
        "spend_energy": lambda m: processes.spend_energy(m, processes.effort(m)),
        "evaluate": lambda m: processes.evaluate(m, processes.judged_weight(m)),
        "decide": processes.decide,
        "peer_learning": processes.peer_learning,
        "allocate_support": processes.allocate_support,
        "hire": lambda m: m.init_teachers(np.flatnonzero(m.rng.random(m.n_teachers) < 0.2)),
        "model_adaptation": processes.model_adaptation,
        "implementation_dip": lambda m: (processes.commit(m), processes.implementation_dip(m)),
    }
    theirs = {
        "commit": commit_numpy,
        "prototype": lambda m: prototype_numpy(m, processes.effort(m), judged_weight_numpy(m)),
        "spend_energy": lambda m: energy_numpy(m, processes.effort(m)),
        "evaluate": lambda m: evaluate_numpy(m, judged_weight_numpy(m)),
        "decide": decide_numpy,
        "peer_learning": peer_learning_numpy,
        "allocate_support": allocate_support_numpy,
        "hire": lambda m: hire_numpy(m, np.flatnonzero(m.rng.random(m.n_teachers) < 0.2)),
        "model_adaptation": model_adaptation_numpy,
        "implementation_dip": lambda m: (processes.commit(m), implementation_dip_numpy(m)),
    }
    for name in ours:
        if name == "commit":  # some teachers must be exploring for commit to be exercised
            processes.start_experiments(base)
        a, b = copy.deepcopy(base), copy.deepcopy(base)
        ours[name](a)
        theirs[name](b)
        assert _state_bytes(a) == _state_bytes(b), name
        if name != "model_adaptation" or (base.schools_state.model >= 0).any():
            assert _state_bytes(a) != _state_bytes(base), f"{name} changed nothing"
    ours, theirs = metrics.district_metrics(base), metrics_numpy(base)
    assert {k: v for k, v in ours.items() if k in theirs} == theirs
    assert all(isinstance(ours[k], float) for k in theirs)
    assert 0 < ours["mean_depth"] and 0 < ours["equity_gap"]
