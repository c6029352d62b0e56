"""Ranking of tracks for a query vector, with negation penalties: exact when cheap, two-stage above that.

A track's score is its best window's (which also gives the offset where the music fits best), where a
window scores `window . query` minus the negation penalty. Up to EXACT_MAX_WINDOWS windows every window
of every track is scored (one matrix product). Above it ranking is two-stage: faiss over one vector per
track (the mean of its windows) picks candidate tracks, and every window of the candidates is scored with
the same formula. Both limits come from benchmarks/ranking_recall.py (exact-ranking latency by library
size; two-stage recall@10 against exact scoring at 100k simulated tracks).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..encoders.base import l2_normalize

NEGATION_WEIGHT = 1.0  # penalty per unit of cosine above the library's mean for a negated phrase
# Exact scoring of 1M 384-d windows took ~60 ms of one core in benchmarks/ranking_recall.py: still
# interactive, so everything up to there is exact (the bundled library has ~4k windows).
EXACT_MAX_WINDOWS = 1_000_000
# Two-stage: candidate tracks kept by stage 1. 1000 gave recall@10 >= 0.99 against exact scoring at 100k
# simulated tracks (with and without negations) in benchmarks/ranking_recall.py; 50 gave ~0.6.
CANDIDATE_TRACKS = 1000
# Negations lower scores after stage 1 picked by the positive score alone, so keep more candidates then.
NEGATION_CANDIDATE_FACTOR = 2


@dataclass
class RankedTrack:
    track_id: int
    score: float
    row: int  # index of the best window in the window matrix


class Ranker:
    """Ranks tracks by their best window.

    window_emb: [N, D] window vectors the query is scored against; slices: track id -> its rows.
    neg_emb: [N, D'] vectors of the same rows that negated phrases are scored against (default
      window_emb); the ViML path scores its query in its own space and negations in the music-text one.
    exact_max_windows: libraries up to this many windows are ranked exactly.
    """

    def __init__(self, window_emb: np.ndarray, track_ids: np.ndarray, slices: dict[int, slice],
                 track_index=None, neg_emb: np.ndarray | None = None,
                 exact_max_windows: int = EXACT_MAX_WINDOWS, candidate_tracks: int = CANDIDATE_TRACKS):
        self.window_emb = window_emb
        self.neg_emb = window_emb if neg_emb is None else neg_emb
        if len(self.neg_emb) != len(window_emb):
            raise ValueError("neg_emb must have one row per window")
        self.track_ids = np.asarray(track_ids, np.int64)
        self.slices = slices
        self.candidate_tracks = int(candidate_tracks)
        self.track_vecs = self._track_means(window_emb)
        self.neg_track_vecs = self.track_vecs if neg_emb is None else self._track_means(self.neg_emb)
        self.exact = len(window_emb) <= exact_max_windows
        # Exact scoring reduces per track with np.maximum.reduceat, which needs each track's rows to be one
        # run in track order: `_order` gathers them so (None when the rows already are in that order).
        starts = np.array([slices[int(t)].start for t in self.track_ids], np.int64)
        lengths = np.array([slices[int(t)].stop - slices[int(t)].start for t in self.track_ids], np.int64)
        self._seg_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(lengths) else starts
        in_order = bool(np.array_equal(starts, self._seg_starts)) and int(lengths.sum()) == len(window_emb)
        self._order = None if in_order else np.concatenate(
            [np.arange(slices[int(t)].start, slices[int(t)].stop) for t in self.track_ids]) if len(lengths) else None
        self._track_index = track_index

    def _track_means(self, emb: np.ndarray) -> np.ndarray:
        if not len(self.track_ids):
            return np.zeros((0, emb.shape[1] if emb.ndim == 2 else 0), np.float32)
        return l2_normalize(np.stack([emb[self.slices[int(t)]].mean(axis=0) for t in self.track_ids]))

    @property
    def track_index(self):
        """faiss over the track vectors (stage 1), built on first use: exact ranking never needs it."""
        if self._track_index is None:
            from ..library.vectors import VectorIndex

            self._track_index = VectorIndex(self.track_ids, self.track_vecs)
        return self._track_index

    def _window_scores(self, rows, query_vec: np.ndarray, neg_vecs: np.ndarray | None,
                       baseline: np.ndarray | None) -> np.ndarray:
        """The one scoring formula, for any set of rows (all of them or the candidates')."""
        if neg_vecs is None:
            return self.window_emb[rows] @ query_vec
        if self.neg_emb is self.window_emb:  # one pass over the windows for the query and the negations
            both = self.window_emb[rows] @ np.vstack([query_vec, neg_vecs]).T
            s, neg = both[:, 0], both[:, 1:]
        else:
            s, neg = self.window_emb[rows] @ query_vec, self.neg_emb[rows] @ neg_vecs.T
        # how much more a window resembles what was negated than the library average does
        return s - NEGATION_WEIGHT * np.clip(neg - baseline, 0.0, None).max(axis=1)

    def rank(self, query_vec: np.ndarray, k: int, neg_vecs: np.ndarray | None = None,
             exact: bool | None = None) -> list[RankedTrack]:
        """Top k tracks; exact None follows the library size, True / False force one method (benchmarks)."""
        if len(self.track_ids) == 0 or k < 1:
            return []
        query_vec = np.asarray(query_vec, np.float32).reshape(-1)
        has_neg = neg_vecs is not None and len(neg_vecs) > 0
        neg_vecs = np.asarray(neg_vecs, np.float32) if has_neg else None
        baseline = (self.neg_track_vecs @ neg_vecs.T).mean(axis=0) if has_neg else None
        if self.exact if exact is None else exact:
            return self._rank_exact(query_vec, k, neg_vecs, baseline)
        return self._rank_two_stage(query_vec, k, neg_vecs, baseline)

    def _rank_exact(self, query_vec, k, neg_vecs, baseline) -> list[RankedTrack]:
        rows = slice(None) if self._order is None else self._order
        s = self._window_scores(rows, query_vec, neg_vecs, baseline)
        best = np.maximum.reduceat(s, self._seg_starts)
        top = _top(best, k)
        out = []
        for i in top:
            tid = int(self.track_ids[i])
            seg = s[self._seg_starts[i]:self._seg_starts[i] + self.slices[tid].stop - self.slices[tid].start]
            out.append(RankedTrack(tid, float(best[i]), self.slices[tid].start + int(np.argmax(seg))))
        return out

    def _rank_two_stage(self, query_vec, k, neg_vecs, baseline) -> list[RankedTrack]:
        n = self.candidate_tracks * (NEGATION_CANDIDATE_FACTOR if neg_vecs is not None else 1)
        _, found = self.track_index.search(query_vec, min(len(self.track_ids), max(n, k)))
        tids = [int(t) for t in found[0] if t >= 0]
        rows = np.concatenate([np.arange(self.slices[t].start, self.slices[t].stop) for t in tids])
        lengths = np.array([self.slices[t].stop - self.slices[t].start for t in tids])
        seg_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        s = self._window_scores(rows, query_vec, neg_vecs, baseline)
        best = np.maximum.reduceat(s, seg_starts)
        out = []
        for i in _top(best, k):
            seg = s[seg_starts[i]:seg_starts[i] + lengths[i]]
            out.append(RankedTrack(tids[i], float(best[i]), int(rows[seg_starts[i] + int(np.argmax(seg))])))
        return out


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first (ties: lower index first)."""
    k = min(k, len(scores))
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))]
