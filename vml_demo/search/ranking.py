"""Ranking of tracks for a query vector, with negation penalties: exact when cheap, two-stage above that.

A track's score is its best window's (which also gives the offset where the music fits best), where a
window scores `window . query` minus the negation penalty. Up to EXACT_MAX_WINDOWS windows every window
of every track is scored (one matrix product). Above it ranking is two-stage: faiss over one vector per
run of STAGE1_CHUNK consecutive windows of a track (their mean) picks candidate tracks, and every window
of the candidates is scored with the same formula. One mean per whole track was too coarse for a
best-window score: at 100k simulated tracks even 5000 candidates missed 2% of the exact top 10. Both
limits come from benchmarks/ranking_recall.py (exact-ranking latency by library size; two-stage
recall@10 against exact scoring at 100k simulated tracks).

Stage 1 is a flat (exact inner product) faiss index while it holds fewer than COMPRESSED_MIN_CHUNKS chunk
vectors and IVF-PQ (library/vectors.py) above, which is what keeps a catalogue of a million tracks in a
few GiB (benchmarks/catalogue_scale.py). Every pass over the windows (chunk vectors, track means, exact
scores) runs in blocks of BLOCK_ROWS rows, so the window matrix may be a read-only memory map, float16
included, that is never held in memory whole; exact ranking keeps each block's per-track best only, and
`rank_exact_many` scores many queries in one such pass (benchmarks' ground truth over a map larger than RAM).
From a memory map, the candidates' pages are asked for all at once before they are copied and unmapped after
(madvise): at 1M simulated tracks p50 611 -> 86 ms (benchmarks/catalogue_scale.py, README's Large catalogues).
"""
from __future__ import annotations

import mmap
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
# exact scoring was 0.940 with 1000, 0.973 with 2000 and 0.990 with 5000 (0.993 with two negations) with a
# flat stage 1; with the IVF-PQ one the product builds there, 0.812 / 0.874 / 0.966 (0.980 with negations)
# (results/ranking_recall.json); at 1M tracks, 1.000 (results/catalogue_scale_1m.json).
CANDIDATE_TRACKS = 5000
# Negations lower scores after stage 1 picked by the positive score alone, so keep more candidates then.
NEGATION_CANDIDATE_FACTOR = 2
# Stage 1 is IVF-PQ from this many chunk vectors on (the product's threshold, 500k windows, is ~125k chunks):
# below it a flat index is as fast and PQ has too few points to train on.
COMPRESSED_MIN_CHUNKS = 50_000
GATHER_ROWS = 8192  # candidate windows copied to float32 and scored at a time (12 MiB at 384-d)
BLOCK_ROWS = 1 << 20  # windows per block in passes over the whole matrix (1.5 GiB of float32 at 384-d)


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
                 compressed_min_chunks: int = COMPRESSED_MIN_CHUNKS,
                 window_penalty: np.ndarray | None = None):
        self.window_emb = window_emb
        self.window_penalty = window_penalty
        self.neg_emb = window_emb if neg_emb is None else neg_emb
        if len(self.neg_emb) != len(window_emb):
            raise ValueError("neg_emb must have one row per window")
        self._same_neg = neg_emb is None
        self.track_ids = np.asarray(track_ids, np.int64)
        self.slices = slices
        self.candidate_tracks = int(candidate_tracks)
        self.compressed_min_chunks = int(compressed_min_chunks)
        self.exact = len(window_emb) <= exact_max_windows
        # Passes over all windows reduce per track with reduceat, which needs each track's rows to be one
        # run in track order: `_order` gathers them so (None when the rows already are in that order).
        starts = np.fromiter((slices[int(t)].start for t in self.track_ids), np.int64, len(self.track_ids))
        stops = np.fromiter((slices[int(t)].stop for t in self.track_ids), np.int64, len(self.track_ids))
        lengths = stops - starts
        self._starts, self._lengths = starts, lengths
        self._seg_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(lengths) else starts
        in_order = bool(np.array_equal(starts, self._seg_starts)) and int(lengths.sum()) == len(window_emb)
        self._order = None if in_order or not len(lengths) else np.concatenate(
            [np.arange(a, b) for a, b in zip(starts, stops)])
        self._stage1 = None
        self._track_vecs = None
        self._neg_mean = None

    def _blocks(self, emb: np.ndarray):
        """(first track position, end track position, their rows in track order as float32), BLOCK_ROWS at a time."""
        ends = np.cumsum(self._lengths)
        a = 0
        while a < len(self._lengths):
            b = max(a + 1, int(np.searchsorted(ends, self._seg_starts[a] + BLOCK_ROWS, side="right")))
            lo, hi = int(self._seg_starts[a]), int(ends[b - 1])
            rows = slice(lo, hi) if self._order is None else self._order[lo:hi]
            yield a, b, np.asarray(emb[rows], np.float32)  # a view of a float32 map: release after its use
            if self._order is None:  # a pass over a memory map larger than RAM would otherwise stay mapped
                release(emb, np.array([lo]), np.array([hi - lo]))
            a = b

    def _track_sums(self, emb: np.ndarray):
        """Normalised per-track means, block by block: (first track position, [tracks, D])."""
        for a, b, block in self._blocks(emb):
            yield a, l2_normalize(np.add.reduceat(block, self._seg_starts[a:b] - self._seg_starts[a], axis=0))

    @property
    def track_vecs(self) -> np.ndarray:
        """[tracks, D] normalised mean window per track (the library map); built on first use."""
        if self._track_vecs is None:
            dim = self.window_emb.shape[1] if self.window_emb.ndim == 2 else 0
            parts = [v for _, v in self._track_sums(self.window_emb)]
            self._track_vecs = np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)
        return self._track_vecs

    def neg_track_mean(self) -> np.ndarray:
        """Mean over tracks of their normalised mean negation-space window: the penalty baseline is this
        vector's similarity to a negated phrase (a mean of dot products is the dot product of the mean)."""
        if self._neg_mean is None:
            if self._same_neg and self._track_vecs is not None:
                self._neg_mean = self._track_vecs.mean(axis=0)
            else:
                total = np.zeros(self.neg_emb.shape[1], np.float64)
                for _, v in self._track_sums(self.neg_emb):
                    total += v.sum(axis=0, dtype=np.float64)
                self._neg_mean = (total / max(len(self.track_ids), 1)).astype(np.float32)
        return self._neg_mean

    def stage1(self):
        """(faiss over chunk vectors, track position of each chunk), built on first use (exact never needs it).

        Flat below compressed_min_chunks chunks, else IVF-PQ trained on the first block's chunks (tracks are
        not sorted by content, so the first block is a fair sample) and filled block by block.
        """
        if self._stage1 is None:
            from ..library.vectors import VectorIndex

            n_chunks = -(-self._lengths // STAGE1_CHUNK)
            total = int(n_chunks.sum())
            chunk_track = np.repeat(np.arange(len(self.track_ids)), n_chunks)
            first_chunk = np.cumsum(n_chunks) - n_chunks
            index, flat_parts, done = None, [], 0
            for a, b, block in self._blocks(self.window_emb):
                offset = np.arange(first_chunk[a], first_chunk[b - 1] + n_chunks[b - 1]) - np.repeat(
                    first_chunk[a:b], n_chunks[a:b])
                rows = np.repeat(self._seg_starts[a:b] - self._seg_starts[a], n_chunks[a:b]) + STAGE1_CHUNK * offset
                sums = np.add.reduceat(block, rows, axis=0)  # chunk sums; the index normalises them
                if total < self.compressed_min_chunks:
                    flat_parts.append(sums)
                    continue
                if index is None:
                    index = VectorIndex.compressed(sums, total)
                index.add(np.arange(done, done + len(sums), dtype=np.int64), sums)
                done += len(sums)
            if index is None:
                dim = self.window_emb.shape[1]
                index = VectorIndex(np.arange(total, dtype=np.int64),
                                    np.concatenate(flat_parts) if flat_parts else np.zeros((0, dim), np.float32))
            self._stage1 = (index, chunk_track)
        return self._stage1

    def use_stage1(self, index, chunk_track: np.ndarray) -> None:
        """Adopt a stage 1 built earlier over these same windows (a benchmark's cached IVF-PQ): `index` a
        library.vectors.VectorIndex whose ids are chunk numbers, chunk_track the track position of each chunk."""
        chunk_track = np.asarray(chunk_track, np.int64)
        if len(chunk_track) != int((-(-self._lengths // STAGE1_CHUNK)).sum()) or len(index) != len(chunk_track):
            raise ValueError("that stage 1 was built over other windows")
        self._stage1 = (index, chunk_track)

    def _window_scores(self, rows, query_vec: np.ndarray, neg_vecs: np.ndarray | None,
                       baseline: np.ndarray | None, emb: np.ndarray | None = None) -> np.ndarray:
        """The one scoring formula, for any set of rows (all of them or the candidates'); `emb`: those rows
        already read (the negation-space ones are read from rows)."""
        emb = np.asarray(self.window_emb[rows] if emb is None else emb, np.float32)
        neg = None
        if neg_vecs is not None:
            neg = _sims(emb if self._same_neg else np.asarray(self.neg_emb[rows], np.float32), neg_vecs)
        return self._combine(rows, emb @ query_vec, neg, baseline)

    def _combine(self, rows, sims: np.ndarray, neg_sims: np.ndarray | None, baseline: np.ndarray | None) -> np.ndarray:
        """Window scores from their similarity to the query [n] and to the negated phrases [P, n]."""
        s = sims
        if self.window_penalty is not None:
            s = s - self.window_penalty[rows]
        if neg_sims is not None:  # how much more a window resembles what was negated than the library average does
            excess = neg_sims[0] - baseline[0]
            for j in range(1, len(neg_sims)):  # max over phrases, a column at a time (axis=1 on [n, 2] is slow)
                np.maximum(excess, neg_sims[j] - baseline[j], out=excess)
            s = s - NEGATION_WEIGHT * np.clip(excess, 0.0, None, out=excess)
        return s

    def rank(self, query_vec: np.ndarray, k: int, neg_vecs: np.ndarray | None = None,
             exact: bool | None = None, allowed: np.ndarray | None = None,
             bonus: np.ndarray | None = None) -> list[RankedTrack]:
        """Top k tracks; exact None follows the library size, True / False force one method (benchmarks).

        allowed: [T] bool per track (in `track_ids` order), the filters: others are never returned, and the
        top k is taken among the allowed (not cut from an unfiltered list). bonus: [T] added to each track's
        best-window score (e.g. "prefer instrumental"); being per track, it never changes the best window. Two-stage,
        the bonus re-orders stage 1's candidates (it is small next to the scores that pick them); filters narrow
        stage 1's candidates, widen it by the share they remove, and when fewer than k pass, every passing track
        is scored.
        """
        if len(self.track_ids) == 0 or k < 1:
            return []
        query_vec = np.asarray(query_vec, np.float32).reshape(-1)
        has_neg = neg_vecs is not None and len(neg_vecs) > 0
        neg_vecs = np.asarray(neg_vecs, np.float32) if has_neg else None
        baseline = self.neg_track_mean() @ neg_vecs.T if has_neg else None
        adjust = None
        if allowed is not None or bonus is not None:
            adjust = np.zeros(len(self.track_ids), np.float32) if bonus is None else np.asarray(bonus, np.float32)
            if allowed is not None:
                adjust = np.where(np.asarray(allowed, bool), adjust, -np.inf).astype(np.float32)
        if self.exact if exact is None else exact:
            return self._rank_exact(query_vec, k, neg_vecs, baseline, adjust)
        return self._rank_two_stage(query_vec, k, neg_vecs, baseline, adjust)

    def _rank_exact(self, query_vec, k, neg_vecs, baseline, adjust=None) -> list[RankedTrack]:
        return self._exact_many([(query_vec, neg_vecs, baseline)], k, adjust)[0]

    def rank_exact_many(self, queries: list[tuple[np.ndarray, np.ndarray | None]], k: int) -> list[list[RankedTrack]]:
        """Exact top k of several (query, negated phrases or None) in one pass over the windows: what
        rank(q, k, negs, exact=True) returns for each, at the cost of one read of the matrix (ground truth
        for benchmarks over a memory map larger than the page cache)."""
        if len(self.track_ids) == 0 or k < 1 or not queries:
            return [[] for _ in queries]
        prepared = []
        for q, negs in queries:
            negs = np.asarray(negs, np.float32) if negs is not None and len(negs) else None
            prepared.append((np.asarray(q, np.float32).reshape(-1), negs,
                             None if negs is None else self.neg_track_mean() @ negs.T))
        return self._exact_many(prepared, k)

    def _exact_many(self, prepared, k, adjust=None) -> list[list[RankedTrack]]:
        """Every window scored, reduced to each track's best per block (memory stays one block's), then the
        top k tracks' best windows found by scoring those tracks again."""
        q_mat = np.stack([q for q, _, _ in prepared])
        negs = [n for _, n, _ in prepared]
        neg_mat = np.concatenate([n for n in negs if n is not None]) if any(n is not None for n in negs) else None
        cols = np.cumsum([0] + [0 if n is None else len(n) for n in negs])
        best = np.empty((len(prepared), len(self.track_ids)), np.float32)
        for a, b, block in self._blocks(self.window_emb):
            lo = int(self._seg_starts[a])
            rows = slice(lo, lo + len(block)) if self._order is None else self._order[lo:lo + len(block)]
            sims = _sims(block, q_mat)
            neg_all = None
            if neg_mat is not None:
                neg_all = _sims(block if self._same_neg else np.asarray(self.neg_emb[rows], np.float32), neg_mat)
            seg = self._seg_starts[a:b] - lo
            for j, (_, n, baseline) in enumerate(prepared):
                neg = None if n is None else neg_all[cols[j]:cols[j + 1]]
                best[j, a:b] = np.maximum.reduceat(self._combine(rows, sims[j], neg, baseline), seg)
        out = []
        for j, (q, n, baseline) in enumerate(prepared):
            row = best[j] if adjust is None else best[j] + adjust
            found = []
            for i in (i for i in _top(row, k) if np.isfinite(row[i])):
                tid = int(self.track_ids[i])
                own = self.slices[tid]
                rows = np.arange(own.start, own.stop)
                s = self._window_scores(rows, q, n, baseline)
                found.append(RankedTrack(tid, float(row[i]), own.start + int(np.argmax(s))))
            out.append(found)
        return out

    def _candidate_scores(self, starts, lengths, rows, query_vec, neg_vecs, baseline) -> np.ndarray:
        """Scores of the candidates' windows (`rows`, the runs starts[i]:starts[i] + lengths[i]), GATHER_ROWS
        rows at a time so each float32 copy stays cache-sized. From a memory map the kernel is first asked for
        every candidate's pages at once, so they are read in parallel rather than one page fault at a time."""
        prefetch(self.window_emb, starts, lengths)
        if not self._same_neg:
            prefetch(self.neg_emb, starts, lengths)
        src = np.asarray(self.window_emb)  # a plain view of a map, so the copies are plain arrays
        out = np.empty(len(rows), np.float32)
        for a in range(0, len(rows), GATHER_ROWS):
            r = rows[a:a + GATHER_ROWS]
            emb = np.take(src, r, axis=0).astype(np.float32, copy=False)
            out[a:a + len(r)] = self._window_scores(r, query_vec, neg_vecs, baseline, emb=emb)
        release(self.window_emb, starts, lengths)
        if not self._same_neg:
            release(self.neg_emb, starts, lengths)
        return out

    def _rank_two_stage(self, query_vec, k, neg_vecs, baseline, adjust=None) -> list[RankedTrack]:
        index, chunk_track = self.stage1()
        n = self.candidate_tracks * (NEGATION_CANDIDATE_FACTOR if neg_vecs is not None else 1)
        passing = None if adjust is None else np.flatnonzero(np.isfinite(adjust))
        if passing is not None and not len(passing):
            return []
        if passing is not None and int(np.isin(chunk_track, passing).sum()) <= n:
            pos = passing  # the filters leave fewer chunks than stage 1 would return: score all of them
        else:
            if passing is not None:  # ask stage 1 for as many more hits as the filters remove
                n = min(len(chunk_track), int(np.ceil(n * len(adjust) / len(passing))))
            _, found = index.search(query_vec, max(n, k))
            hits = chunk_track[found[0][found[0] >= 0]]
            _, first = np.unique(hits, return_index=True)
            pos = hits[np.sort(first)]  # candidate tracks, best chunk first
            if passing is not None:
                pos = pos[np.isfinite(adjust[pos])]
                if len(pos) < k:  # the filters removed what stage 1 liked best: score every passing track
                    pos = passing
        starts, lengths = self._starts[pos], self._lengths[pos]
        seg_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        rows = np.arange(int(lengths.sum())) + np.repeat(starts - seg_starts, lengths)  # the candidates' windows
        s = self._candidate_scores(starts, lengths, rows, query_vec, neg_vecs, baseline)
        best = np.maximum.reduceat(s, seg_starts)
        if adjust is not None:
            best = best + adjust[pos]
        out = []
        for i in _top(best, k):
            seg = s[seg_starts[i]:seg_starts[i] + lengths[i]]
            out.append(RankedTrack(int(self.track_ids[pos[i]]), float(best[i]),
                                   int(rows[seg_starts[i] + int(np.argmax(seg))])))
        return out


def prefetch(emb: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> None:
    """Ask the kernel to read rows starts[i]:starts[i] + lengths[i] of a memory map ahead (MADV_WILLNEED)."""
    _advise(emb, starts, lengths, getattr(mmap, "MADV_WILLNEED", None), mmap.PAGESIZE)


def release(emb: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> None:
    """Unmap those rows' pages from this process once copied (MADV_DONTNEED: a read-only file map loses
    nothing, the page cache keeps or drops them), so its resident memory holds what it owns. Runs widen to
    FAULT_AROUND: a page fault also maps the cached pages around it, which would otherwise stay."""
    _advise(emb, starts, lengths, getattr(mmap, "MADV_DONTNEED", None), FAULT_AROUND)


FAULT_AROUND = 1 << 16  # Linux's default fault_around_bytes


def _advise(emb: np.ndarray, starts: np.ndarray, lengths: np.ndarray, advice: int | None, align: int) -> None:
    """madvise over the rows' pages, merged into runs; nothing for an array in memory or without madvise."""
    mm = getattr(emb, "_mmap", None)
    if mm is None or advice is None or not len(starts) or not emb.flags.c_contiguous:
        return
    begin = emb.ctypes.data - np.frombuffer(mm, np.uint8).ctypes.data  # the array's offset inside the map
    for a, b in page_runs(begin, emb.strides[0], starts, lengths, align):
        if a < len(mm):
            mm.madvise(advice, a, min(b, len(mm)) - a)


def page_runs(begin: int, row_bytes: int, starts: np.ndarray, lengths: np.ndarray,
              align: int = mmap.PAGESIZE) -> list[tuple[int, int]]:
    """Byte ranges [a, b), both multiples of `align`, sorted and disjoint, covering the rows' bytes (the
    array at byte `begin`)."""
    lo = begin + np.asarray(starts, np.int64) * row_bytes
    hi = lo + np.asarray(lengths, np.int64) * row_bytes
    order = np.argsort(lo, kind="stable")
    lo = (lo[order] // align) * align
    hi = np.maximum.accumulate(-(-hi[order] // align) * align)
    new_run = np.concatenate([[True], lo[1:] > hi[:-1]])  # a run starts where everything before ends short of it
    firsts = np.flatnonzero(new_run)
    return list(zip(lo[firsts].tolist(), np.maximum.reduceat(hi, firsts).tolist()))


def _sims(emb: np.ndarray, vecs: np.ndarray) -> np.ndarray:
    """[P, n] similarities of n rows to P vectors: one matrix-vector product each for a few vectors (a
    [n, D] x [D, 2] product was 2x slower than two of them here), a matrix product for many."""
    if len(vecs) <= 8:
        return np.stack([emb @ v for v in vecs]) if len(vecs) else np.zeros((0, len(emb)), np.float32)
    return vecs @ emb.T


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first (ties: lower index first)."""
    k = min(k, len(scores))
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))]
