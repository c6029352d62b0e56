"""Hubness reduction for ranking: a few windows sit close to every text and top every result list.

Both methods give each window one penalty, computed once per library from a bank of generic queries
(the vocabulary's "<term> music" phrases, never evaluation queries) and subtracted from its score:
- CSLS (Lample et al., ICLR 2018): the mean similarity of the window to its HUB_BANK_K nearest bank texts;
- inverted softmax / query-bank normalisation (Smith et al., ICLR 2017; Bogolin et al., CVPR 2022):
  T * log sum_b exp(s(b, window) / T), the log of the softmax denominator over the bank.
A window that is near everything loses most; a query's own term of the score is the same for every window,
so it is left out. Weight, k and temperature live in config and were chosen on the dev split.
"""
from __future__ import annotations

import numpy as np

from .. import config


def bank_texts() -> list[str]:
    from ..textsynth.vocabulary import load_vocabulary

    return [f"{t} music" for t in load_vocabulary().terms()]


def window_penalty(window_emb: np.ndarray, bank_emb: np.ndarray, method: str, *, k: int = config.HUB_BANK_K,
                   weight: float = config.HUB_WEIGHT, temperature: float = config.HUB_TEMPERATURE) -> np.ndarray | None:
    """[N] amounts to subtract from each window's score, or None for method "off"."""
    if method == "off" or not len(window_emb):
        return None
    sims = np.asarray(window_emb, np.float32) @ np.asarray(bank_emb, np.float32).T  # [N, bank]
    if method == "csls":
        k = min(k, sims.shape[1])
        r = np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:].mean(axis=1)
    elif method == "isoftmax":
        top = sims.max(axis=1, keepdims=True)
        r = temperature * np.log(np.exp((sims - top) / temperature).sum(axis=1)) + top[:, 0]
    else:
        raise ValueError(f"unknown hubness method {method!r}")
    return (weight * r).astype(np.float32)
