"""Why a track matched: its own strongest vocabulary terms, and which of them the query asked for."""
from __future__ import annotations

import numpy as np

from ..library.features import WindowTable
from ..textsynth.terms import distinctive_weights, window_term_matrix

MIN_CONFIDENCE = 0.1  # a term the taggers barely see is not shown as the track's tag
TOP_TERMS = 8


def track_terms(table: WindowTable) -> dict[int, list[str]]:
    """track id -> its terms ordered by how distinctive they are in this library (strongest first)."""
    if len(table.window_ids) == 0:
        return {}
    terms, scores = window_term_matrix(table)
    slices = table.track_slices()
    means = np.stack([scores[s].mean(axis=0) for s in slices.values()])
    weights = distinctive_weights(means, means.mean(axis=0), means.std(axis=0)) * (means >= MIN_CONFIDENCE)
    out = {}
    for tid, w in zip(slices, weights):
        order = [j for j in np.argsort(-w) if w[j] > 0][:TOP_TERMS]
        out[tid] = [terms[j] for j in order]
    return out


def why_matched(query, track_terms_list: list[str]) -> list[str]:
    """Query terms found among the track's terms (the words that explain the match)."""
    have = set(track_terms_list)
    return [t for t in dict.fromkeys(query.terms) if t in have]
