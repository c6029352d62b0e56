"""Zero-shot tagging (MuLan): score a clip against any free-text labels by cosine similarity in the
music-text space. Works with the trained tower or, without training, the tag bridge."""
from __future__ import annotations

import numpy as np

from ..encoders.base import l2_normalize
from ..errors import QueryError
from ..library.features import WindowTable, table_from_analysis
from .spaces import MusicSpace

MAX_LABELS = 500


def clip_embedding(space: MusicSpace, table: WindowTable) -> np.ndarray:
    """One vector for a whole clip: the mean of its window embeddings, normalised."""
    return l2_normalize(space.window_embeddings(table).mean(axis=0))


def score_labels(space: MusicSpace, clip_vec: np.ndarray, labels: list[str]) -> list[dict]:
    labels = [label.strip() for label in labels if label and label.strip()]
    if not labels:
        raise QueryError("Give at least one label, e.g. --labels \"jazz,rock,calm piano\"")
    if len(labels) > MAX_LABELS:
        raise QueryError(f"Too many labels ({len(labels)}); at most {MAX_LABELS}")
    sims = space.embed_text(labels) @ clip_vec
    order = np.argsort(-sims, kind="stable")
    return [{"label": labels[i], "score": round(float(sims[i]), 4)} for i in order]


def analyze_audio(duration_s: float, blocks: list[tuple[float, np.ndarray]]) -> WindowTable:
    """The library's window table for one decoded clip (16 kHz blocks, as `decode_track` gives them)."""
    from ..encoders.profiles import music_encoders
    from ..library.indexer import analyze_track

    encoders = music_encoders()
    spans, vectors = analyze_track(blocks, duration_s, encoders)
    return table_from_analysis(spans, vectors, encoders)


def zero_shot_tag(space: MusicSpace, table: WindowTable, labels: list[str]) -> list[dict]:
    """Labels sorted by cosine similarity to the clip in `space`: the loaded library's space, so a tag
    bridge weighs terms with the same library statistics as search does."""
    return score_labels(space, clip_embedding(space, table), labels)
