"""What a random ranking scores, computed exactly (no sampling), so every table has its chance row.

For a query with n candidates of which r are relevant, under a uniformly random order:
- P(first relevant within the top k) = 1 - C(n - r, k) / C(n, k);
- P(first relevant at rank i) = C(n - i, r - 1) / C(n, r);
- E[AP] = (1/n) * (H_n + (r - 1)/(n - 1) * (n - H_n)), H_n the n-th harmonic number: the relevant item at
  position p contributes (1 + expected other relevant items above it) / p = (1 + (p-1)(r-1)/(n-1)) / p.
The median rank is that of the first relevant clip over all queries pooled (the median of the mixture of
the per-query distributions).
"""
from __future__ import annotations

from math import comb

import numpy as np


def expected_average_precision(n: int, r: int) -> float:
    harmonic = float(np.sum(1.0 / np.arange(1, n + 1)))
    if n == 1:
        return 1.0
    return (harmonic + (r - 1) / (n - 1) * (n - harmonic)) / n


def first_relevant_distribution(n: int, r: int) -> np.ndarray:
    """P(first relevant at rank i) for i = 1..n - r + 1."""
    total = comb(n, r)
    return np.array([comb(n - i, r - 1) / total for i in range(1, n - r + 2)])


def random_ranking_metrics(sizes: list[tuple[int, int]], ks=(1, 5, 10)) -> dict[str, float]:
    """sizes: per query (candidates n, relevant r >= 1). Same keys as text_to_music_metrics."""
    sizes = [(n, r) for n, r in sizes if r >= 1]
    out = {f"R@{k}": float(np.mean([1.0 - comb(n - r, k) / comb(n, k) if k <= n else 1.0 for n, r in sizes]))
           for k in ks}
    longest = max(n for n, _ in sizes)
    mixture = np.zeros(longest)
    for n, r in sizes:
        dist = first_relevant_distribution(n, r)
        mixture[: len(dist)] += dist / len(sizes)
    out["medR"] = float(np.searchsorted(np.cumsum(mixture), 0.5 - 1e-12) + 1)
    out["mAP"] = float(np.mean([expected_average_precision(n, r) for n, r in sizes]))
    out["queries"] = len(sizes)
    return out
