"""Per-window music features read back from a library store, in one aligned table.

The music tower's input for a window is the concatenation of every music encoder's embedding and tag
probabilities (musicnn MTT + MSD: penultimate layer and 50 tags each; YAMNet: 1024-d embedding and 521
classes). Rows are ordered by track then window, so a track's windows are contiguous.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..encoders.profiles import MUSIC_ENCODER_NAMES
from ..errors import LibraryError
from .store import LibraryStore
from .vectors import window_features


@dataclass
class WindowTable:
    window_ids: np.ndarray  # [N]
    track_ids: np.ndarray  # [N]
    starts: np.ndarray  # [N] window start (s)
    ends: np.ndarray  # [N]
    features: np.ndarray  # [N, F] float32 concatenated encoder outputs (from a library: a read-only memory map)
    scores: dict[str, np.ndarray]  # encoder -> [N, C] tag probabilities (columns of `features`)
    labels: dict[str, list[str]]  # encoder -> C label names
    vocabularies: dict[str, str]  # encoder -> vocabulary name ("mtt", "msd", "audioset")
    feature_spec: list[tuple[str, str, int]]  # (encoder, kind, dim) in column order
    # values derived from this table by later layers (e.g. vocabulary-term scores), computed once
    derived: dict = field(default_factory=dict, repr=False, compare=False)

    def track_slices(self) -> dict[int, slice]:
        """track id -> slice of its rows (rows of one track are contiguous)."""
        out: dict[int, slice] = {}
        if len(self.track_ids) == 0:
            return out
        change = np.flatnonzero(np.diff(self.track_ids)) + 1
        bounds = np.concatenate([[0], change, [len(self.track_ids)]])
        for a, b in zip(bounds[:-1], bounds[1:]):
            out[int(self.track_ids[a])] = slice(int(a), int(b))
        return out


def load_window_table(store: LibraryStore, encoders: tuple[str, ...] = MUSIC_ENCODER_NAMES) -> WindowTable:
    known = store.encoders()
    missing = [e for e in encoders if e not in known]
    if missing:
        raise LibraryError(
            f"The index at {store.db_dir} lacks encoder outputs {', '.join(missing)}: index the folder again"
        )
    windows = store.window_arrays()
    ids = windows["id"]
    outputs = [(enc, kind) for enc in encoders for kind in ("emb", "scores")]
    # one read-only memory map beside the store (vectors.py): columns of each output side by side
    wid, features, dims = window_features(store, outputs)
    if len(wid) != len(ids) or not np.array_equal(wid, ids):
        raise LibraryError(f"The index at {store.db_dir} is inconsistent: index the folder again")
    spec = [(enc, kind, dim) for (enc, kind), dim in zip(outputs, dims)]
    bounds = np.concatenate([[0], np.cumsum(dims)]).astype(int)
    scores = {enc: features[:, bounds[j]:bounds[j + 1]] for j, (enc, kind) in enumerate(outputs) if kind == "scores"}
    return WindowTable(
        window_ids=ids,
        track_ids=windows["track_id"],
        starts=windows["start_s"].astype(np.float32),
        ends=windows["end_s"].astype(np.float32),
        features=features,
        scores=scores,
        labels={e: known[e]["labels"] for e in encoders},
        vocabularies={e: known[e]["vocabulary"] for e in encoders},
        feature_spec=spec,
    )


def table_from_analysis(
    spans: list[tuple[float, float]], vectors: dict[tuple[str, str], np.ndarray], encoders
) -> WindowTable:
    """A WindowTable for one clip that is not in a library (same column layout as load_window_table)."""
    blocks, spec = [], []
    for enc in encoders:
        for kind in ("emb", "scores"):
            blocks.append(vectors[(enc.name, kind)])
            spec.append((enc.name, kind, int(vectors[(enc.name, kind)].shape[1])))
    n = len(spans)
    return WindowTable(
        window_ids=np.arange(n, dtype=np.int64),
        track_ids=np.zeros(n, np.int64),
        starts=np.array([s for s, _ in spans], np.float32),
        ends=np.array([e for _, e in spans], np.float32),
        features=np.concatenate(blocks, axis=1).astype(np.float32),
        scores={enc.name: vectors[(enc.name, "scores")] for enc in encoders},
        labels={enc.name: list(enc.labels) for enc in encoders},
        vocabularies={enc.name: enc.vocabulary for enc in encoders},
        feature_spec=spec,
    )


def feature_columns(spec: list[tuple[str, str, int]], kinds: tuple[str, ...]) -> np.ndarray:
    """Column indices of the feature table holding the given kinds ("emb", "scores") of every encoder."""
    cols, start = [], 0
    for _, kind, dim in spec:
        if kind in kinds:
            cols.extend(range(start, start + dim))
        start += dim
    return np.array(cols, np.int64)
