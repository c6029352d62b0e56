"""CLIP ViT-B/32 encoders: weight discovery, the not-found message, and the full path with random weights."""
from __future__ import annotations

import numpy as np
import pytest

from vml_demo import config
from vml_demo.compat import ensure_torchvision_importable
from vml_demo.encoders import clip
from vml_demo.errors import WeightsUnavailableError


def isolate_from_real_weights(mp: pytest.MonkeyPatch, root) -> None:
    """No CLIP weights anywhere: empty checkpoints folder, HF cache and home, no downloads."""
    mp.delenv("VML_CLIP_WEIGHTS", raising=False)
    mp.delenv("VML_ALLOW_DOWNLOAD", raising=False)
    mp.delenv("HF_HOME", raising=False)
    mp.setenv("HF_HUB_CACHE", str(root / "hub"))
    mp.setenv("HOME", str(root / "home"))
    mp.setattr(config, "CHECKPOINTS_DIR", root / "checkpoints")


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    isolate_from_real_weights(monkeypatch, tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def random_clip(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        isolate_from_real_weights(mp, tmp_path_factory.mktemp("noclip"))
        return clip.load_clip(device="cpu", allow_random=True)


def frames_batch(n=2, h=90, w=160, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


# ---------------------------------------------------------------- discovery


def test_not_found_message_lists_places_and_the_fix(no_weights):
    assert clip.find_clip_weights() is None
    with pytest.raises(WeightsUnavailableError) as info:
        clip.load_clip(device="cpu")
    message = str(info.value)
    assert message.startswith("CLIP ViT-B/32 weights not found (looked in ")
    assert str(no_weights / "checkpoints" / "clip") in message and str(no_weights / "hub") in message
    assert "offline encoders are used instead" in message and "VML_CLIP_WEIGHTS=" in message
    assert "\n" not in message
    status = clip.clip_status()
    assert status.startswith("CLIP ViT-B/32 not available") and "\n" not in status


def test_weights_are_found_in_order_env_checkpoints_hf_cache(no_weights, monkeypatch):
    snapshot = no_weights / "hub" / "models--timm--vit_base_patch32_clip_224.openai" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_model.safetensors").write_bytes(b"x")
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("abc123")
    assert clip.find_clip_weights() == snapshot / "open_clip_model.safetensors"
    assert "Hugging Face cache" in clip.clip_status()

    local = no_weights / "checkpoints" / "clip"
    local.mkdir(parents=True)
    (local / "open_clip_pytorch_model.bin").write_bytes(b"x")
    assert clip.find_clip_weights() == local / "open_clip_pytorch_model.bin"

    explicit = no_weights / "mine.pt"
    explicit.write_bytes(b"x")
    monkeypatch.setenv("VML_CLIP_WEIGHTS", str(explicit))
    assert clip.find_clip_weights() == explicit
    assert clip.clip_status() == f"CLIP ViT-B/32 available: weights from VML_CLIP_WEIGHTS ({explicit})"

    monkeypatch.setenv("VML_CLIP_WEIGHTS", str(no_weights / "missing.bin"))  # falls through, and says so
    assert clip.find_clip_weights() == local / "open_clip_pytorch_model.bin"


def test_hf_home_is_used_when_hub_cache_is_unset(no_weights, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(no_weights / "hfhome"))
    assert clip.hf_hub_cache_dir() == no_weights / "hfhome" / "hub"


def test_unreadable_weights_fail_with_one_line(no_weights, monkeypatch):
    bad = no_weights / "open_clip_pytorch_model.bin"
    bad.write_bytes(b"not a checkpoint")
    monkeypatch.setenv("VML_CLIP_WEIGHTS", str(bad))
    with pytest.raises(WeightsUnavailableError) as info:
        clip.load_clip(device="cpu")
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_hub_repo_id_matches_open_clip_registry():
    ensure_torchvision_importable()
    from open_clip import pretrained

    cfg = pretrained.get_pretrained_cfg(clip.MODEL_NAME, clip.PRETRAINED_TAG)
    assert cfg["hf_hub"].rstrip("/") == clip.HF_REPO_ID
    assert cfg["quick_gelu"] is True and tuple(cfg["mean"]) == clip.CLIP_MEAN and tuple(cfg["std"]) == clip.CLIP_STD


# ---------------------------------------------------------------- preprocessing and the random-weight model


def test_preprocessing_resizes_shorter_side_and_centre_crops():
    frame = np.zeros((1, 300, 600, 3), dtype=np.uint8)
    frame[:, :, :200] = (255, 0, 0)
    frame[:, :, 200:400] = (0, 255, 0)
    frame[:, :, 400:] = (0, 0, 255)
    pixels = clip.preprocess_frames(frame)
    assert tuple(pixels.shape) == (1, 3, 224, 224)
    green = (np.array([0.0, 1.0, 0.0]) - clip.CLIP_MEAN) / clip.CLIP_STD
    assert np.allclose(pixels[0, :, 112, 112].numpy(), green, atol=0.02)  # the centre is the green band
    grey = clip.preprocess_frames(np.full((2, 50, 70, 3), 128, dtype=np.uint8))  # small frames are upscaled
    assert tuple(grey.shape) == (2, 3, 224, 224)
    expected = (128 / 255 - np.array(clip.CLIP_MEAN)) / np.array(clip.CLIP_STD)
    assert np.allclose(grey[0].mean(dim=(1, 2)).numpy(), expected, atol=1e-3)


def test_random_image_encoder_shapes_norms_determinism_and_batches(random_clip):
    image = random_clip.image
    assert (image.name, image.dim) == ("clip_vit_b32", 512) and random_clip.weights is None
    frames = frames_batch()
    rows = image.encode_frames(frames)
    assert rows.shape == (2, 512) and rows.dtype == np.float32
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(image.encode_frames(frames), rows)
    one_by_one = np.concatenate([image.encode_frames(f) for f in frames])
    assert np.allclose(one_by_one, rows, atol=1e-4)
    assert not np.allclose(rows[0], rows[1], atol=1e-3)
    assert image.encode_frames(np.zeros((0, 64, 64, 3), dtype=np.uint8)).shape == (0, 512)


def test_random_text_encoder_shapes_norms_and_batches(random_clip):
    text = random_clip.text
    assert (text.name, text.dim) == ("clip_text", 512)
    texts = ["", "a dog running on a beach", "fireworks over a city at night"]
    rows = text.encode(texts)
    assert rows.shape == (3, 512) and rows.dtype == np.float32
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([text._encode_uncached([t]) for t in texts])
    assert np.allclose(one_by_one, rows, atol=1e-4)
    assert np.array_equal(text.encode(texts[1]), rows[1:2])


def test_loader_is_shared_and_leaves_global_rng_alone(random_clip, tmp_path):
    import torch

    state = torch.random.get_rng_state()
    with pytest.MonkeyPatch.context() as mp:
        isolate_from_real_weights(mp, tmp_path)
        again = clip.load_clip(device="cpu", allow_random=True)
    assert again is random_clip
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.slow
def test_checkpoint_round_trip_through_vml_clip_weights(random_clip, tmp_path):
    """A training-style checkpoint ({"state_dict": {"module.": ...}}, fp16) loads into the same model."""
    import torch

    state = {"module." + k: v.half() for k, v in random_clip.image._model.state_dict().items()}
    path = tmp_path / "open_clip_pytorch_model.pt"
    torch.save({"state_dict": state, "epoch": 1}, path)
    del state
    with pytest.MonkeyPatch.context() as mp:
        isolate_from_real_weights(mp, tmp_path)
        mp.setenv("VML_CLIP_WEIGHTS", str(path))
        loaded = clip.load_clip(device="cpu")
    assert loaded.weights == path.resolve() and loaded is not random_clip
    frames = frames_batch(1)
    assert np.allclose(loaded.image.encode_frames(frames), random_clip.image.encode_frames(frames), atol=0.02)
    assert np.allclose(loaded.text.encode(["a dog"]), random_clip.text.encode(["a dog"]), atol=0.02)
