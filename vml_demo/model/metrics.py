"""Retrieval metrics over similarity matrices, as ViML reports them.

Conventions: `sim[i, j]` scores query i against candidate j, higher is better, and unless `targets`
is given the true candidate of query i is candidate i. Ranks are 1-based. Ties count against the
query (a candidate scoring equal to the true one is ranked ahead of it), so a constant similarity
matrix gets the worst rank, never a perfect one.

Grouped (multi-positive) ranks: with `groups` (one source id per paired item: clips or windows cut from
the same video or track share it) a query's hit is the best-scoring candidate of its own source, and the
other candidates of that source are neither hits nor misses: the rank counts only other sources' candidates
scoring at least as high. Without it, overlapping clips of one source would count as each other's misses.
"""
from __future__ import annotations

import numpy as np

DEFAULT_KS = (1, 5, 10)


def _as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _targets(sim: np.ndarray, targets) -> np.ndarray:
    if targets is None:
        if sim.shape[0] > sim.shape[1]:
            raise ValueError(f"{sim.shape[0]} queries but only {sim.shape[1]} candidates: pass targets")
        return np.arange(sim.shape[0])
    targets = np.asarray(targets, dtype=np.int64).reshape(-1)
    if targets.shape[0] != sim.shape[0]:
        raise ValueError(f"{targets.shape[0]} targets for {sim.shape[0]} queries")
    return targets


def ranks(sim, targets=None, groups=None) -> np.ndarray:
    """1-based rank of each query's true candidate (ties pessimistic), shape [n_queries].

    groups: optional source id per item of a square (paired) matrix; see the module docstring.
    """
    sim = _as_numpy(sim)
    if sim.ndim != 2 or sim.size == 0:
        raise ValueError(f"similarity must be a non-empty 2-D matrix, got shape {sim.shape}")
    if groups is not None:
        groups = np.asarray(groups).reshape(-1)
        if targets is not None or sim.shape[0] != sim.shape[1] or len(groups) != sim.shape[0]:
            raise ValueError("groups need a square similarity matrix of paired items and one group per item")
        same = groups[:, None] == groups[None, :]
        true = np.where(same, sim, -np.inf).max(axis=1)[:, None]  # the best clip of the query's own source
        return (((sim >= true) & ~same).sum(axis=1) + 1).astype(np.int64)
    targets = _targets(sim, targets)
    true = sim[np.arange(sim.shape[0]), targets][:, None]
    at_least_as_good = (sim >= true).sum(axis=1)  # includes the true candidate itself
    return at_least_as_good.astype(np.int64)


def recall_at_k(sim, k: int, targets=None) -> float:
    """Share of queries whose true candidate ranks within the top k."""
    return float((ranks(sim, targets) <= k).mean())


def median_rank(sim, targets=None) -> float:
    return float(np.median(ranks(sim, targets)))


def mean_average_precision(sim, relevance) -> float:
    """mAP with several relevant candidates per query; queries with none relevant are skipped."""
    sim = _as_numpy(sim)
    relevance = np.asarray(relevance, dtype=bool)
    if relevance.shape != sim.shape:
        raise ValueError(f"relevance shape {relevance.shape} differs from similarity shape {sim.shape}")
    precisions = []
    for scores, relevant in zip(sim, relevance):
        n_relevant = int(relevant.sum())
        if n_relevant == 0:
            continue
        # Sort by score descending; among ties put irrelevant candidates first (pessimistic).
        order = np.lexsort((relevant, -scores))
        hits = relevant[order]
        positions = np.flatnonzero(hits) + 1
        precisions.append(float(np.mean(np.arange(1, n_relevant + 1) / positions)))
    if not precisions:
        raise ValueError("no query has a relevant candidate")
    return float(np.mean(precisions))


def retrieval_metrics(sim, targets=None, ks=DEFAULT_KS, groups=None) -> dict[str, float]:
    """R@k for each k, median and mean rank, and rsum (sum of the R@k, in %); groups: see ranks."""
    r = ranks(sim, targets, groups)
    out = {f"R@{k}": float((r <= k).mean()) for k in ks}
    out["median_rank"] = float(np.median(r))
    out["mean_rank"] = float(r.mean())
    out["rsum"] = 100.0 * sum(out[f"R@{k}"] for k in ks)
    return out


def pooled_metrics_from_similarity(sim, pool_size: int | None = 500, n_pools: int = 10, seed: int = 0,
                                   ks=DEFAULT_KS, groups=None) -> dict[str, float]:
    """Metrics within random pools of `pool_size` paired items, averaged over `n_pools` pools.

    Each pool is a random subset of the N query/candidate pairs; every query in it is ranked against
    the pool's candidates, so its true candidate is always among them and chance R@1 is 1/pool_size
    (more with groups: any clip of the query's source in the pool is a hit).
    pool_size None (or >= N) ranks against everything once. groups: source id per item (see ranks).
    """
    groups = None if groups is None else np.asarray(groups).reshape(-1)
    sim = _as_numpy(sim)
    n = sim.shape[0]
    if sim.shape[0] != sim.shape[1]:
        raise ValueError(f"pooled metrics need paired items (a square matrix), got {sim.shape}")
    if pool_size is None or pool_size >= n:
        out = retrieval_metrics(sim, ks=ks, groups=groups)
        out.update(pool_size=float(n), n_pools=1.0)
        return out
    if pool_size < 2:
        raise ValueError("pool_size must be at least 2")
    rng = np.random.default_rng(seed)
    per_pool = []
    for _ in range(n_pools):
        pool = rng.choice(n, size=pool_size, replace=False)
        per_pool.append(retrieval_metrics(sim[np.ix_(pool, pool)], ks=ks,
                                          groups=None if groups is None else groups[pool]))
    out = {key: float(np.mean([m[key] for m in per_pool])) for key in per_pool[0]}
    out.update(pool_size=float(pool_size), n_pools=float(n_pools))
    return out


def pooled_retrieval_metrics(query_emb, target_emb, pool_size: int | None = 500, n_pools: int = 10,
                             seed: int = 0, ks=DEFAULT_KS) -> dict[str, float]:
    """Cosine retrieval metrics of paired embeddings (row i of each is a true pair), within pools."""
    q = _as_numpy(query_emb)
    t = _as_numpy(target_emb)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    t = t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
    return pooled_metrics_from_similarity(q @ t.T, pool_size, n_pools, seed, ks)


def ensemble_similarity(sim_a, sim_b, weight: float = 0.5) -> np.ndarray:
    """weight * sim_a + (1 - weight) * sim_b: ViML's ensemble of two models (appendix C)."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"ensemble weight must lie in [0, 1], got {weight}")
    a, b = _as_numpy(sim_a), _as_numpy(sim_b)
    if a.shape != b.shape:
        raise ValueError(f"similarity matrices differ in shape: {a.shape} vs {b.shape}")
    return weight * a + (1.0 - weight) * b


def format_table(rows: list[dict], columns: list[str] | None = None, title: str | None = None,
                 percent: tuple[str, ...] = ("R@",)) -> str:
    """Plain-text table; columns whose name starts with a `percent` prefix are shown as percentages."""
    if not rows:
        return title or ""
    columns = columns or list(dict.fromkeys(key for row in rows for key in row))

    def cell(col, value):
        if isinstance(value, float):
            if any(col.startswith(p) for p in percent):
                return f"{100 * value:.1f}"
            return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
        return "" if value is None else str(value)

    body = [[cell(c, row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(columns)]

    def line(items):  # first column left-aligned (names), the rest right-aligned (numbers)
        return "  ".join(s.rjust(w) if i else s.ljust(w) for i, (s, w) in enumerate(zip(items, widths)))

    out = [title] if title else []
    out += [line(columns), line(["-" * w for w in widths])] + [line(r) for r in body]
    return "\n".join(out)
