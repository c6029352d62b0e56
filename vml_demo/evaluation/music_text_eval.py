"""Evaluate music-text spaces on a labelled set (the synthetic MIDI-rendered one, or the real-music one).

- text -> music: each query ranks the clips of its split the way search ranks a library: parsed by
  search/query.py (negated phrases cut from the embedded text, applied as penalties) and scored by the
  product's Ranker (best window per clip). A query's `ignore` clips (neither fair hits nor fair misses) are
  dropped from its ranking. R@1/5/10 = share of queries with a relevant clip in the top k, median rank of
  the first relevant clip, mAP over all relevant clips, and the hubness of the top-10 lists (over whole
  rankings: hubness is what a searched library shows, so `ignore` does not apply to it).
- zero-shot tagging (MuLan): every clip (mean of its windows) scored against every label of a category by
  cosine; macro ROC-AUC and PR-AUC (average precision) over the category's labels; clips whose value is
  unknown (null) for a category are left out of that category.
Clips are indexed with the same indexer as a library (cached, incremental), never trained on.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..encoders.base import l2_normalize
from ..library.features import WindowTable, load_window_table
from ..library.store import LibraryStore
from ..model.metrics import mean_average_precision
from ..search.query import parse_query
from ..search.ranking import Ranker
from ..search.spaces import MusicSpace
from .hubness import hubness

log = logging.getLogger(__name__)

KS = (1, 5, 10)


def index_testset(folder: Path, db_dir: Path, show_progress: bool = True, tables: dict | None = None) -> WindowTable:
    """The set's window table, indexed first (incremental). `tables`: a dict shared by repeated evaluations
    in one process (the lever sweep), which then index and load each set once."""
    if tables is not None and (folder, db_dir) in tables:
        return tables[(folder, db_dir)]
    from ..library.indexer import index_folder

    index_folder(folder, db_dir, show_progress=show_progress)
    store = LibraryStore(db_dir)
    try:
        table = load_window_table(store)
        table.derived["track_tempos"] = store.track_tempos()  # the tag bridge's tempo terms may read BPM
    finally:
        store.close()
    if tables is not None:
        tables[(folder, db_dir)] = table
    return table


def clip_matrix(space: MusicSpace, table: WindowTable, track_order: list[int]) -> np.ndarray:
    """One normalised vector per clip (mean of its windows), rows in `track_order`."""
    emb = space.window_embeddings(table)
    slices = table.track_slices()
    return l2_normalize(np.stack([emb[slices[t]].mean(axis=0) for t in track_order]))


def query_scores(space: MusicSpace, window_emb: np.ndarray, table: WindowTable, track_order: list[int],
                 texts: list[str]) -> np.ndarray:
    """[queries, clips] scores as search gives them: every clip of `track_order` ranked for every text."""
    slices = table.track_slices()
    ranker = Ranker(window_emb, np.array(track_order, np.int64), slices, window_penalty=space.window_penalty(window_emb))
    column = {tid: j for j, tid in enumerate(track_order)}
    out = np.empty((len(texts), len(track_order)))
    for i, text in enumerate(texts):
        vec, negs = space.embed_query(parse_query(text))
        if vec is None:
            raise ValueError(f"query {text!r} has nothing to embed")
        for hit in ranker.rank(vec, len(track_order), negs):
            out[i, column[hit.track_id]] = hit.score
    return out


def first_relevant_ranks(sim: np.ndarray, relevance: np.ndarray, ignore: np.ndarray | None = None) -> np.ndarray:
    """Per query, the 1-based rank of its best-ranked relevant clip (ties counted pessimistically)."""
    out = []
    for q, (scores, relevant) in enumerate(zip(sim, relevance)):
        rivals = ~relevant if ignore is None else ~relevant & ~ignore[q]
        best = scores[relevant].max()
        out.append(int((scores[rivals] >= best).sum()) + 1)
    return np.array(out)


def text_to_music_metrics(sim: np.ndarray, relevance: np.ndarray, ignore: np.ndarray | None = None,
                          hub_k: int = 10) -> dict:
    """Retrieval metrics; `ignore[q, j]` drops clip j from query q's ranking (it counts neither way)."""
    ignore = np.zeros_like(relevance) if ignore is None else ignore & ~relevance
    keep = relevance.any(axis=1)
    sim, relevance, ignore = sim[keep], relevance[keep], ignore[keep]
    ranks = first_relevant_ranks(sim, relevance, ignore)
    out: dict = {f"R@{k}": float((ranks <= k).mean()) for k in KS}
    out["medR"] = float(np.median(ranks))
    # ignored clips go below every real candidate, where they cannot change any relevant clip's precision
    out["mAP"] = mean_average_precision(np.where(ignore, -np.inf, sim), relevance)
    out["queries"] = int(len(ranks))
    # Hubness over whole rankings, as a library is searched: `ignore` is for judging relevance, and the real
    # set's queries ignore most clips (unknown labels), which would leave top-10 lists that are the whole pool.
    out["hubness"] = hubness(sim, hub_k)
    return out


def _values(value) -> list[str]:
    """A clip's label(s) for one category as a list; [] when unknown."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _auc(scores: np.ndarray, positive: np.ndarray) -> tuple[float, float] | None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    if positive.all() or not positive.any():
        return None  # undefined for a label every clip (or no clip) has
    return float(roc_auc_score(positive, scores)), float(average_precision_score(positive, scores))


def zero_shot_tagging_metrics(space: MusicSpace, clip_vecs: np.ndarray, clip_labels: list[dict[str, list[str]]],
                              categories: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """category -> {"ROC-AUC": macro, "PR-AUC": macro, "labels": n, "per_label": {label: {"ROC-AUC", "PR-AUC",
    "positives"}}} over the labels present in the set (per label: a macro mean hides which labels are heard)."""
    out = {}
    for category in categories:
        values = [_values(c.get(category)) for c in clip_labels]
        known = np.array([bool(v) for v in values])  # unknown (null) clips are neither positive nor negative
        labels = sorted({v for vs in values for v in vs})
        if not labels:
            continue
        scores = clip_vecs[known] @ space.embed_text(labels).T  # [known clips, labels]
        per_label = {}
        for j, label in enumerate(labels):
            positive = np.array([label in vs for vs, k in zip(values, known) if k])
            result = _auc(scores[:, j], positive)
            if result:
                per_label[label] = {"ROC-AUC": result[0], "PR-AUC": result[1], "positives": int(positive.sum())}
        if per_label:
            roc, pr = np.mean([[m["ROC-AUC"], m["PR-AUC"]] for m in per_label.values()], axis=0)
            out[category] = {"ROC-AUC": float(roc), "PR-AUC": float(pr), "labels": len(per_label),
                             "per_label": per_label}
    return out
