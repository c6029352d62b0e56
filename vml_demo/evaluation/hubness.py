"""Hubness of a ranking: how unevenly candidates appear in the queries' top-k lists.

In high-dimensional embedding spaces a few "hub" items are near everything and crowd every result list
(Radovanovic et al., JMLR 2010). N_k(x) = the number of queries whose top k holds x; a skewed N_k
distribution (long right tail) means hubs. Reported: the skewness of N_k over all candidates and the
largest share of top-k lists one candidate appears in, beside what a random ranking of the same shape gives
(`random_hubness`): in a small pool the top k is a large part of it, so even chance puts one candidate in
many lists (66 clips, 54 queries: about 28 %), and a share means little without that reference.
"""
from __future__ import annotations

import numpy as np


def k_occurrence(sim: np.ndarray, k: int = 10, exclude: np.ndarray | None = None) -> np.ndarray:
    """N_k per candidate (column of `sim`); `exclude[q, j]` drops candidate j from query q's ranking."""
    sim = np.asarray(sim, dtype=np.float64)
    counts = np.zeros(sim.shape[1], dtype=np.int64)
    for q, scores in enumerate(sim):
        allowed = np.flatnonzero(~exclude[q]) if exclude is not None else np.arange(len(scores))
        order = allowed[np.argsort(-scores[allowed], kind="stable")]
        counts[order[:k]] += 1
    return counts


def skewness(values: np.ndarray) -> float:
    """Population skewness E[(x - mean)^3] / std^3; 0 for a constant distribution."""
    x = np.asarray(values, dtype=np.float64)
    std = x.std()
    return float(((x - x.mean()) ** 3).mean() / std**3) if std > 0 else 0.0


def hubness(sim: np.ndarray, k: int = 10, exclude: np.ndarray | None = None) -> dict[str, float]:
    counts = k_occurrence(sim, k, exclude)
    n_queries = max(1, sim.shape[0])
    return {"k": k, "skewness": skewness(counts), "max_share": float(counts.max() / n_queries) if len(counts) else 0.0}


def random_hubness(n_queries: int, n_candidates: int, k: int = 10, draws: int = 1000, seed: int = 0,
                   relevance: np.ndarray | None = None) -> dict:
    """The mean skewness and max share over `draws` uniformly random rankings of n_candidates for n_queries
    (sampled, seeded: unlike the other random-row metrics, the expected maximum has no simple closed form).
    With `relevance` [n_queries, n_candidates], an ideal ranking's instead: each query's relevant candidates
    first, ties in random order. A clip relevant to many queries is in many top-k lists even then."""
    rng = np.random.default_rng(seed)
    k = min(k, n_candidates)
    first = 0.0 if relevance is None else np.asarray(relevance, np.float64)
    skews, shares = [], []
    for _ in range(draws):
        top = np.argpartition(-(first + rng.random((n_queries, n_candidates)) * 0.5), k - 1, axis=1)[:, :k]
        counts = np.bincount(top.ravel(), minlength=n_candidates)
        skews.append(skewness(counts))
        shares.append(counts.max() / max(1, n_queries))
    return {"k": k, "skewness": float(np.mean(skews)), "max_share": float(np.mean(shares)), "draws": draws,
            "seed": seed}
