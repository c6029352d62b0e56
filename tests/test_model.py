"""Towers, fusion, loss, ViML and music-text models, checkpoints and the resumable training loop."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vml_demo.errors import QueryError, WeightsUnavailableError
from vml_demo.media.hashing import file_sha256
from vml_demo.model.checkpoint import CheckpointMismatchError, load_checkpoint, save_checkpoint
from vml_demo.model.checkpoint_info import INFO_FILE, checkpoint_info
from vml_demo.model.factory import create_model, load_config
from vml_demo.model.fusion import FUSION_KINDS, make_fusion
from vml_demo.model.loss import positive_mask_from_ids, symmetric_info_nce
from vml_demo.model.towers import SequenceTower
from vml_demo.model.training import PairedFeatures, evaluate_model, train_contrastive

FEATURES = {"video_dim": 12, "text_dim": 10, "music_dim": 14}
SMALL = {"model": {"d_model": 32, "n_layers": 1, "n_heads": 4, "dropout": 0.0, "max_video_segments": 8,
                   "max_music_segments": 8}, "features": FEATURES,
         "train": {"epochs": 3, "batch_size": 16, "lr": 1e-3, "progress": False}}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small models train fastest single-threaded on a busy machine; restore the setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def viml(overrides=None, seed=0):
    from vml_demo.model.factory import merge_config

    return create_model(load_config("viml_default", merge_config(SMALL, overrides)), seed=seed)


def random_batch(n=6, t=4, seed=0, lengths=None):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths or [1 + i % t for i in range(n)])
    mask = torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)
    return {"video_feats": torch.randn(n, t, 12, generator=g) * mask.unsqueeze(-1), "video_mask": mask,
            "text_emb": torch.randn(n, 10, generator=g),
            "music_feats": torch.randn(n, t, 14, generator=g) * mask.unsqueeze(-1), "music_mask": mask.clone(),
            "target_id": torch.arange(n)}


def tiny_viml_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    lens = rng.integers(1, 5, n)
    z = [rng.standard_normal((k, 4)) for k in lens]
    a_v, a_m, a_t = rng.standard_normal((12, 4)), rng.standard_normal((14, 4)), rng.standard_normal((10, 4))
    return PairedFeatures({"video_feats": [x @ a_v.T for x in z], "music_feats": [x @ a_m.T for x in z],
                           "text_emb": [np.stack([x.mean(0) @ a_t.T, rng.standard_normal(10)]) for x in z],
                           "target_id": np.arange(n)})


# --- towers ----------------------------------------------------------------------------------------
def test_tower_shapes_normalisation_and_single_segment():
    tower = SequenceTower(12, d_model=32, n_layers=2, n_heads=4, max_len=8, out_dim=20).eval()
    out = tower(torch.randn(5, 3, 12))
    assert out.pooled.shape == (5, 20) and out.tokens.shape == (5, 3, 20)
    assert torch.allclose(out.pooled.norm(dim=-1), torch.ones(5), atol=1e-5)
    single = tower(torch.randn(5, 12))  # [B, F]: one segment each
    assert single.pooled.shape == (5, 20) and single.tokens.shape == (5, 1, 20)
    with pytest.raises(ValueError, match="max_len"):
        tower(torch.randn(2, 9, 12))
    with pytest.raises(ValueError, match="12-d"):
        tower(torch.randn(2, 3, 11))


def test_padding_does_not_change_outputs():
    tower = SequenceTower(12, d_model=32, n_layers=2, n_heads=4, max_len=8).eval()
    short = torch.randn(1, 2, 12)
    alone = tower(short).pooled
    padded = torch.cat([short, torch.full((1, 3, 12), 99.0)], dim=1)  # garbage in the padding
    batch = torch.cat([padded, torch.randn(1, 5, 12)])
    mask = torch.tensor([[True, True, False, False, False], [True] * 5])
    out = tower(batch, mask)
    assert torch.allclose(out.pooled[0], alone[0], atol=1e-5)
    assert torch.all(out.tokens[0, 2:] == 0)


def test_input_normalizer_makes_scale_irrelevant():
    tower = SequenceTower(12, d_model=32, n_layers=1, n_heads=4, max_len=4).eval()
    x = torch.randn(6, 3, 12)
    reference = tower(x).pooled
    tower.normalizer.set_stats(torch.full((12,), 500.0), torch.full((12,), 1000.0))
    assert torch.allclose(tower(x * 1000.0 + 500.0).pooled, reference, atol=1e-4)


# --- fusion and loss -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", FUSION_KINDS)
def test_fusion_variants(kind):
    tower = SequenceTower(12, d_model=32, n_layers=1, n_heads=4, max_len=8)
    fusion = make_fusion(kind, 32)
    video = tower(torch.randn(4, 3, 12), torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0], [1, 1, 1]]).bool())
    text = torch.nn.functional.normalize(torch.randn(4, 32), dim=-1)
    fused = fusion(video, text)
    assert fused.shape == (4, 32)
    assert torch.allclose(fused.norm(dim=-1), torch.ones(4), atol=1e-5)
    fused.sum().backward()
    assert tower.project.weight.grad is not None and tower.project.weight.grad.abs().sum() > 0
    if kind == "add":
        assert not list(fusion.parameters())
        assert torch.allclose(fused, torch.nn.functional.normalize(video.pooled + text, dim=-1))
    with pytest.raises(ValueError, match="unknown fusion"):
        make_fusion("concat", 32)


def test_info_nce_symmetric_and_minimal_for_matched_pairs():
    g = torch.Generator().manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(8, 16, generator=g), dim=-1)
    b = torch.nn.functional.normalize(a + 0.1 * torch.randn(8, 16, generator=g), dim=-1)
    assert torch.isclose(symmetric_info_nce(a, b), symmetric_info_nce(b, a))
    matched = symmetric_info_nce(a, b)
    shuffled = symmetric_info_nce(a, b[torch.roll(torch.arange(8), 1)])
    assert matched < 0.1 < shuffled
    assert symmetric_info_nce(a, a) <= matched


def test_info_nce_multi_positive_matches_hand_computation():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    b = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # rows 0 and 1 share a target
    mask = positive_mask_from_ids(torch.tensor([7, 7, 3]))
    tau = 0.5
    s = (a @ b.t() / tau)
    s_masked = s.clone()
    s_masked[0, 1] = s_masked[1, 0] = float("-inf")
    expected = 0.5 * (torch.nn.functional.cross_entropy(s_masked, torch.arange(3))
                      + torch.nn.functional.cross_entropy(s_masked.t(), torch.arange(3)))
    assert torch.isclose(symmetric_info_nce(a, b, tau, mask), expected)
    assert symmetric_info_nce(a, b, tau, mask) < symmetric_info_nce(a, b, tau)


# --- ViML ------------------------------------------------------------------------------------------
def test_viml_encoders_shapes_and_queries():
    model = viml().eval()
    batch = random_batch()
    q = model.encode_query(batch["video_feats"], batch["video_mask"], batch["text_emb"])
    v = model.encode_video(batch["video_feats"], batch["video_mask"])
    t = model.encode_query(None, None, batch["text_emb"])
    m = model.encode_music(batch["music_feats"], batch["music_mask"])
    for x in (q, v, t, m):
        assert x.shape == (6, 32)
        assert torch.allclose(x.norm(dim=-1), torch.ones(6), atol=1e-5)
    assert not torch.allclose(q, v)
    model.set_empty_text(batch["text_emb"][2])  # video-only == video + the empty-string embedding
    v = model.encode_video(batch["video_feats"], batch["video_mask"])
    same = model.encode_query(batch["video_feats"], batch["video_mask"], batch["text_emb"][2].expand(6, -1))
    assert torch.allclose(v, same, atol=1e-6)
    with pytest.raises(QueryError):
        model.encode_query(None, None, None)
    with pytest.raises(ValueError, match="dims"):
        model.set_empty_text(torch.zeros(5))


def test_text_dropout_rate_in_training_and_none_in_eval():
    model = viml({"model": {"text_dropout": 0.8, "video_dropout": 0.0}})
    model.set_empty_text(torch.randn(10))
    batch = random_batch(n=2000, seed=1)
    model.eval()
    with torch.no_grad():
        with_text = model.encode_query(batch["video_feats"], batch["video_mask"], batch["text_emb"])
        without = model.encode_video(batch["video_feats"], batch["video_mask"])
        eval_query, _ = model(batch)
        assert torch.allclose(eval_query, with_text, atol=1e-6)  # no dropout in eval mode
        model.train()  # model dropout is 0, so text dropout is the only randomness
        train_query, _ = model(batch)
    dropped = (train_query - without).abs().amax(dim=-1) < 1e-5
    kept = (train_query - with_text).abs().amax(dim=-1) < 1e-5
    assert bool((dropped ^ kept).all())
    assert 0.77 < dropped.float().mean() < 0.83


def test_video_dropout_uses_no_video_token():
    model = viml({"model": {"text_dropout": 0.0, "video_dropout": 0.5}})
    batch = random_batch(n=400, seed=2)
    with torch.no_grad():
        model.eval()
        text_only = model.encode_query(None, None, batch["text_emb"])
        model.train()
        train_query, _ = model(batch)
    rate = ((train_query - text_only).abs().amax(dim=-1) < 1e-5).float().mean()
    assert 0.4 < rate < 0.6


def test_zeros_empty_text_mode():
    model = viml({"model": {"empty_text": "zeros"}}).eval()
    model.set_empty_text(torch.ones(10))  # ignored, with a warning
    assert torch.all(model.empty_text == 0)
    with pytest.raises(ValueError, match="empty_text"):
        viml({"model": {"empty_text": "blank"}})


# --- checkpoints -----------------------------------------------------------------------------------
def test_checkpoint_round_trip_identical(tmp_path):
    model = viml({"model": {"fusion": "transformer1"}}).eval()
    model.set_empty_text(torch.randn(10))
    torch.nn.init.normal_(model.fusion.out.weight)  # non-zero so the fusion weights matter
    batch = random_batch()
    save_checkpoint(tmp_path / "ck", model, model.config, {"metrics": {"video/R@1": np.float32(0.5)}},
                    {"title": "test model", "data": "random tensors"})
    loaded, config, meta = load_checkpoint(tmp_path / "ck", expect={"text_dim": 10})
    assert not loaded.training and config["model"]["fusion"] == "transformer1"
    assert meta["metrics"]["video/R@1"] == 0.5 and "saved_at" in meta
    for fn in ("encode_video", "encode_music"):
        key = "video" if fn == "encode_video" else "music"
        assert torch.equal(getattr(model, fn)(batch[f"{key}_feats"], batch[f"{key}_mask"]),
                           getattr(loaded, fn)(batch[f"{key}_feats"], batch[f"{key}_mask"]))
    card = (tmp_path / "ck" / "model_card.md").read_text()
    assert "# test model" in card and "random tensors" in card and "video/R@1" in card and "fusion: transformer1" in card
    assert (tmp_path / "ck" / "config.yaml").is_file()
    assert (tmp_path / "ck" / INFO_FILE).is_file()  # written at save time: search reads it without torch
    info = checkpoint_info(tmp_path / "ck")
    assert info["config"] == config and info["sha256"] == file_sha256(tmp_path / "ck" / "checkpoint.pt")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_checkpoint_errors_are_clear(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="no model checkpoint"):
        load_checkpoint(tmp_path / "missing")
    model = viml()
    save_checkpoint(tmp_path / "ck", model, model.config)
    with pytest.raises(CheckpointMismatchError, match="text_dim: checkpoint has 10, active encoders give 384"):
        load_checkpoint(tmp_path / "ck", expect={"text_dim": 384, "video_dim": 12})
    (tmp_path / "ck" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsUnavailableError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "ck")


def test_config_loader_merges_overrides(tmp_path):
    config = load_config("viml_default", {"model.fusion": "mlp", "train": {"lr": 0.1}})
    assert config["model"]["fusion"] == "mlp" and config["train"]["lr"] == 0.1
    assert config["model"]["temperature"] == 0.03 and config["model"]["text_dropout"] == 0.8
    partial = tmp_path / "mine.yaml"
    partial.write_text("model:\n  kind: music_text\n  temperature: 0.1\n")
    merged = load_config(partial)
    assert merged["model"]["temperature"] == 0.1 and merged["model"]["d_model"] == 256
    with pytest.raises(FileNotFoundError, match="shipped configs"):
        load_config("nope")


def test_create_model_builds_the_kind_a_config_names(tmp_path):
    from vml_demo.model.music_text import MusicTextModel
    from vml_demo.model.viml import VimlModel

    small = {"model": {"d_model": 32, "n_layers": 1}, "features": FEATURES}
    by_name = create_model("music_text_default", small, seed=0)
    by_dict = create_model(load_config("music_text_default", small), seed=0)
    assert isinstance(by_name, MusicTextModel) and isinstance(create_model("viml_default", small), VimlModel)
    assert all(torch.equal(a, b) for a, b in zip(by_name.state_dict().values(), by_dict.state_dict().values()))
    with pytest.raises(ValueError, match="unknown model kind"):
        create_model({"model": {"kind": "nope"}})


# --- data and training -----------------------------------------------------------------------------
def test_paired_features_pads_masks_and_samples_alternatives():
    data = PairedFeatures({"music_feats": [np.ones((1, 3)), np.ones((3, 3)), np.ones(3)],
                           "text_emb": [np.array([[1.0], [2.0]]), np.array([3.0]), np.array([[4.0], [5.0]])],
                           "target_id": [0, 1, 2]})
    batch = next(data.batches(3))
    assert batch["music_feats"].shape == (3, 3, 3)
    assert batch["music_mask"].tolist() == [[True, False, False], [True, True, True], [True, False, False]]
    assert batch["music_feats"][0, 1:].abs().sum() == 0
    picks = {tuple(next(data.batches(3, epoch=e, seed=0))["text_emb"][:, 0].tolist()) for e in range(20)}
    assert len(picks) > 1 and all(p[1] == 3.0 for p in picks)
    assert next(data.batches(3, epoch=4, seed=1))["text_emb"].equal(next(data.batches(3, epoch=4, seed=1))["text_emb"])
    assert next(data.with_pick("first").batches(3))["text_emb"][:, 0].tolist() == [1.0, 3.0, 4.0]
    assert data.valid_rows("music_feats").shape == (5, 3)


def test_paired_features_mixes_a_second_text_source_at_the_given_rate():
    real = [np.array([[10.0], [11.0]]), np.zeros((0, 1)), np.array([[12.0]])]
    fields = {"music_feats": [np.ones(2)] * 3, "text_emb": [np.array([1.0]), np.array([2.0]), np.array([3.0])],
              "real_text_emb": real}

    def draws(ratio, pick="random"):
        data = PairedFeatures(fields, mix={"text_emb": ("real_text_emb", ratio)}, pick=pick)
        batches = [next(data.batches(3, epoch=e, seed=0)) for e in range(400)]
        assert all("real_text_emb" not in b for b in batches)
        return np.array([b["text_emb"][:, 0].tolist() for b in batches])

    half = draws(0.5)
    assert set(half[:, 0]) == {1.0, 10.0, 11.0} and set(half[:, 1]) == {2.0}  # no real text: keeps its own
    assert 0.4 < (half[:, 2] == 12.0).mean() < 0.6 and 0.4 < (half[:, 0] > 5).mean() < 0.6
    assert (draws(1.0)[:, [0, 2]] > 5).all() and (draws(0.0) < 5).all()
    assert (draws(1.0, pick="first") == [1.0, 2.0, 3.0]).all()  # evaluation never mixes


def test_resume_continues_identically(tmp_path):
    train, val = tiny_viml_data(64, 0), tiny_viml_data(32, 1).with_pick("first")
    overrides = {"model": {"dropout": 0.1, "text_dropout": 0.5, "video_dropout": 0.2}}
    straight = viml(overrides)
    train_contrastive(straight, train, val, out_dir=tmp_path / "a")
    interrupted = viml(overrides)
    train_contrastive(interrupted, train, val, out_dir=tmp_path / "b", stop_after_epoch=0)
    resumed = viml(overrides, seed=123)  # different initial weights: everything must come from the checkpoint
    result = train_contrastive(resumed, train, val, out_dir=tmp_path / "b", resume_from=tmp_path / "b" / "last")
    for (name, p), q in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(p, q), name
    assert [h["epoch"] for h in result.history] == [0, 1, 2]
    assert (tmp_path / "b" / "best" / "checkpoint.pt").is_file()
    best, _, meta = load_checkpoint(result.best_dir)
    assert meta["epoch"] == result.best_epoch


def test_music_text_model_learns_tied_data():
    rng = np.random.default_rng(0)
    n, latent = 384, 6
    z = rng.standard_normal((n, latent))
    a_m, a_t = rng.standard_normal((20, latent)), rng.standard_normal((16, latent))
    windows = [1000.0 * (np.repeat(z[i:i + 1], k, 0) @ a_m.T + 0.3 * rng.standard_normal((k, 20))) + 300.0
               for i, k in enumerate(rng.integers(1, 4, n))]
    texts = [np.stack([z[i] @ a_t.T + 0.3 * rng.standard_normal(16) for _ in range(3)]) for i in range(n)]
    config = load_config("music_text_default", {
        "features": {"music_dim": 20, "text_dim": 16}, "model": {"d_model": 32, "n_layers": 1, "dropout": 0.0},
        "train": {"epochs": 8, "batch_size": 64, "lr": 2e-3, "progress": False}})
    model = create_model(config, seed=0)
    train = PairedFeatures({"music_feats": windows[:320], "text_emb": texts[:320]})
    test = PairedFeatures({"music_feats": windows[320:], "text_emb": texts[320:]}, pick="first")
    train_contrastive(model, train)
    metrics = evaluate_model(model, test)
    assert metrics["text->music/R@1"] > 0.8  # chance: 1/64
    emb = model.encode_music(torch.as_tensor(np.asarray(windows[0][:1]), dtype=torch.float32))
    assert emb.shape == (1, 16) and torch.isclose(emb.norm(), torch.tensor(1.0))
    assert torch.all(model.music_tower.normalizer.std > 100)  # raw scale learned from the data
