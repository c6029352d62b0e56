"""musicnn port: checkpoint reader, front end and network against the original TensorFlow musicnn.

The reference outputs in fixtures/musicnn_reference.npz come from scripts/make_musicnn_reference.py (the
original `musicnn` package under TensorFlow, NumPy 1.x, librosa) on two real library excerpts and one
generated signal; the exact input samples are stored with them.
"""
from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vml_demo.encoders.base import AudioFrames
from vml_demo.encoders.melspec import mel_filterbank
from vml_demo.encoders import musicnn
from vml_demo.encoders.musicnn import (
    MIN_SAMPLES,
    N_MELS,
    PATCH_FRAMES,
    PATCH_S,
    MusicnnTagger,
    compress_mel,
    load_musicnn,
    mel16_frames,
    musicnn_package_dir,
)
from vml_demo.encoders.musicnn_ort import OrtMusicnn, export_onnx, weights_digest
from vml_demo.encoders.tf_checkpoint import read_tf_checkpoint
from vml_demo.errors import CorruptMediaError, EmptyMediaError, WeightsUnavailableError

FIXTURE = Path(__file__).parent / "fixtures" / "musicnn_reference.npz"
SIGNALS = ["rock", "waltz", "synth"]
MODELS = ["MTT_musicnn", "MSD_musicnn"]
RUNTIMES = ["torch", "onnxruntime"]
TAG_ATOL = 1e-4
EMBEDDING_ATOL = 1e-4  # penultimate activations are O(1); observed differences are ~1e-5


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as data:
        return {key: data[key] for key in data.files}


def reference_audio(reference: dict[str, np.ndarray], key: str) -> np.ndarray:
    scale = json.loads(str(reference["meta_json"]))["int16_scale"]
    return reference[f"audio_{key}"].astype(np.float32) / np.float32(scale)


# ---- checkpoint reader ----------------------------------------------------------------------


def test_reads_trained_tensors_from_the_shipped_checkpoint():
    tensors = read_tf_checkpoint(musicnn_package_dir() / "MTT_musicnn")
    assert tensors["conv2d/kernel"].shape == (7, 38, 1, 204)  # timbral 7 x 40% of 96 mel bands
    assert tensors["conv2d_2/kernel"].shape == (128, 1, 1, 51)  # temporal, 128 frames
    assert tensors["conv2d_5/kernel"].shape == (7, 561, 1, 64)  # mid end over the 561 front-end maps
    assert tensors["dense/kernel"].shape == (1506, 200)
    assert tensors["dense_1/kernel"].shape == (200, 50)
    assert "dense/kernel/Adam" in tensors  # optimizer slots are read too
    trained = {k: v for k, v in tensors.items() if "Adam" not in k and "power" not in k}
    assert 780_000 < sum(v.size for v in trained.values()) < 800_000
    for name, value in trained.items():
        assert value.dtype == np.float32 and np.isfinite(value).all(), name
    assert (tensors["batch_normalization_9/moving_variance"] > 0).all()
    assert tensors["conv2d/kernel"].std() > 1e-3  # real weights, not zeros


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="missing"):
        read_tf_checkpoint(tmp_path / "nothing")


def test_non_checkpoint_index_is_rejected(tmp_path):
    (tmp_path / "bogus.index").write_bytes(b"not a table at all" * 10)
    with pytest.raises(WeightsUnavailableError, match="not a TensorFlow checkpoint index"):
        read_tf_checkpoint(tmp_path / "bogus")


def test_truncated_data_shard_is_rejected(tmp_path):
    source = musicnn_package_dir() / "MTT_musicnn"
    shutil.copy(source / ".index", tmp_path / "ckpt.index")
    data = (source / ".data-00000-of-00001").read_bytes()
    (tmp_path / "ckpt.data-00000-of-00001").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsUnavailableError, match="truncated"):
        read_tf_checkpoint(tmp_path / "ckpt")


def test_missing_data_shard_is_a_clear_error(tmp_path):
    shutil.copy(musicnn_package_dir() / "MTT_musicnn" / ".index", tmp_path / "ckpt.index")
    with pytest.raises(WeightsUnavailableError, match="shard is missing"):
        read_tf_checkpoint(tmp_path / "ckpt")


# ---- front end ------------------------------------------------------------------------------


def test_slaney_filterbank_shape_and_triangles():
    bank = mel_filterbank(16000, 512, N_MELS)
    assert bank.shape == (N_MELS, 257) and bank.dtype == np.float32
    assert (bank >= 0).all() and (bank.max(axis=1) > 0).all()
    peaks = bank.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all() and peaks[-1] > peaks[0]  # bands ascend in frequency


@pytest.mark.parametrize("key", SIGNALS)
def test_front_end_matches_librosa_in_original_musicnn(reference, key):
    expected = reference[f"mel16_{key}"]  # float16 mel inside musicnn.extractor.batch_data
    mine = mel16_frames(reference_audio(reference, key))
    assert mine.shape == expected.shape and mine.dtype == np.float16
    differing = mine != expected
    # Bit-identical here; allow rare one-ulp float16 rounding flips from another BLAS summation order.
    assert differing.mean() < 1e-3
    rel = np.abs(mine.astype(np.float64) - expected) / np.maximum(np.abs(expected.astype(np.float64)), 1e-6)
    assert rel[differing].max(initial=0.0) <= 2.0**-10


def test_compression_stays_finite_for_loud_audio():
    """NumPy 2 would evaluate musicnn's log10(10000 x + 1) in float16 and overflow above x = 6.55."""
    t = np.arange(3 * 16000) / 16000
    loud = np.sign(np.sin(2 * np.pi * 110 * t)).astype(np.float32)  # full-scale square wave
    mel = mel16_frames(loud)
    assert mel.astype(np.float32).max() > 6.55
    compressed = compress_mel(mel)
    assert compressed.dtype == np.float32 and np.isfinite(compressed).all()
    assert np.allclose(compressed, np.log10(10000.0 * mel.astype(np.float64) + 1.0), atol=1e-5)


# ---- network and encoder --------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def tagger_with(model: str, runtime: str) -> MusicnnTagger:
    return MusicnnTagger(model, device="cpu", runtime=runtime)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("key", SIGNALS)
def test_network_matches_tensorflow_on_identical_log_mel(reference, model, key, runtime):
    """Both runtimes: torch (the GPU path) and the ONNX export run by onnxruntime (the CPU default)."""
    tags, penultimate = reference[f"{model}_{key}_tags"], reference[f"{model}_{key}_penultimate"]
    n = len(tags)
    patches = compress_mel(reference[f"mel16_{key}"][: n * PATCH_FRAMES]).reshape(n, PATCH_FRAMES, N_MELS)
    tagger = tagger_with(model, runtime)
    assert tagger.runtime == runtime
    probs, embeddings = tagger.predict_log_mel(patches)
    assert np.abs(probs - tags).max() < TAG_ATOL
    assert np.abs(embeddings - penultimate).max() < EMBEDDING_ATOL


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("key", SIGNALS)
def test_analyze_matches_original_musicnn_end_to_end(reference, model, key):
    tagger = load_musicnn(model)
    frames = tagger.analyze(reference_audio(reference, key))
    tags, penultimate = reference[f"{model}_{key}_tags"], reference[f"{model}_{key}_penultimate"]
    assert isinstance(frames, AudioFrames)
    assert frames.scores.shape == tags.shape and frames.embeddings.shape == penultimate.shape
    assert frames.scores.dtype == np.float32 and frames.embeddings.dtype == np.float32
    np.testing.assert_allclose(frames.times, np.arange(len(tags)) * PATCH_S)
    assert np.abs(frames.scores - tags).max() < TAG_ATOL
    assert np.abs(frames.embeddings - penultimate).max() < EMBEDDING_ATOL
    assert frames.labels == tagger.labels and len(frames.labels) == tags.shape[1]


def test_tags_are_musically_sensible(reference):
    tagger = load_musicnn("MTT_musicnn")
    waltz = tagger.analyze(reference_audio(reference, "waltz")).scores.mean(axis=0)
    rock = tagger.analyze(reference_audio(reference, "rock")).scores.mean(axis=0)
    top_waltz = {tagger.labels[i] for i in np.argsort(-waltz)[:3]}
    assert top_waltz & {"classical", "strings", "violin"}
    assert rock[tagger.labels.index("loud")] > waltz[tagger.labels.index("loud")]
    assert waltz[tagger.labels.index("classical")] > rock[tagger.labels.index("classical")]


def test_batching_does_not_change_results(reference, monkeypatch):
    """Patches computed in chunks (front end and network) equal one big batch, boundaries included."""
    tagger = load_musicnn("MTT_musicnn")
    audio = np.concatenate([reference_audio(reference, "rock"), reference_audio(reference, "waltz")])
    whole = tagger.analyze(audio)
    monkeypatch.setattr(tagger, "batch_size", 1)
    chunked = tagger.analyze(audio)
    assert len(whole.times) == 4
    np.testing.assert_allclose(chunked.scores, whole.scores, atol=1e-6)
    np.testing.assert_allclose(chunked.embeddings, whole.embeddings, atol=1e-5)


def test_analysis_is_deterministic(reference):
    tagger = load_musicnn("MSD_musicnn")
    audio = reference_audio(reference, "synth")
    first, second = tagger.analyze(audio), tagger.analyze(audio)
    assert np.array_equal(first.scores, second.scores)
    assert np.array_equal(first.embeddings, second.embeddings)


def test_short_audio_is_repeat_padded_to_one_patch():
    t = np.arange(16000) / 16000  # 1 s, shorter than a 3 s patch
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    tagger = load_musicnn("MTT_musicnn")
    frames = tagger.analyze(tone)
    assert frames.scores.shape == (1, 50) and frames.embeddings.shape == (1, 200)
    assert list(frames.times) == [0.0]
    assert ((frames.scores >= 0) & (frames.scores <= 1)).all()
    tiled = tagger.analyze(np.tile(tone, 3)[:MIN_SAMPLES])  # what repeat-padding means
    np.testing.assert_allclose(frames.scores, tiled.scores, atol=1e-6)


def test_bad_audio_raises_typed_errors():
    tagger = load_musicnn("MTT_musicnn")
    with pytest.raises(EmptyMediaError):
        tagger.analyze(np.zeros(0, dtype=np.float32))
    bad = np.zeros(MIN_SAMPLES, dtype=np.float32)
    bad[100] = np.nan
    with pytest.raises(CorruptMediaError):
        tagger.analyze(bad)
    with pytest.raises(ValueError, match="1-D"):
        tagger.analyze(np.zeros((2, MIN_SAMPLES), dtype=np.float32))


def test_loader_attributes_and_cache():
    mtt, msd = load_musicnn("MTT_musicnn"), load_musicnn("MSD_musicnn")
    assert load_musicnn("MTT_musicnn") is mtt
    assert (mtt.name, mtt.vocabulary, msd.name, msd.vocabulary) == ("musicnn_mtt", "mtt", "musicnn_msd", "msd")
    assert mtt.sample_rate == msd.sample_rate == 16000
    assert mtt.embedding_dim == msd.embedding_dim == 200
    assert len(mtt.labels) == len(msd.labels) == 50 and mtt.labels != msd.labels
    assert "classical" in mtt.labels and "rock" in msd.labels


def test_unknown_model_is_a_clear_error():
    with pytest.raises(WeightsUnavailableError, match="MTT_musicnn"):
        MusicnnTagger("MTT_vggish")


def test_cpu_default_runs_onnxruntime_and_the_torch_module_stays():
    tagger = load_musicnn("MTT_musicnn", device="cpu")
    assert tagger.runtime == "onnxruntime" and tagger.net is not None  # the torch module is the GPU path
    with pytest.raises(ValueError, match="runtime"):
        MusicnnTagger("MTT_musicnn", runtime="tensorflow")


def test_onnx_export_is_cached_by_the_weights_hash(tmp_path):
    import torch

    net = tagger_with("MSD_musicnn", "torch").net
    first = export_onnx(net, tmp_path)
    stamp = first.stat().st_mtime_ns
    assert export_onnx(net, tmp_path) == first and first.stat().st_mtime_ns == stamp  # reused, not rewritten
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no staging file left behind
    changed = MusicnnTagger("MSD_musicnn", device="cpu", runtime="torch").net
    with torch.no_grad():
        changed.output.bias.add_(1.0)
    assert weights_digest(changed) != weights_digest(net)
    assert export_onnx(changed, tmp_path) != first
    patches = np.random.default_rng(0).random((3, PATCH_FRAMES, N_MELS), dtype=np.float32)
    with torch.no_grad():
        logits, _ = changed(torch.from_numpy(patches))
    probs, _ = OrtMusicnn(changed, cache_dir=tmp_path)(patches)
    np.testing.assert_allclose(probs, torch.sigmoid(logits).numpy(), atol=1e-5)  # the new weights run


def test_channel_blocks_and_negated_filters_keep_the_literal_outputs():
    """The reduced front end (pool of sign-flipped filters, padded to channel blocks) equals bn(relu(conv)).amax."""
    import copy

    import torch

    net = copy.deepcopy(tagger_with("MTT_musicnn", "torch").net)
    with torch.no_grad():
        net.timbral_bn[0].weight[:5] *= -1  # negative batch-norm scales take the min branch
    x = torch.from_numpy(np.random.default_rng(1).random((2, 1, PATCH_FRAMES + 6, N_MELS), dtype=np.float32))
    conv, bn = net.timbral[0], net.timbral_bn[0]
    with torch.no_grad():
        literal = bn(torch.relu(conv(x))).amax(dim=3)
        for block in (1, 16):
            assert np.allclose(musicnn._conv_bn_relu_max_over_mel(x, conv, bn, block).numpy(), literal.numpy(),
                               atol=1e-5)
