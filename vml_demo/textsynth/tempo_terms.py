"""Tempo terms from a track's BPM (library/rhythm.py), as a fourth evidence vocabulary, "rhythm".

MTT's fast/slow tags say how fast a clip sounds to a tagger trained on MagnaTagATune, and nothing says
"medium tempo". The beat tracker's BPM says it directly: it is read as three soft labels over the usual
bands of tempo words (slow below about 90 BPM, fast above about 125, medium between; round conventional
boundaries, not fitted), which the vocabulary maps onto its terms like any tagger label ("rhythm" sources).
A track without a steady beat has no rhythm evidence (all three 0). Every window of a track gets its BPM.
"""
from __future__ import annotations

import numpy as np

from ..library.features import WindowTable

RHYTHM_LABELS = ("slow", "medium", "fast")
SLOW_BELOW_BPM = 90.0
FAST_ABOVE_BPM = 125.0
WIDTH_BPM = 5.0  # logistic width of each boundary: 80 BPM is clearly slow, 90 half slow, 100 hardly


def tempo_label_scores(bpm: np.ndarray) -> np.ndarray:
    """BPM [N] (NaN: no tempo) -> soft memberships [N, 3] in RHYTHM_LABELS, summing to 1 where known."""
    bpm = np.asarray(bpm, np.float64)
    known = np.isfinite(bpm)
    b = np.where(known, bpm, 0.0)
    slow = 1.0 / (1.0 + np.exp((b - SLOW_BELOW_BPM) / WIDTH_BPM))
    fast = 1.0 / (1.0 + np.exp((FAST_ABOVE_BPM - b) / WIDTH_BPM))
    medium = np.clip(1.0 - slow - fast, 0.0, 1.0)
    return (np.stack([slow, medium, fast], axis=1) * known[:, None]).astype(np.float32)


def window_bpm(table: WindowTable) -> np.ndarray | None:
    """Each window's track BPM [N] (NaN where the track has none); None when the table carries no tempos
    (`table.derived["track_tempos"]`, set from `LibraryStore.track_tempos()` by whoever loads the table)."""
    tempos = table.derived.get("track_tempos")
    if tempos is None:
        return None
    return np.array([tempos.get(int(t), np.nan) for t in table.track_ids], np.float64)


def rhythm_term_scores(table: WindowTable) -> np.ndarray | None:
    """[N, T] term confidences from the windows' BPM through the vocabulary's "rhythm" sources (None: no tempos)."""
    from .vocabulary import load_vocabulary

    bpm = window_bpm(table)
    if bpm is None:
        return None
    return load_vocabulary().map_score_matrix("rhythm", list(RHYTHM_LABELS), tempo_label_scores(bpm))[1]
