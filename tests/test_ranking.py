"""Ranking (vml_demo/search/ranking.py): exact scoring matches brute force; two-stage agrees with it."""
from __future__ import annotations

import numpy as np
import pytest

from vml_demo.search import ranking
from vml_demo.search.ranking import NEGATION_WEIGHT, Ranker, page_runs


def _library(n_tracks=60, dim=16, seed=0, shuffled_rows=False):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 8, n_tracks)
    centers = rng.standard_normal((n_tracks, dim))
    emb = np.concatenate([c + 0.7 * rng.standard_normal((n, dim)) for c, n in zip(centers, lengths)])
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    ids = np.arange(100, 100 + n_tracks, dtype=np.int64)
    slices = {int(t): slice(int(a), int(b)) for t, a, b in zip(ids, bounds[:-1], bounds[1:])}
    if shuffled_rows:  # tracks stored in another order than their ids
        ids = ids[::-1].copy()
    return emb, ids, slices, rng


def _brute_force(emb, slices, q, negs=None, neg_emb=None):
    """Every window scored with the documented formula, written out independently."""
    neg_emb = emb if neg_emb is None else neg_emb
    out = []
    if negs is not None:
        track_means = np.stack([neg_emb[s].mean(axis=0) for s in slices.values()])
        track_means /= np.linalg.norm(track_means, axis=1, keepdims=True)
        baseline = (track_means @ negs.T).mean(axis=0)
    for tid, rows in slices.items():
        for row in range(rows.start, rows.stop):
            score = float(emb[row] @ q)
            if negs is not None:
                score -= NEGATION_WEIGHT * max(0.0, float((neg_emb[row] @ negs.T - baseline).max()))
            out.append((score, tid, row))
    best = {}
    for score, tid, row in out:
        if tid not in best or score > best[tid][0]:
            best[tid] = (score, row)
    return sorted(((s, t, r) for t, (s, r) in best.items()), key=lambda x: -x[0])


@pytest.mark.parametrize("shuffled_rows", [False, True])
def test_exact_ranking_scores_every_window(shuffled_rows):
    emb, ids, slices, rng = _library(shuffled_rows=shuffled_rows)
    ranker = Ranker(emb, ids, slices)
    assert ranker.exact
    for _ in range(5):
        q = rng.standard_normal(emb.shape[1]).astype(np.float32)
        negs = rng.standard_normal((2, emb.shape[1])).astype(np.float32)
        for neg in (None, negs):
            got = ranker.rank(q, 7, neg)
            want = _brute_force(emb, slices, q, neg)[:7]
            assert [(r.track_id, r.row) for r in got] == [(t, r) for _, t, r in want]
            assert [r.score for r in got] == pytest.approx([s for s, _, _ in want], abs=1e-5)


def test_two_stage_uses_the_same_formula_and_agrees_with_exact():
    emb, ids, slices, rng = _library(n_tracks=200)
    few = Ranker(emb, ids, slices, exact_max_windows=10, candidate_tracks=10)
    everything = Ranker(emb, ids, slices, exact_max_windows=10, candidate_tracks=200)
    assert not few.exact
    overlaps = []
    for _ in range(10):
        q = rng.standard_normal(emb.shape[1]).astype(np.float32)
        negs = rng.standard_normal((1, emb.shape[1])).astype(np.float32)
        exact = few.rank(q, 10, negs, exact=True)
        # with every track a candidate, two-stage is exact scoring, negations included
        assert [(r.track_id, r.row) for r in everything.rank(q, 10, negs)] == [(r.track_id, r.row) for r in exact]
        approx = few.rank(q, 10, negs)
        exact_scores = {r.track_id: r.score for r in few.rank(q, 200, negs, exact=True)}
        assert all(r.score == pytest.approx(exact_scores[r.track_id], abs=1e-5) for r in approx)
        overlaps.append(len({r.track_id for r in approx} & {r.track_id for r in exact}))
    assert np.mean(overlaps) < 10  # 10 candidates of 200 do miss some: the benchmark sizes the real count


def test_negations_scored_in_a_separate_space():
    emb, ids, slices, rng = _library()
    other = rng.standard_normal((len(emb), 8)).astype(np.float32)
    other /= np.linalg.norm(other, axis=1, keepdims=True)
    ranker = Ranker(emb, ids, slices, neg_emb=other)
    q = rng.standard_normal(emb.shape[1]).astype(np.float32)
    negs = rng.standard_normal((2, 8)).astype(np.float32)
    want = _brute_force(emb, slices, q, negs, neg_emb=other)[:5]
    assert [r.track_id for r in ranker.rank(q, 5, negs)] == [t for _, t, _ in want]
    with pytest.raises(ValueError, match="one row per window"):
        Ranker(emb, ids, slices, neg_emb=other[:-1])


def test_empty_library_and_large_k():
    assert Ranker(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), {}).rank(np.ones(4), 5) == []
    emb, ids, slices, _ = _library(n_tracks=3)
    assert len(Ranker(emb, ids, slices).rank(np.ones(emb.shape[1], np.float32), 50)) == 3


def test_compressed_stage1_returns_what_exact_ranking_returns_on_an_easy_case():
    """Above the exact size stage 1 is IVF-PQ: on well-separated groups of tracks (a query near one group's
    centre) the ranking, negation penalties and best-window rows included, is the exact one."""
    from vml_demo.library.vectors import VectorIndex

    rng = np.random.default_rng(3)
    dim, groups, per_group = 32, 12, 40
    centers = rng.standard_normal((groups, dim)) * 3
    lengths = rng.integers(4, 9, groups * per_group)
    group_of = np.repeat(np.arange(groups), per_group)
    emb = np.concatenate([centers[g] + rng.standard_normal(dim) * 0.8 + rng.standard_normal((n, dim)) * 0.5
                          for g, n in zip(group_of, lengths)])
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    ids = np.arange(len(lengths), dtype=np.int64)
    slices = {int(t): slice(int(bounds[t]), int(bounds[t + 1])) for t in ids}
    ranker = Ranker(emb, ids, slices, exact_max_windows=0, candidate_tracks=120, compressed_min_chunks=1)
    assert not ranker.exact
    index, _ = ranker.stage1()
    assert type(index.index).__name__ == "IndexIVFPQ" and isinstance(index, VectorIndex)
    for g in range(0, groups, 3):
        q = (centers[g] / np.linalg.norm(centers[g])).astype(np.float32)
        negs = (centers[(g + 1) % groups] / np.linalg.norm(centers[(g + 1) % groups]))[None].astype(np.float32)
        for neg in (None, negs):
            want = ranker.rank(q, 10, neg, exact=True)
            got = ranker.rank(q, 10, neg)
            assert [(r.track_id, r.row) for r in got] == [(r.track_id, r.row) for r in want]
            assert [r.score for r in got] == pytest.approx([r.score for r in want], abs=1e-5)
            assert all(group_of[r.track_id] == g for r in got)


def test_blockwise_passes_match_whole_matrix(monkeypatch):
    """Exact scores, track means and the negation baseline computed block by block (as over a memory map)
    equal the one-block result, rows out of track order included."""
    from vml_demo.search import ranking

    emb, ids, slices, rng = _library(n_tracks=80, shuffled_rows=True)
    q = rng.standard_normal(emb.shape[1]).astype(np.float32)
    negs = rng.standard_normal((2, emb.shape[1])).astype(np.float32)
    whole = Ranker(emb, ids, slices)
    want = [(r.track_id, r.row, r.score) for r in whole.rank(q, 15, negs)]
    monkeypatch.setattr(ranking, "BLOCK_ROWS", 7)
    blocked = Ranker(emb, ids, slices)
    got = [(r.track_id, r.row, r.score) for r in blocked.rank(q, 15, negs)]
    assert [g[:2] for g in got] == [w[:2] for w in want]
    assert [g[2] for g in got] == pytest.approx([w[2] for w in want], abs=1e-5)
    np.testing.assert_allclose(blocked.track_vecs, whole.track_vecs, atol=1e-5)


@pytest.mark.parametrize("shuffled_rows", [False, True])
def test_exact_many_matches_one_query_at_a_time(shuffled_rows, monkeypatch):
    import vml_demo.search.ranking as ranking

    monkeypatch.setattr(ranking, "BLOCK_ROWS", 37)  # several blocks, tracks never split across them
    emb, ids, slices, rng = _library(shuffled_rows=shuffled_rows)
    neg_emb = np.roll(emb, 1, axis=1)
    for ranker in (Ranker(emb, ids, slices), Ranker(emb, ids, slices, neg_emb=neg_emb)):
        queries = [(rng.standard_normal(emb.shape[1]).astype(np.float32),
                    None if i % 2 else rng.standard_normal((i % 3 + 1, emb.shape[1])).astype(np.float32))
                   for i in range(6)]
        many = ranker.rank_exact_many(queries, 5)
        for (q, negs), got in zip(queries, many):
            want = _brute_force(emb, slices, q, negs, None if ranker._same_neg else neg_emb)[:5]
            assert [(r.track_id, r.row) for r in got] == [(t, r) for _, t, r in want]
            assert [r.score for r in got] == pytest.approx([s for s, _, _ in want], abs=1e-5)


def test_two_stage_over_a_float16_memory_map_matches_in_memory(tmp_path):
    emb, ids, slices, rng = _library(n_tracks=80)
    path = tmp_path / "w.npy"
    np.save(path, emb.astype(np.float16))
    mm = np.load(path, mmap_mode="r")
    in_memory = Ranker(np.asarray(mm, np.float32), ids, slices, exact_max_windows=0, candidate_tracks=20)
    mapped = Ranker(mm, ids, slices, exact_max_windows=0, candidate_tracks=20)
    for _ in range(4):
        q = rng.standard_normal(emb.shape[1]).astype(np.float32)
        negs = rng.standard_normal((2, emb.shape[1])).astype(np.float32)
        for neg in (None, negs):
            a, b = in_memory.rank(q, 5, neg), mapped.rank(q, 5, neg)
            assert [(r.track_id, r.row) for r in a] == [(r.track_id, r.row) for r in b]
            assert [r.score for r in a] == pytest.approx([r.score for r in b], abs=1e-5)


def test_candidates_read_in_small_blocks_score_the_same(tmp_path, monkeypatch):
    emb, ids, slices, rng = _library(n_tracks=80)
    np.save(tmp_path / "w.npy", emb.astype(np.float16))
    mapped = Ranker(np.load(tmp_path / "w.npy", mmap_mode="r"), ids, slices, exact_max_windows=0, candidate_tracks=30)
    q = rng.standard_normal(emb.shape[1]).astype(np.float32)
    negs = rng.standard_normal((2, emb.shape[1])).astype(np.float32)
    whole = [mapped.rank(q, 8), mapped.rank(q, 8, negs)]
    monkeypatch.setattr(ranking, "GATHER_ROWS", 7)  # blocks that split tracks
    blocked = [mapped.rank(q, 8), mapped.rank(q, 8, negs)]
    for a, b in zip(whole, blocked):
        assert [(r.track_id, r.row) for r in a] == [(r.track_id, r.row) for r in b]
        assert [r.score for r in a] == pytest.approx([r.score for r in b], abs=1e-6)


def test_prefetch_runs_are_page_aligned_disjoint_and_cover_every_row():
    rng = np.random.default_rng(3)
    page = ranking.mmap.PAGESIZE
    starts = rng.integers(0, 5000, 300)
    lengths = rng.integers(1, 40, 300)
    runs = page_runs(128, 768, starts, lengths)
    assert all(a % page == 0 and b % page == 0 and a < b for a, b in runs)
    assert all(a % (1 << 16) == 0 and b % (1 << 16) == 0 for a, b in page_runs(128, 768, starts, lengths, 1 << 16))
    assert all(b1 < a2 for (_, b1), (a2, _) in zip(runs, runs[1:]))  # sorted, disjoint, not even touching
    for s, n in zip(starts, lengths):
        lo, hi = 128 + s * 768, 128 + (s + n) * 768
        assert any(a <= lo and hi <= b for a, b in runs)


def test_a_stage1_built_over_other_windows_is_refused():
    emb, ids, slices, _ = _library(n_tracks=40)
    ranker = Ranker(emb, ids, slices, exact_max_windows=0)
    index, chunk_track = ranker.stage1()
    other = Ranker(emb, ids[:20], {int(t): slices[int(t)] for t in ids[:20]}, exact_max_windows=0)
    with pytest.raises(ValueError):
        other.use_stage1(index, chunk_track)
    fresh = Ranker(emb, ids, slices, exact_max_windows=0)
    fresh.use_stage1(index, chunk_track)
    q = emb[3]
    assert [r.track_id for r in fresh.rank(q, 5)] == [r.track_id for r in ranker.rank(q, 5)]
