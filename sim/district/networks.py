"""Collegial and cross-school networks, stored sparse.

The random-graph models are networkx's (Watts-Strogatz, Erdos-Renyi, random
regular, complete; G(n, m) for cross-school ties). :func:`build_adjacency`
draws them for all schools at once from the model's numpy generator, so the
model seed fixes the networks and building them does not dominate set-up;
:func:`build_adjacency_networkx` builds one networkx graph per school (the
reference it is tested against). The union of all ties is held as one symmetric
``scipy.sparse.csr_array`` (weights: 1 for collegial ties, ``peers.cross_school_weight``
for community-of-practice ties) used for vectorized peer influence.
"""

from __future__ import annotations

from types import SimpleNamespace

import networkx as nx
import numpy as np
import scipy.sparse as sp

try:  # scipy's CSR kernels, the ones ``csr_array @ x`` runs (see neighbour_sums)
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec, csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - another scipy layout: fall back to the operator
    _csr_matvec = _csr_matvecs = None

GENERATORS = ("watts_strogatz", "erdos_renyi", "random_regular", "complete")


def neighbour_sums(adjacency: sp.csr_array, x: np.ndarray) -> np.ndarray:
    """``adjacency @ x``: tie-weighted sums over each teacher's neighbours of a vector or of the
    columns of an ``(n, k)`` array, in one pass over the ties.

    Calls the CSR kernels that scipy's ``@`` calls (``csr_matvec``, ``csr_matvecs``, which add
    the terms of each row in the same order), without the operator's dispatch, so the result is
    bit for bit that of ``adjacency @ x`` column by column; the processes sum several vectors over
    the same ties with one call (a step is otherwise dominated by per-call overhead at the
    standard size). Other inputs (not CSR, not float64) go through the operator.
    """
    if (_csr_matvec is None or adjacency.format != "csr" or adjacency.dtype != np.float64
            or x.dtype != np.float64 or x.ndim not in (1, 2)):
        return adjacency @ x
    n_row, n_col = adjacency.shape
    if x.shape[0] != n_col:
        raise ValueError(f"dimension mismatch: adjacency {adjacency.shape}, x {x.shape}")
    x = np.ascontiguousarray(x)
    if x.ndim == 1:
        y = np.zeros(n_row)
        _csr_matvec(n_row, n_col, adjacency.indptr, adjacency.indices, adjacency.data, x, y)
        return y
    y = np.zeros((n_row, x.shape[1]))
    _csr_matvecs(n_row, n_col, x.shape[1], adjacency.indptr, adjacency.indices, adjacency.data, x.ravel(), y.ravel())
    return y


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

    Within-school ties are drawn for all schools at once by :func:`school_edges`
    (the same random-graph models as :func:`school_graph`, without building a
    networkx graph per school); when communities of practice are enabled,
    cross-school ties are a G(n, m) random graph over all teachers
    (:func:`gnm_edges`, as ``networkx.gnm_random_graph``) with
    ``ties_per_teacher`` ties per teacher on average, keeping only ties between
    different schools. All draws come from ``rng`` (the model's generator).
    """
    n_s, n_t = p.district.schools, p.district.teachers_per_school
    net = p.network
    edges = school_edges(n_s, n_t, net.generator, net.degree, net.rewiring, rng)
    return _with_cross_school_ties(p, edges, lambda n, m: gnm_edges(n, m, rng))


def build_adjacency_networkx(p: SimpleNamespace, rng: np.random.Generator) -> sp.csr_array:
    """The same network built one networkx graph per school (:func:`school_graph`).

    The straightforward construction, kept as the reference that
    :func:`build_adjacency` is tested against and used by
    :class:`sim.district.reference.ReferenceDistrictModel`; about ten times slower.
    """
    n_s, n_t = p.district.schools, p.district.teachers_per_school
    seeds = rng.integers(0, 2**32 - 1, size=n_s + 1)
    net = p.network
    blocks = [_edges(school_graph(n_t, net.generator, net.degree, net.rewiring, int(seeds[s])), s * n_t)
              for s in range(n_s)]
    edges = np.concatenate(blocks) if blocks else np.empty((0, 2), dtype=np.int64)
    return _with_cross_school_ties(
        p, edges, lambda n, m: _edges(nx.gnm_random_graph(n, m, seed=int(seeds[-1]))))


def _with_cross_school_ties(p: SimpleNamespace, edges: np.ndarray, gnm) -> sp.csr_array:
    """Add community-of-practice ties (from ``gnm(n, m)``) to within-school ``edges``; symmetric CSR."""
    n_s, n_t = p.district.schools, p.district.teachers_per_school
    n = n_s * n_t
    weights = np.ones(len(edges))
    if p.cop.enabled and p.cop.ties_per_teacher > 0 and n_s > 1:
        cross = gnm(n, int(n * p.cop.ties_per_teacher / 2))
        cross = cross[cross[:, 0] // n_t != cross[:, 1] // n_t]
        edges = np.concatenate([edges, cross])
        weights = np.concatenate([weights, np.full(len(cross), p.peers.cross_school_weight)])
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    adj = sp.coo_array((np.concatenate([weights, weights]), (rows, cols)), shape=(n, n)).tocsr()
    adj.sum_duplicates()
    return adj


def school_edges(n_schools: int, n: int, generator: str, degree: int, rewiring: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Within-school ties of ``n_schools`` schools of ``n`` teachers, as global index pairs.

    Same random-graph models and conventions as :func:`school_graph` (degree
    capped at ``n - 1``, odd Watts-Strogatz degree rounded down, ...), drawn
    for all schools at once: complete and Erdos-Renyi graphs fully vectorized,
    Watts-Strogatz by :func:`_watts_strogatz` and random regular graphs with
    networkx (seeded from ``rng``).
    """
    k = min(int(degree), n - 1)
    offsets = np.arange(n_schools, dtype=np.int64)[:, None] * n
    if generator == "complete" or k >= n - 1 or generator == "erdos_renyi":
        iu, ju = np.triu_indices(n, 1)
        if generator == "erdos_renyi" and k < n - 1:
            keep = rng.random((n_schools, iu.size)) < k / (n - 1)
        else:
            keep = np.ones((n_schools, iu.size), dtype=bool)
        return np.column_stack([(offsets + iu)[keep], (offsets + ju)[keep]])
    if generator == "watts_strogatz":
        return _watts_strogatz(n_schools, n, k, rewiring, rng)
    if generator == "random_regular":
        seeds = rng.integers(0, 2**32 - 1, size=n_schools)
        blocks = [_edges(school_graph(n, generator, degree, rewiring, int(seeds[s])), s * n)
                  for s in range(n_schools)]
        return np.concatenate(blocks) if blocks else np.empty((0, 2), dtype=np.int64)
    raise ValueError(f"unknown network generator {generator!r}; allowed: {', '.join(GENERATORS)}")


def _watts_strogatz(n_schools: int, n: int, k: int, prob: float, rng: np.random.Generator) -> np.ndarray:
    """Watts-Strogatz graphs for all schools, following ``networkx.watts_strogatz_graph`` step by step.

    Ring lattice: each teacher tied to her ``k // 2`` nearest neighbours on
    each side. Rewiring, for offset ``j = 1 .. k // 2`` and teacher ``u`` in
    order: with probability ``prob`` the tie ``(u, u + j)`` is replaced by
    ``(u, w)``, ``w`` uniform among the teachers of the school not yet tied to
    ``u`` (skipped when ``u`` is tied to everyone). The coin flips and candidate
    draws are vectorized; only the rewired ties (a share ``prob``) go through a
    short Python loop, because each rewiring depends on the ones before it
    (each teacher's ties are held as a bit mask over her school).
    """
    half = k // 2
    if half == 0:
        return np.empty((0, 2), dtype=np.int64)
    total = n_schools * n
    u = np.arange(total, dtype=np.int64)
    local = u % n
    heads = np.tile(u, half)
    tails = np.concatenate([u - local + (local + j) % n for j in range(1, half + 1)])
    todo = np.flatnonzero(rng.random(half * total) < prob)  # lattice ties picked for rewiring, in networkx order
    if todo.size == 0:
        return np.column_stack([heads, tails])
    ring = [sum(1 << ((i + j) % n) for j in range(1, half + 1)) | sum(1 << ((i - j) % n) for j in range(1, half + 1))
            for i in range(n)]
    ties = ring * n_schools  # ties[g]: bit mask of the school-local colleagues of teacher g
    draws = rng.integers(0, n, size=2 * todo.size + 16).tolist()
    d = 0
    rewired, new_heads, new_tails = [], [], []
    for t, a, b in zip(todo.tolist(), heads[todo].tolist(), tails[todo].tolist()):
        if ties[a].bit_count() >= n - 1:
            continue
        start = a - a % n
        la = a - start
        while True:
            if d == len(draws):
                draws, d = rng.integers(0, n, size=todo.size + 16).tolist(), 0
            lw = draws[d]
            d += 1
            if lw != la and not (ties[a] >> lw) & 1:
                break
        w = start + lw
        ties[a] ^= (1 << (b - start)) | (1 << lw)
        ties[b] ^= 1 << la
        ties[w] |= 1 << la
        rewired.append(t)
        new_heads.append(a)
        new_tails.append(w)
    keep = np.ones(heads.size, dtype=bool)
    keep[rewired] = False
    return np.concatenate([np.column_stack([heads[keep], tails[keep]]),
                           np.column_stack([np.asarray(new_heads, dtype=np.int64),
                                            np.asarray(new_tails, dtype=np.int64)]).reshape(-1, 2)])


def gnm_edges(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """``m`` distinct random ties among ``n`` nodes, as ``networkx.gnm_random_graph`` draws them.

    networkx draws node pairs uniformly and keeps each new, non-loop pair until
    it has ``m``; here the pairs are drawn in vectorized batches and the first
    ``m`` distinct ones are kept, which gives the same distribution.
    """
    max_ties = n * (n - 1) // 2
    if m >= max_ties:
        iu, ju = np.triu_indices(n, 1)
        return np.column_stack([iu, ju]).astype(np.int64)
    keys = np.empty(0, dtype=np.int64)
    while keys.size < m:
        a, b = rng.integers(0, n, size=(2, int(1.1 * (m - keys.size)) + 16), dtype=np.int64)
        ok = a != b
        new = np.minimum(a, b)[ok] * n + np.maximum(a, b)[ok]
        keys = np.concatenate([keys, new])
        _, first = np.unique(keys, return_index=True)
        keys = keys[np.sort(first)][:m]
    return np.column_stack([keys // n, keys % n])


def to_networkx(adjacency: sp.csr_array, school: np.ndarray) -> nx.Graph:
    """The model's network as a networkx graph, with each node's school as attribute."""
    graph = nx.from_scipy_sparse_array(adjacency)
    nx.set_node_attributes(graph, {i: int(s) for i, s in enumerate(school)}, "school")
    return graph
