"""Collegial and cross-school networks, built with networkx, stored sparse.

Every generator is seeded from the model's numpy generator, so the model seed
fixes the networks. The union of all ties is held as one symmetric
``scipy.sparse.csr_array`` (weights: 1 for collegial ties, ``peers.cross_school_weight``
for community-of-practice ties) used for vectorized peer influence.
"""

from __future__ import annotations

from types import SimpleNamespace

import networkx as nx
import numpy as np
import scipy.sparse as sp

GENERATORS = ("watts_strogatz", "erdos_renyi", "random_regular", "complete")


def school_graph(n: int, generator: str, degree: int, rewiring: float, seed: int) -> nx.Graph:
    """Collegial ties among the ``n`` teachers of one school.

    ``degree`` is capped at ``n - 1``. Watts-Strogatz joins each teacher to its
    ``degree // 2`` nearest neighbours on each side of a ring (an odd degree is
    rounded down) and rewires with probability ``rewiring``; Erdos-Renyi uses
    edge probability ``degree / (n - 1)``; random_regular needs ``n * degree``
    even (the degree is lowered by one otherwise).
    """
    k = min(int(degree), n - 1)
    if generator == "complete" or k >= n - 1:
        return nx.complete_graph(n)
    if generator == "watts_strogatz":
        return nx.watts_strogatz_graph(n, k, rewiring, seed=seed)
    if generator == "erdos_renyi":
        return nx.fast_gnp_random_graph(n, k / (n - 1), seed=seed)
    if generator == "random_regular":
        if (n * k) % 2:
            k -= 1
        return nx.random_regular_graph(k, n, seed=seed)
    raise ValueError(f"unknown network generator {generator!r}; allowed: {', '.join(GENERATORS)}")


def _edges(graph: nx.Graph, offset: int = 0) -> np.ndarray:
    e = np.fromiter((x for edge in graph.edges() for x in edge), dtype=np.int64,
                    count=2 * graph.number_of_edges()).reshape(-1, 2)
    return e + offset


def build_adjacency(p: SimpleNamespace, rng: np.random.Generator) -> sp.csr_array:
    """Symmetric weighted adjacency of all teachers (school-major order).

    Within-school ties come from :func:`school_graph` for each school; when
    communities of practice are enabled, cross-school ties are a
    ``networkx.gnm_random_graph`` over all teachers with ``ties_per_teacher``
    ties per teacher on average, keeping only ties between different schools.
    """
    n_s, n_t = p.district.schools, p.district.teachers_per_school
    n = n_s * n_t
    seeds = rng.integers(0, 2**32 - 1, size=n_s + 1)
    net = p.network
    blocks = [_edges(school_graph(n_t, net.generator, net.degree, net.rewiring, int(seeds[s])), s * n_t)
              for s in range(n_s)]
    edges = np.concatenate(blocks) if blocks else np.empty((0, 2), dtype=np.int64)
    weights = np.ones(len(edges))
    if p.cop.enabled and p.cop.ties_per_teacher > 0 and n_s > 1:
        cross = _edges(nx.gnm_random_graph(n, int(n * p.cop.ties_per_teacher / 2), seed=int(seeds[-1])))
        cross = cross[cross[:, 0] // n_t != cross[:, 1] // n_t]
        edges = np.concatenate([edges, cross])
        weights = np.concatenate([weights, np.full(len(cross), p.peers.cross_school_weight)])
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    adj = sp.coo_array((np.concatenate([weights, weights]), (rows, cols)), shape=(n, n)).tocsr()
    adj.sum_duplicates()
    return adj


def to_networkx(adjacency: sp.csr_array, school: np.ndarray) -> nx.Graph:
    """The model's network as a networkx graph, with each node's school as attribute."""
    graph = nx.from_scipy_sparse_array(adjacency)
    nx.set_node_attributes(graph, {i: int(s) for i, s in enumerate(school)}, "school")
    return graph
