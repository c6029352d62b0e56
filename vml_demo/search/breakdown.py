"""Per result, why it ranked: each part of the query's fit at the best window, and what the track is.

`fit` of a result (in `search --json` and the app):
- video_fit / text_fit / like_fit: cosine of the best window with the video's vector (in ViML's space on the
  ViML path), the text's (the music-text space; negated phrases left out) and the liked track's; null where the
  query had no such part.
- tempo_bpm (null where the index has no tempo for the track), vocals_score and instrumental (filters.py's
  rule), license_class;
- instrumental_adjustment: what "prefer instrumental" changed the score by (0 when off);
- filters_met: the active filters (every result passes all of them);
- cut_alignment: null here; the preview's beat/cut alignment fills it where it is computed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import config


@dataclass
class FitInputs:
    window_emb: np.ndarray  # [N, D] music-text window vectors
    text_vec: np.ndarray | None = None
    video_vec: np.ndarray | None = None
    video_emb: np.ndarray | None = None  # window vectors the video is scored against (default window_emb)
    like_vec: np.ndarray | None = None
    filters: list[str] = field(default_factory=list)


def _cos(rows: np.ndarray, row: int, vec: np.ndarray | None) -> float | None:
    return None if vec is None else round(float(rows[row] @ vec), 4)


def fit_breakdown(fit: FitInputs, row: int, facts, i: int, adjustment: float) -> dict:
    """The breakdown of one result: best window `row`, track position `i` in `facts` (filters.TrackFacts)."""
    video_rows = fit.window_emb if fit.video_emb is None else fit.video_emb
    tempo = None if facts.tempos is None or not np.isfinite(facts.tempos[i]) else round(float(facts.tempos[i]), 1)
    return {
        "video_fit": _cos(video_rows, row, fit.video_vec),
        "text_fit": _cos(fit.window_emb, row, fit.text_vec),
        "like_fit": _cos(fit.window_emb, row, fit.like_vec),
        "tempo_bpm": tempo,
        "vocals_score": round(float(facts.vocals[i]), 3),
        "instrumental": bool(facts.vocals[i] < config.VOCALS_THRESHOLD),
        "license_class": facts.licenses[i],
        "instrumental_adjustment": round(adjustment, 4),
        "filters_met": list(fit.filters),
        "cut_alignment": None,
    }


def fit_summary(fit: dict) -> str:
    """A breakdown in one line for people: each fit that applies, tempo, vocals, license, filters met."""
    parts = [f"{name} fit {fit[key]:.2f}" for key, name in (("video_fit", "video"), ("text_fit", "text"),
                                                           ("like_fit", "like")) if fit.get(key) is not None]
    if fit.get("tempo_bpm") is not None:
        parts.append(f"{fit['tempo_bpm']:.0f} BPM")
    parts.append("instrumental" if fit.get("instrumental") else f"vocals ({fit.get('vocals_score', 0):.2f})")
    parts.append(f"{fit.get('license_class', 'unknown')} license")
    if fit.get("instrumental_adjustment"):
        parts.append(f"instrumental preference {fit['instrumental_adjustment']:+.2f}")
    if fit.get("cut_alignment") is not None:
        parts.append(f"cut alignment {fit['cut_alignment']}")
    if fit.get("filters_met"):
        parts.append("meets: " + ", ".join(fit["filters_met"]))
    return " · ".join(parts)
