"""Compiled per-teacher loops of the model's processes and metrics (numba).

A standard step is dominated by per-call overhead: a rule written with numpy
costs one call (and usually one temporary array) per operation, about 1-3
microseconds each at 2,000 teachers. Each loop here applies one rule to every
teacher in one pass. The formulas are those of the calling functions'
docstrings (:mod:`sim.district.processes`,
:func:`sim.district.metrics.district_metrics`,
:meth:`sim.district.model.DistrictModel.init_teachers`), and every value is
computed with the same floating-point operations in the same order as the
numpy expressions they replace (no ``fastmath``, so no reassociation and no
fused multiply-add), so results are bit for bit those of the numpy versions
(tests/test_kernels.py; benchmarks/fingerprint.py compares whole runs).
Random draws stay in numpy, in the callers, in the same order, and so do sums
over teachers (numpy adds pairwise): a loop here returns the terms, numpy adds
them.

Comparison helpers give numpy's results exactly, NaN and signed zeros included
(checked in tests/test_kernels.py): ``np.maximum(a, b)`` is NaN if either is,
else ``a if a > b else b``; the ``clip`` ufunc keeps ``x`` (NaN too) unless it is
below the lower or above the upper bound.
"""

from __future__ import annotations

import math

from numba import njit

from sim.district.state import Stage

# Stage codes, read by numba as compile-time constants
_NON_USE, _EXPLORING, _PROTOTYPING, _ROUTINE, _REFINING, _ABANDONED = (int(st) for st in Stage)


@njit(cache=True)
def _maximum(a, b):
    """``np.maximum(a, b)`` for two floats."""
    if math.isnan(a):
        return a
    return a if a > b else b  # noqa: FURB136 - not max(): the sign of equal zeros as numpy gives it


@njit(cache=True)
def _clip01(x):
    """The ``clip`` ufunc on ``x`` with bounds 0 and 1."""
    if x < 0.0:
        return 0.0
    return 1.0 if x > 1.0 else x  # noqa: FURB136 - NaN stays NaN, as with the ufunc


@njit(cache=True)
def hire_loop(idx, traits, capacity, autonomy, support_base, enthusiasm, energy, stage, stage_steps, surface,
              depth, signal, focus, support_ref, support, flexibility, school, hired, focus_init, step):
    """New hires at ``idx``: their four traits (rows of ``traits``), full energy, no practice, the support
    (and flexibility) their predecessor had as reference, hired now."""
    for j in range(idx.size):
        i = idx[j]
        capacity[i] = traits[0, j]
        autonomy[i] = traits[1, j]
        support_base[i] = traits[2, j]
        enthusiasm[i] = traits[3, j]
        energy[i] = 1.0
        stage[i] = _NON_USE
        stage_steps[i] = 0
        surface[i] = 0.0
        depth[i] = 0.0
        signal[i] = 0.0
        focus[i] = focus_init
        support_ref[i] = support[i] + flexibility[school[i]]
        hired[i] = step


@njit(cache=True)
def judged_weight_loop(support, school, factor, base, by_support):
    """w_i = (base + by_support * support_i) * factor_s."""
    w = support.copy()
    for i in range(support.size):
        x = by_support * support[i]
        x = base + x
        w[i] = x * factor[school[i]]
    return w


@njit(cache=True)
def support_loop(support, support_ref, support_base, help_, extra, flexibility, school, memory):
    """Support = clip(base + the school's extra + colleagues' help, 0, 1); the reference moves toward
    support + flexibility."""
    for i in range(support.size):
        s = school[i]
        x = support_base[i] + extra[s]
        x = x + help_[i]
        x = _clip01(x)
        support[i] = x
        r = x + flexibility[s]
        r = r - support_ref[i]
        r = r * memory
        support_ref[i] = support_ref[i] + r


@njit(cache=True)
def commit_loop(stage, stage_steps, depth, surface, support, school, model_depth, model_surface, draw,
                support_weight, rate, dropout, transfer):
    """Exploring teachers commit (to prototyping, from the school model's quality) or drop out."""
    for i in range(stage.size):
        if stage[i] != _EXPLORING:
            continue
        prob = 1.0 - support[i]
        prob = prob * support_weight
        prob = 1.0 - prob
        prob = prob * rate
        if draw[i] < prob:
            s = school[i]
            depth[i] = _maximum(depth[i], transfer * model_depth[s])
            surface[i] = _maximum(surface[i], transfer * model_surface[s])
            stage[i] = _PROTOTYPING
            stage_steps[i] = 0
        else:
            cut = 1.0 - prob
            cut = cut * dropout
            cut = cut + prob
            if draw[i] < cut:
                stage[i] = _NON_USE
                stage_steps[i] = 0


@njit(cache=True)
def prototype_loop(e, w, focus, surface, depth, capacity, support, focus_adapt, learn_rate, learn_base, decay):
    """Users' focus drifts toward w and their practice improves; non-users' practice decays."""
    keep_base = 1.0 - learn_base
    for i in range(e.size):
        using = e[i] > 0
        if using:
            f = w[i] - focus[i]
            f = f * focus_adapt
            focus[i] = f + focus[i]
        gain = learn_rate * e[i]
        gain = gain * capacity[i]
        gain = gain * (keep_base * support[i] + learn_base)
        f = focus[i]
        s = (1.0 - f) * gain
        s = s * (1.0 - surface[i])
        surface[i] = surface[i] + s
        d = gain * f
        d = d * (1.0 - depth[i])
        depth[i] = depth[i] + d
        if not using:
            surface[i] = surface[i] * decay
            depth[i] = depth[i] * decay


@njit(cache=True)
def energy_loop(energy, e, support, margin_share, drain, recovery):
    """Effort without guidance drains energy; some recovers; clipped to [0, 1]."""
    for i in range(energy.size):
        d = drain * e[i]
        d = d * (1.0 - support[i])
        d = d * (1.0 + margin_share[i])
        x = energy[i] - d
        x = x + (1.0 - x) * recovery
        energy[i] = _clip01(x)


@njit(cache=True)
def evaluate_loop(signal, noise, w, depth, surface, support, eval_noise):
    """signal = w * depth + (1 - w) * surface + noise * eval_noise * (1 - support / 2)."""
    for i in range(signal.size):
        n = noise[i] * eval_noise
        n = n * (1.0 - 0.5 * support[i])
        s = w[i] * depth[i]
        s = s + (1.0 - w[i]) * surface[i]
        signal[i] = s + n


@njit(cache=True)
def decide_loop(stage, stage_steps, enthusiasm, energy, signal, support_ref, support, capacity, school,
                pressure, flexibility, quitting, draw, draw2, keep_threshold, exhaustion, base, poor_signal,
                by_pressure, support_loss, colleagues, routine_factor, min_steps, routinize_rate, refine_rate,
                disillusion):
    """Users abandon (hazard), routinize or refine; abandoning costs enthusiasm."""
    keep_enthusiasm = 1.0 - disillusion
    for i in range(stage.size):
        st = stage[i]
        s = school[i]
        poor = signal[i] < keep_threshold
        h = 1.0 - energy[i]
        h = h * h
        h = h * exhaustion
        h = h + base
        h = h + poor_signal * (1.0 if poor else 0.0)
        h = h + by_pressure * pressure[s]
        t = support_ref[i] - support[i]
        t = t - flexibility[s]
        t = _maximum(0.0, t)
        h = h + t * support_loss
        h = h + quitting[i] * colleagues
        if st >= _ROUTINE:
            h = h * routine_factor
        if _PROTOTYPING <= st <= _REFINING and draw[i] < h:
            enthusiasm[i] = enthusiasm[i] * keep_enthusiasm
            stage[i] = _ABANDONED
            stage_steps[i] = 0
        elif st == _PROTOTYPING and not poor and stage_steps[i] >= min_steps and draw2[i] < routinize_rate:
            stage[i] = _ROUTINE
            stage_steps[i] = 0
        elif st == _ROUTINE and draw2[i] < refine_rate * capacity[i] * support[i]:
            stage[i] = _REFINING
            stage_steps[i] = 0


@njit(cache=True)
def peer_learning_loop(using, sums, surface, depth, rate):
    """Users with ties move toward the tie-weighted mean of their using neighbours' practice, if better.

    ``sums``: per teacher, the tie-weighted number of using neighbours and the sums of their surface
    and depth (columns 0, 1, 2).
    """
    for i in range(using.size):
        weight = sums[i, 0]
        if using[i] and weight > 0:
            v = sums[i, 1] / weight
            v = v - surface[i]
            v = _maximum(0.0, v)
            v = v * rate
            surface[i] = surface[i] + v
            v = sums[i, 2] / weight
            v = v - depth[i]
            v = _maximum(0.0, v)
            v = v * rate
            depth[i] = depth[i] + v


@njit(cache=True)
def model_adaptation_loop(stage, school, has_model, rate, depth, surface, model_depth, model_surface):
    """Users in a school with a model move toward the model's quality: q += rate_s * max(0, q_model_s - q)."""
    for i in range(stage.size):
        s = school[i]
        if _PROTOTYPING <= stage[i] <= _REFINING and has_model[s]:
            gap = model_depth[s] - depth[i]
            depth[i] = depth[i] + rate[s] * _maximum(0.0, gap)
            gap = model_surface[s] - surface[i]
            surface[i] = surface[i] + rate[s] * _maximum(0.0, gap)


@njit(cache=True)
def dip_terms(stage, depth):
    """Per teacher, [first, mechanical use] * (1 - depth)."""
    out = depth.copy()
    for i in range(stage.size):
        out[i] = 1.0 - depth[i] if stage[i] == _PROTOTYPING else 0.0
    return out


@njit(cache=True)
def metrics_terms(stage, using, depth, surface, inclusion, depth_threshold):
    """Counts of users, deep users, explorers and teachers who gave up, and per teacher the terms of the
    equity gap (depth * (1 - inclusion) for users) and of the users' mean surface and depth (0 for others)."""
    n = stage.size
    gap, surf, deep = inclusion.copy(), surface.copy(), depth.copy()
    n_use = n_deep = n_exploring = n_abandoned = 0
    for i in range(n):
        u = 1.0 if using[i] else 0.0
        gap[i] = depth[i] * (1.0 - inclusion[i]) * u
        surf[i] = surface[i] * u
        deep[i] = depth[i] * u
        if using[i]:
            n_use += 1
            if depth[i] >= depth_threshold:
                n_deep += 1
        if stage[i] == _EXPLORING:
            n_exploring += 1
        elif stage[i] == _ABANDONED:
            n_abandoned += 1
    return n_use, n_deep, n_exploring, n_abandoned, gap, surf, deep
