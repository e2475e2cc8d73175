"""Process 4, knowledge: learning from colleagues and adapting school models."""

from __future__ import annotations

import numpy as np

from sim.district import kernels
from sim.district.metrics import imported
from sim.district.networks import neighbour_sums
from sim.district.processes.principals import knowledge_reach
from sim.district.state import District


def peer_learning(m: District) -> None:
    """Users move their practice toward the (tie-weighted) mean of better-practising using neighbours.

    q_i += peers.learning * max(0, mean_{j in N(i), j using} q_j - q_i), for q in (surface, depth).
    """
    ts, rate = m.teachers_state, m.p.peers.learning
    using = ts.using
    # users, users' surface and users' depth summed over each teacher's ties in one product
    # (surface and depth are read before either moves, as when summed one after the other)
    x = np.empty((using.size, 3))
    x[:, 0] = using
    np.multiply(ts.surface, x[:, 0], out=x[:, 1])
    np.multiply(ts.depth, x[:, 0], out=x[:, 2])
    sums = neighbour_sums(m.adjacency, x)
    # the count of using colleagues, for next month's colleagues' help if no stage moves before it
    m.users_ties = (m.adjacency, using, sums[:, 0])
    # one compiled pass over the users with ties (the same operations in the same order as the formula)
    kernels.peer_learning_loop(using, sums, ts.surface, ts.depth, float(rate))


def adaptation_help(m: District, copies: np.ndarray | None = None) -> np.ndarray:
    """Per school, the help it has to adapt and deepen its model (0-1).

    A model codified in the school is known there (1). An imported model is
    adapted with the help of whoever keeps the district's knowledge: the reach
    of the current knowledge management (:func:`sim.district.processes.principals.knowledge_reach`:
    a plan, the key person while she stays, ad hoc sharing after she leaves). ``copies``:
    :func:`sim.district.metrics.imported`, if the caller computed it already.
    """
    return np.where(imported(m) if copies is None else copies, knowledge_reach(m), 1.0)


def model_adaptation(m: District, copies: np.ndarray | None = None) -> None:
    """Users in a school with a model move toward the model's quality (the faculty adopts and adapts).

    q_i += model_adapt_rate * help_s * max(0, q_model_s - q_i), help_s = :func:`adaptation_help`.
    ``copies``: :func:`sim.district.metrics.imported`, if the caller computed it already.
    """
    ts, s = m.teachers_state, m.schools_state
    has = s.model >= 0
    if not has.any():
        return
    rate = m.p.principal.model_adapt_rate * adaptation_help(m, copies)
    # one compiled pass over the users in schools with a model (the same operations in the same order)
    kernels.model_adaptation_loop(ts.stage, ts.school, has, rate, ts.depth, ts.surface, s.model_depth,
                                  s.model_surface)


def deepen_models(m: District, copies: np.ndarray | None = None) -> None:
    """Schools adapt and deepen an imported model with help: its quality here moves toward the quality it
    was codified with (what was lost in transfer is recovered).

    model_q_s += model_adapt_rate * help_s * max(0, registry_q[model_s] - model_q_s) for imported models.
    ``copies``: :func:`sim.district.metrics.imported`, if the caller computed it already.
    """
    s, reg = m.schools_state, m.registry
    copies = imported(m) if copies is None else copies
    if not copies.any():
        return
    rate = m.p.principal.model_adapt_rate * adaptation_help(m, copies)[copies]
    ids = s.model[copies]
    for q, full in ((s.model_depth, np.asarray(reg.depth)), (s.model_surface, np.asarray(reg.surface))):
        q[copies] += rate * np.maximum(0.0, full[ids] - q[copies])


def knowledge_step(m: District) -> None:
    """Process 4: knowledge moves between colleagues and from school models; imported models deepen."""
    peer_learning(m)
    copies = imported(m)  # the same for both: adapting practice changes no school's model
    model_adaptation(m, copies)
    deepen_models(m, copies)
