"""Evaluate music-text spaces on the labelled test set (MIDI-rendered clips with exact labels).

- text -> music: each query ranks every test clip; R@1/5/10 = share of queries with a relevant clip in
  the top k, median rank of the first relevant clip, mAP over all relevant clips.
- zero-shot tagging (MuLan): every clip scored against every label of a category by cosine; macro
  ROC-AUC and PR-AUC (average precision) over the category's labels.
The test clips are indexed with the same indexer as a library (cached, incremental), never trained on.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..encoders.base import l2_normalize
from ..library.features import WindowTable, load_window_table
from ..library.store import LibraryStore
from ..search.spaces import MusicSpace
from ..model.metrics import mean_average_precision

log = logging.getLogger(__name__)

KS = (1, 5, 10)


def index_testset(folder: Path, db_dir: Path, show_progress: bool = True) -> WindowTable:
    from ..library.indexer import index_folder

    index_folder(folder, db_dir, show_progress=show_progress)
    store = LibraryStore(db_dir)
    try:
        return load_window_table(store)
    finally:
        store.close()


def clip_matrix(space: MusicSpace, table: WindowTable, track_order: list[int]) -> np.ndarray:
    """One normalised vector per clip (mean of its windows), rows in `track_order`."""
    emb = space.window_embeddings(table)
    slices = table.track_slices()
    return l2_normalize(np.stack([emb[slices[t]].mean(axis=0) for t in track_order]))


def first_relevant_ranks(sim: np.ndarray, relevance: np.ndarray) -> np.ndarray:
    """Per query, the 1-based rank of its best-ranked relevant clip (ties counted pessimistically)."""
    out = []
    for scores, relevant in zip(sim, relevance):
        best = scores[relevant].max()
        out.append(int((scores[~relevant] >= best).sum()) + 1)
    return np.array(out)


def text_to_music_metrics(sim: np.ndarray, relevance: np.ndarray) -> dict[str, float]:
    keep = relevance.any(axis=1)
    sim, relevance = sim[keep], relevance[keep]
    ranks = first_relevant_ranks(sim, relevance)
    out = {f"R@{k}": float((ranks <= k).mean()) for k in KS}
    out["medR"] = float(np.median(ranks))
    out["mAP"] = mean_average_precision(sim, relevance)
    out["queries"] = int(len(ranks))
    return out


def _auc(scores: np.ndarray, positive: np.ndarray) -> tuple[float, float] | None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    if positive.all() or not positive.any():
        return None  # undefined for a label every clip (or no clip) has
    return float(roc_auc_score(positive, scores)), float(average_precision_score(positive, scores))


def zero_shot_tagging_metrics(space: MusicSpace, clip_vecs: np.ndarray, clip_labels: list[dict[str, list[str]]],
                              categories: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """category -> {"ROC-AUC": macro, "PR-AUC": macro, "labels": n} over the labels present in the test set."""
    out = {}
    for category in categories:
        labels = sorted({v for c in clip_labels for v in c.get(category, [])})
        if not labels:
            continue
        scores = clip_vecs @ space.embed_text(labels).T  # [clips, labels]
        aucs = []
        for j, label in enumerate(labels):
            positive = np.array([label in c.get(category, []) for c in clip_labels])
            result = _auc(scores[:, j], positive)
            if result:
                aucs.append(result)
        if aucs:
            roc, pr = np.mean(aucs, axis=0)
            out[category] = {"ROC-AUC": float(roc), "PR-AUC": float(pr), "labels": len(aucs)}
    return out
