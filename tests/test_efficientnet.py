"""EfficientNet-Lite0 on frames: the ONNX export (cached by weight hash) matches torch, the class list is ImageNet's,
and the scene rules turn class probabilities into music words with a record of what was seen."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vml_demo.config import DATA_DIR
from vml_demo.encoders import efficientnet
from vml_demo.search.video_words import _class_ids, scene_groups, scene_words

pytestmark = pytest.mark.skipif(not efficientnet.available(), reason="EfficientNet-Lite0 packages not installed")


def test_imagenet_classes_are_the_standard_list():
    labels = efficientnet.imagenet_classes()
    assert len(labels) == 1000 and labels[0] == "tench" and labels[89] == "sulphur-crested cockatoo"
    assert labels[812] == "space shuttle" and labels[999] == "toilet tissue"
    from vml_demo.compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    assert labels == tuple(_IMAGENET_CATEGORIES)  # parsed from the source: the same list as importing it


def test_cached_model_loads_without_torch(tmp_path):
    """Once exported, loading the scene model (and its class names) imports neither torch nor torchvision."""
    import subprocess
    import sys

    efficientnet.export_onnx(tmp_path)
    code = ("import sys; from pathlib import Path; from vml_demo.encoders import efficientnet as e; "
            f"m = e.EfficientNetLite0(cache_dir=Path({str(tmp_path)!r})); assert len(m.labels) == 1000; "
            "print(sorted(n for n in ('torch', 'torchvision', 'onnx') if n in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_onnx_export_is_cached_and_matches_torch(tmp_path, capsys):
    import torch

    net = efficientnet.load_torch_net()
    first = efficientnet.export_onnx(tmp_path)
    stamp = first.stat().st_mtime_ns
    assert efficientnet.export_onnx(tmp_path) == first and first.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.glob("*.onnx")] == [first.name]  # beside it: the weight digest's memo
    frames = np.random.default_rng(0).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)  # resized to 224
    encoder = efficientnet.EfficientNetLite0(cache_dir=tmp_path)
    probs, pooled = encoder.run(frames)
    with torch.no_grad():
        ref_probs, ref_pooled = efficientnet._graph(net)(torch.from_numpy(efficientnet.preprocess(frames)))
    np.testing.assert_allclose(probs, ref_probs.numpy(), atol=1e-4)
    np.testing.assert_allclose(pooled, ref_pooled.numpy(), atol=1e-3)
    assert probs.shape == (3, 1000) and pooled.shape == (3, efficientnet.FEATURE_DIM)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(encoder.encode_frames(frames), axis=1), 1.0, atol=1e-5)
    assert capsys.readouterr().out == ""  # the package's debug prints never reach the user
    changed = tmp_path / "changed.pth"  # changed weights: another cache name, so a stale graph is never loaded
    data = efficientnet.weights_file().read_bytes()
    changed.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert efficientnet.onnx_path(tmp_path, changed) != first
    with pytest.raises(ValueError, match="square"):
        encoder.run(np.zeros((1, 100, 120, 3), np.uint8))


def test_scene_rules_name_valid_classes_once_each():
    rules = json.loads((DATA_DIR / "video_to_music.json").read_text())["scenes"]
    ids = [i for g in rules["groups"] for i in _class_ids(g["classes"])]
    assert all(0 <= i < 1000 for i in ids) and len(ids) == len(set(ids))  # a class belongs to one group
    assert all(0 <= int(c) < 1000 for c in rules["instruments"]["words_per_class"])


def test_scene_words_from_class_probabilities():
    labels = efficientnet.imagenet_classes()
    birds = dict((g["name"], ids) for g, ids in scene_groups())["birds"]
    seg = np.full((2, 1000), 0.1 / 1000, np.float32)
    seg[0, birds[:3]] = 0.3  # a bird segment
    seg[1, 579] = 0.9  # a grand piano segment
    words = scene_words(seg, labels, [0.0, 10.0])
    assert "flute" in words.words and "piano" in words.words
    assert any("birds" in r for r in words.reasons) and any("grand piano" in r for r in words.reasons)
    assert [s["start_s"] for s in words.seen] == [0.0, 10.0]
    assert words.seen[1]["classes"][0] == ("grand piano", pytest.approx(0.9, abs=1e-3))
    assert "piano" in words.seen[1]["words"] and "piano" not in words.seen[0]["words"]
    flat = scene_words(np.full((1, 1000), 1e-3, np.float32), labels, [0.0])
    assert flat.words == [] and flat.seen[0]["classes"] == []  # nothing stands out: no words, nothing claimed


def test_preprocess_lookup_is_bit_identical_to_the_float_path():
    frames = np.random.default_rng(1).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    frames.reshape(-1)[:768] = np.repeat(np.arange(256, dtype=np.uint8), 3)  # every level on every channel
    x = frames.astype(np.float32) / 255.0
    reference = ((x - np.array(efficientnet.IMAGENET_MEAN, np.float32)) / np.array(efficientnet.IMAGENET_STD, np.float32))
    np.testing.assert_array_equal(efficientnet.preprocess(frames), reference.transpose(0, 3, 1, 2))
