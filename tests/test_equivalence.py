"""The optimized model against its straightforward versions.

- Outcome distributions of the vectorized model and the per-agent reference
  (sim.district.reference) agree: two-sample KS tests over 200 seeds each, per outcome,
  Bonferroni at family level 1%. The power of this test is in docs/performance.md
  (benchmarks/power.py); ``test_the_comparison_detects_a_small_rule_change``
  checks that it rejects a change of a size it is meant to catch.
- Vectorized networks follow the networkx generators they replace.
- Bulk-created agents are ordinary registered Mesa agents; models are freed.
- The fast configuration path gives the same parameters as load_config.
"""

from __future__ import annotations

import functools
import gc
import subprocess
import sys
import weakref

import mesa
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from scipy.stats import ks_2samp

import sim
from sim.config import load_config, load_container, to_params
from sim.district.agents import Principal, Teacher, create_indexed
from sim.district.model import DistrictModel
from sim.district.networks import _watts_strogatz, gnm_edges, school_edges
from sim.district.reference import (
    CHECK_CONFIGS,
    OUTCOMES,
    ReferenceDistrictModel,
    ReferenceTeacher,
    compare,
    end_of_run,
)

N_SEEDS = 200
ALPHA = 0.01
# Disjoint seed ranges: the two implementations draw random numbers differently anyway.
OPT_SEEDS, REF_SEEDS = range(100_000, 100_000 + N_SEEDS), range(200_000, 200_000 + N_SEEDS)


@functools.cache
def _sample(cls: type[DistrictModel], config: str, seeds: range, *extra: str) -> np.ndarray:
    return end_of_run(cls, (*CHECK_CONFIGS[config], *extra), seeds)


@pytest.mark.slow
@pytest.mark.parametrize("config", sorted(CHECK_CONFIGS))
def test_vectorized_and_per_agent_updates_agree_in_distribution(config):
    opt = _sample(DistrictModel, config, OPT_SEEDS)
    ref = _sample(ReferenceDistrictModel, config, REF_SEEDS)
    assert opt.std(0).min() > 0 and ref.std(0).min() > 0  # every outcome varies: the test is informative
    result = compare(opt, ref, ALPHA)
    assert not result.differ, str(result)
    # and the means agree to within 4 standard errors
    se = np.sqrt(opt.var(0) / N_SEEDS + ref.var(0) / N_SEEDS)
    assert (np.abs(opt.mean(0) - ref.mean(0)) < 4 * se).all(), dict(zip(OUTCOMES, opt.mean(0) - ref.mean(0)))


@pytest.mark.slow  # shares the cached simple sample with the test above: kept next to it
def test_the_comparison_detects_a_small_rule_change():
    """30% faster spontaneous experimentation is rejected (+20% already was in 10 of 10 trials, benchmarks/power.py)."""
    faster = 1.3 * load_config("baseline").teacher.explore_rate  # relative to the default, whatever it is
    base = _sample(DistrictModel, "simple", OPT_SEEDS)
    changed = _sample(DistrictModel, "simple", REF_SEEDS, f"teacher.explore_rate={faster:.4g}")
    assert compare(base, changed, ALPHA).differ


def test_reference_teachers_are_per_agent_mesa_agents():
    m = ReferenceDistrictModel(overrides=["district.schools=3", "district.teachers_per_school=5", "steps=3"])
    assert len(m.agents_by_type[ReferenceTeacher]) == 15 and all(type(t) is ReferenceTeacher for t in m.teachers)
    assert sorted(j for j, _ in m.teachers[0].neighbors) == sorted(m.adjacency.indices[:m.adjacency.indptr[1]])
    m.run()
    assert m.timeseries()["step"].tolist() == [0, 1, 2, 3]


# -- networks --------------------------------------------------------------------------

def _graph(edges: np.ndarray, n: int) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges.tolist())
    return g


@pytest.mark.parametrize("n, k, p", [(40, 6, 0.1), (40, 6, 0.6), (12, 8, 0.5)])
def test_watts_strogatz_matches_networkx_in_distribution(n, k, p):
    rng = np.random.default_rng(7)
    ours, theirs = [], []
    for s in range(200):
        e = _watts_strogatz(1, n, k, p, rng)
        g = _graph(e, n)
        assert len(e) == g.number_of_edges() == n * (k // 2)  # no duplicate ties, none lost
        assert not any(a == b for a, b in e.tolist())
        h = nx.watts_strogatz_graph(n, k, p, seed=s)
        ours.append((nx.average_clustering(g), np.var([d for _, d in g.degree()])))
        theirs.append((nx.average_clustering(h), np.var([d for _, d in h.degree()])))
    ours, theirs = np.array(ours), np.array(theirs)
    for col in range(2):  # clustering, degree variance
        assert ks_2samp(ours[:, col], theirs[:, col]).pvalue > 0.001


def test_watts_strogatz_without_rewiring_is_the_ring_lattice_of_networkx():
    e = school_edges(3, 10, "watts_strogatz", 4, 0.0, np.random.default_rng(0))
    for s in range(3):
        block = e[(e[:, 0] // 10) == s] - 10 * s
        assert nx.utils.graphs_equal(_graph(block, 10), nx.watts_strogatz_graph(10, 4, 0.0))


def test_erdos_renyi_complete_and_regular_ties():
    rng = np.random.default_rng(3)
    counts = [len(school_edges(1, 20, "erdos_renyi", 5, 0.0, rng)) for _ in range(400)]
    nx_counts = [nx.fast_gnp_random_graph(20, 5 / 19, seed=s).number_of_edges() for s in range(400)]
    assert ks_2samp(counts, nx_counts).pvalue > 0.001 and abs(np.mean(counts) - 50) < 1.5
    complete = school_edges(2, 5, "complete", 2, 0.0, rng)
    assert len(complete) == 20 and (complete // 5)[:, 0].tolist() == (complete // 5)[:, 1].tolist()
    regular = school_edges(4, 10, "random_regular", 3, 0.0, rng)
    assert np.bincount(regular.ravel(), minlength=40).tolist() == [3] * 40


def test_gnm_edges_are_m_distinct_ties_like_networkx():
    rng = np.random.default_rng(5)
    for n, m in ((50, 40), (30, 200), (6, 15), (6, 20)):
        e = gnm_edges(n, m, rng)
        keys = {(min(a, b), max(a, b)) for a, b in e.tolist()}
        assert len(keys) == len(e) == min(m, n * (n - 1) // 2) and all(a != b for a, b in keys)
    ours = [np.bincount(gnm_edges(40, 60, rng).ravel(), minlength=40).max() for _ in range(300)]
    theirs = [max(d for _, d in nx.gnm_random_graph(40, 60, seed=s).degree()) for s in range(300)]
    assert ks_2samp(ours, theirs).pvalue > 0.001


# -- agents, memory, configuration -----------------------------------------------------

def test_bulk_created_agents_are_ordinary_registered_mesa_agents():
    model = mesa.Model(rng=1)
    plain = Teacher(model, 0)
    bulk = create_indexed(Teacher, model, 5)
    principals = create_indexed(Principal, model, 2)
    assert [a.unique_id for a in (plain, *bulk, *principals)] == list(range(1, 9))
    assert all(vars(a).keys() == vars(plain).keys() for a in bulk)
    assert [a.index for a in bulk] == list(range(5)) and all(a.model is model and a.pos is None for a in bulk)
    assert len(model.agents_by_type[Teacher]) == 6 and len(model.agents) == 8
    bulk[2].remove()
    assert bulk[2] not in model.agents and len(model.agents_by_type[Teacher]) == 5
    assert len(model.agents_by_type[Principal].select(lambda a: a.index == 1)) == 1


def test_models_are_freed_after_use():
    m = DistrictModel(overrides=["district.schools=2", "district.teachers_per_school=3", "steps=2"])
    m.run()
    ref = weakref.ref(m)
    del m
    gc.collect()
    assert ref() is None  # no class-level registry keeps it (and its agents) alive (mesa 3.3 did)


def test_fast_config_path_gives_the_same_parameters_and_is_not_mutated():
    overrides = ["district.schools=7", "rollout.mode=waves", "rollout.cohorts=[0.2,0.3]"]
    fast = load_container("baseline", overrides)
    assert fast == OmegaConf.to_container(load_config("baseline", overrides), resolve=True)
    p = to_params(fast)
    p.rollout.cohorts.append(9)
    p.seed = 123
    assert load_container("baseline", overrides)["rollout"]["cohorts"] == [0.2, 0.3]
    assert load_container("baseline", overrides)["seed"] == 0


def test_same_seed_gives_the_same_frame_in_another_process():
    code = ("import sim, pandas as pd; "
            "print(pd.util.hash_pandas_object(sim.simulate(seed=11, overrides=['district.schools=5'])).sum())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    here = pd.util.hash_pandas_object(sim.simulate(seed=11, overrides=["district.schools=5"])).sum()
    assert int(other.stdout.strip()) == int(here)
