"""Ranking of tracks for a query vector, with negation penalties: exact when cheap, two-stage above that.

A track's score is its best window's (which also gives the offset where the music fits best), where a
window scores `window . query` minus the negation penalty. Up to EXACT_MAX_WINDOWS windows every window
of every track is scored (one matrix product). Above it ranking is two-stage: faiss over one vector per
run of STAGE1_CHUNK consecutive windows of a track (their mean) picks candidate tracks, and every window
of the candidates is scored with the same formula. One mean per whole track was too coarse for a
best-window score: at 100k simulated tracks even 5000 candidates missed 2% of the exact top 10. Both
limits come from benchmarks/ranking_recall.py (exact-ranking latency by library size; two-stage
recall@10 against exact scoring at 100k simulated tracks).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..encoders.base import l2_normalize

NEGATION_WEIGHT = 1.0  # penalty per unit of cosine above the library's mean for a negated phrase
# benchmarks/ranking_recall.py (2-core machine shared with other jobs, so upper bounds): exact ranking took
# 42 ms of CPU at 200k 384-d windows, 105 ms at 500k and 163 ms at 1M, against ~136 ms for two-stage at
# 100k tracks (1.2M windows): up to 500k windows exact is as cheap. The bundled library has a few thousand.
EXACT_MAX_WINDOWS = 500_000
STAGE1_CHUNK = 4  # windows per stage-1 vector
# Stage-1 hits kept (chunks; their tracks are the candidates). At 100k simulated tracks recall@10 against
# exact scoring was 0.940 with 1000, 0.973 with 2000 and 0.990 with 5000 (0.993 with two negations).
CANDIDATE_TRACKS = 5000
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
    window_penalty: [N] subtracted from each window's score (hubness reduction, search/hubness.py); stage 1
      of two-stage ranking picks candidates without it, the candidates' windows are scored with it.
    """

    def __init__(self, window_emb: np.ndarray, track_ids: np.ndarray, slices: dict[int, slice],
                 neg_emb: np.ndarray | None = None,
                 exact_max_windows: int = EXACT_MAX_WINDOWS, candidate_tracks: int = CANDIDATE_TRACKS,
                 window_penalty: np.ndarray | None = None):
        self.window_emb = window_emb
        self.window_penalty = window_penalty
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
        self._starts, self._lengths = starts, lengths
        self._seg_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(lengths) else starts
        in_order = bool(np.array_equal(starts, self._seg_starts)) and int(lengths.sum()) == len(window_emb)
        self._order = None if in_order else np.concatenate(
            [np.arange(slices[int(t)].start, slices[int(t)].stop) for t in self.track_ids]) if len(lengths) else None
        self._stage1 = None

    def _track_means(self, emb: np.ndarray) -> np.ndarray:
        if not len(self.track_ids):
            return np.zeros((0, emb.shape[1] if emb.ndim == 2 else 0), np.float32)
        return l2_normalize(np.stack([emb[self.slices[int(t)]].mean(axis=0) for t in self.track_ids]))

    def stage1(self):
        """(faiss over chunk vectors, track position of each chunk), built on first use (exact never needs it)."""
        if self._stage1 is None:
            from ..library.vectors import VectorIndex

            n_chunks = -(-self._lengths // STAGE1_CHUNK)
            chunk_track = np.repeat(np.arange(len(self.track_ids)), n_chunks)
            offset = np.arange(int(n_chunks.sum())) - np.repeat(np.cumsum(n_chunks) - n_chunks, n_chunks)
            chunk_rows = self._seg_starts[chunk_track] + STAGE1_CHUNK * offset  # in track order
            ordered = self.window_emb if self._order is None else self.window_emb[self._order]
            vectors = np.add.reduceat(ordered, chunk_rows, axis=0)  # sums; VectorIndex normalises them
            self._stage1 = (VectorIndex(np.arange(len(chunk_track), dtype=np.int64), vectors), chunk_track)
        return self._stage1

    def _window_scores(self, rows, query_vec: np.ndarray, neg_vecs: np.ndarray | None,
                       baseline: np.ndarray | None) -> np.ndarray:
        """The one scoring formula, for any set of rows (all of them or the candidates')."""
        s = self.window_emb[rows] @ query_vec
        if self.window_penalty is not None:
            s = s - self.window_penalty[rows]
        if neg_vecs is not None:  # how much more a window resembles what was negated than the library average does
            s = s - NEGATION_WEIGHT * np.clip(self.neg_emb[rows] @ neg_vecs.T - baseline, 0.0, None).max(axis=1)
        return s

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
        index, chunk_track = self.stage1()
        n = self.candidate_tracks * (NEGATION_CANDIDATE_FACTOR if neg_vecs is not None else 1)
        _, found = index.search(query_vec, max(n, k))
        hits = chunk_track[found[0][found[0] >= 0]]
        _, first = np.unique(hits, return_index=True)
        pos = hits[np.sort(first)]  # candidate tracks, best chunk first
        starts, lengths = self._starts[pos], self._lengths[pos]
        seg_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        rows = np.arange(int(lengths.sum())) + np.repeat(starts - seg_starts, lengths)  # the candidates' windows
        s = self._window_scores(rows, query_vec, neg_vecs, baseline)
        best = np.maximum.reduceat(s, seg_starts)
        out = []
        for i in _top(best, k):
            seg = s[seg_starts[i]:seg_starts[i] + lengths[i]]
            out.append(RankedTrack(int(self.track_ids[pos[i]]), float(best[i]),
                                   int(rows[seg_starts[i] + int(np.argmax(seg))])))
        return out


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first (ties: lower index first)."""
    k = min(k, len(scores))
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))]
