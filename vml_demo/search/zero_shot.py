"""Zero-shot tagging (MuLan): score a clip against any free-text labels by cosine similarity in the
music-text space. Works with the trained tower or, without training, the tag bridge."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..encoders.base import l2_normalize
from ..errors import QueryError
from ..library.features import WindowTable, table_from_analysis
from ..settings import get_settings
from .spaces import MusicSpace, choose_space

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


def analyze_file(path: str | Path) -> WindowTable:
    from ..encoders.profiles import music_encoders
    from ..library.indexer import analyze_track, decode_track

    encoders = music_encoders()
    duration_s, blocks = decode_track(Path(path))
    spans, vectors = analyze_track(blocks, duration_s, encoders)
    return table_from_analysis(spans, vectors, encoders)


def zero_shot_tag_file(path: str | Path, labels: list[str], checkpoint: str | None = None,
                       library_db: str | Path | None = None) -> list[dict]:
    """Labels sorted by cosine similarity to the clip. The tag bridge uses the bundled library's term
    statistics when that index exists, so its weights mean the same as in search."""
    from ..encoders.profiles import active_profile
    from ..encoders.text import load_text_encoder
    from ..library.features import load_window_table
    from ..library.store import LibraryStore
    from ..errors import LibraryError

    table = analyze_file(path)
    text_encoder = load_text_encoder(active_profile().text_encoder)
    try:
        library_table = load_window_table(LibraryStore(library_db or get_settings().db_dir))
    except LibraryError:
        library_table = None
    space = choose_space(checkpoint or get_settings().space, library_table, text_encoder)
    return score_labels(space, clip_embedding(space, table), labels)
