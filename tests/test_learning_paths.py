"""Learning paths: positives grouped by source, ViML clip lengths, synthesised-text methods, the ViML
search path's video-text weight. Small hand-made data; no media, no model downloads."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vml_demo.model.training import PairedFeatures, evaluate_model
from vml_demo.search.ranking import Ranker
from vml_demo.search.viml_path import VimlPath, blend_weights
from vml_demo.textsynth.methods import SynthesizedText
from vml_demo.train import viml as viml_recipe


class FakeTextEncoder:
    name, dim = "fake", 4

    def encode(self, texts):
        return np.stack([np.full(self.dim, float(len(t)), np.float32) for t in texts])


def _item(name, n_segments, seed=0):
    rng = np.random.default_rng(seed)
    return viml_recipe.VideoItem(name, rng.standard_normal((n_segments, 3)), rng.standard_normal((n_segments, 5)),
                                 [[f"{name} seg {i}"] for i in range(n_segments)],
                                 [["data2text (prompt2text fallback)"] for _ in range(n_segments)])


def test_viml_clips_cover_every_query_length_and_group_by_video():
    spans = viml_recipe.clip_spans(70, 64)
    lengths = {s.stop - s.start for s in spans}
    assert {1, 2, 3, 64} <= lengths and max(lengths) == 64  # queries use up to 64 segments
    assert all(0 <= s.start < s.stop <= 70 for s in spans)
    assert {s.stop - s.start for s in viml_recipe.clip_spans(5, 64)} == {1, 2, 3, 4, 5}  # whole short video
    data = viml_recipe.to_paired([_item("a", 6), _item("b", 4, 1)], FakeTextEncoder(), 64)
    ids = data.plain["target_id"].tolist()
    n_a = len(viml_recipe.clip_spans(6, 64))
    assert ids == [0] * n_a + [1] * (len(ids) - n_a)  # overlapping clips of one video share the target


def test_overlapping_clips_are_not_each_others_negatives():
    from vml_demo.model.factory import create_model, load_config

    cfg = load_config("viml_default", {"features": {"video_dim": 3, "text_dim": 4, "music_dim": 5},
                                       "model": {"d_model": 16, "n_layers": 1, "text_dropout": 0.0,
                                                 "video_dropout": 0.0, "dropout": 0.0}})
    model = create_model(cfg, seed=0).eval()
    data = viml_recipe.to_paired([_item("a", 3), _item("b", 3, 1)], FakeTextEncoder(), 64)
    model.prepare(data)
    batch = next(data.batches(len(data)))
    grouped, _ = model.training_loss(batch)
    batch["target_id"] = torch.arange(len(data))  # the old recipe: every clip its own target
    per_clip, _ = model.training_loss(batch)
    from vml_demo.model.loss import positive_mask_from_ids, symmetric_info_nce

    query, music = model(batch)
    ids = data.plain["target_id"]
    assert torch.isclose(grouped, symmetric_info_nce(query, music, model.temperature, positive_mask_from_ids(ids)))
    assert grouped < per_clip


class _Identity(torch.nn.Module):
    def evaluation_views(self, batch):
        return {"v": (batch["video_feats"][:, 0], batch["music_feats"][:, 0])}


def test_evaluation_counts_any_clip_of_the_own_source_as_the_hit():
    # clips 0-1 of source 0 and 2-3 of source 1; each query is closest to the other clip of its source
    q = [[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]]
    t = [[0.8, 0.6], [1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]
    fields = {"video_feats": [np.array([v]) for v in q], "music_feats": [np.array([v]) for v in t]}
    grouped = evaluate_model(_Identity(), PairedFeatures({**fields, "target_id": [0, 0, 1, 1]}))
    per_clip = evaluate_model(_Identity(), PairedFeatures({**fields, "target_id": [0, 1, 2, 3]}))
    assert grouped["v/R@1"] == 1.0 and per_clip["v/R@1"] == 0.0


def test_music_text_windows_are_grouped_by_track():
    from vml_demo.train.music_text import MusicTextExamples, to_paired

    ex = MusicTextExamples([np.ones((3, 2))] * 5, [["a"], ["b"], ["c"], ["d"], ["e"]],
                           ["db:1", "db:1", "db:2", "db:2", "db:2"], {})
    assert to_paired(ex, FakeTextEncoder()).plain["target_id"].tolist() == [0, 0, 1, 1, 1]
    assert to_paired(ex, FakeTextEncoder(), [2, 3, 0]).plain["target_id"].tolist() == [0, 0, 1]


def test_synthesised_texts_record_the_method_that_produced_them():
    assert SynthesizedText("x", "data2text", "prompt2text").label == "data2text (prompt2text fallback)"
    assert SynthesizedText("x", "prompt2text", "prompt2text").label == "prompt2text"
    assert viml_recipe.method_counts([_item("a", 3)]) == {"data2text (prompt2text fallback)": 3}


def test_viml_weight_blends_video_fused_and_text_scores():
    assert blend_weights(1.0, True) == (1.0, 0.0, 0.0)
    assert blend_weights(0.5, True) == (0.0, 1.0, 0.0)
    assert blend_weights(0.75, True) == pytest.approx((0.5, 0.5, 0.0))
    assert blend_weights(0.25, True) == pytest.approx((0.0, 0.5, 0.5))
    assert blend_weights(0.3, False) == (1.0, 0.0, 0.0)  # no text: the video-only query
    rng = np.random.default_rng(0)
    viml_emb = rng.standard_normal((12, 6)).astype(np.float32)
    text_emb = rng.standard_normal((12, 4)).astype(np.float32)
    slices = {i: slice(2 * i, 2 * i + 2) for i in range(6)}
    path = VimlPath.__new__(VimlPath)
    path.ranker = Ranker(np.concatenate([viml_emb, text_emb], axis=1), np.arange(6), slices, neg_emb=text_emb)
    v, f, t = (rng.standard_normal(d).astype(np.float32) for d in (6, 6, 4))
    for w in (0.1, 0.4, 0.5, 0.7, 0.95):
        vec, (a, b, c) = path.query_vector(v, f, t, w)
        want = a * viml_emb @ v + b * viml_emb @ f + c * text_emb @ t
        best = {tid: want[s].max() for tid, s in slices.items()}
        got = {r.track_id: r.score for r in path.ranker.rank(vec, 6)}
        assert got == pytest.approx(best, abs=1e-5)
    scores = [sorted(r.score for r in path.ranker.rank(path.query_vector(v, f, t, w)[0], 6)) for w in (0.2, 0.8)]
    assert scores[0] != pytest.approx(scores[1])  # the weight changes the ranking scores
    neg = rng.standard_normal((1, 4)).astype(np.float32)
    vec = path.query_vector(v, f, t, 0.7)[0]
    plain = {r.track_id: r.score for r in path.ranker.rank(vec, 6)}
    negated = {r.track_id: r.score for r in path.ranker.rank(vec, 6, neg)}
    assert all(negated[k] <= plain[k] + 1e-6 for k in plain) and negated != pytest.approx(plain)
