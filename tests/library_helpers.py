"""A small real audio encoder (log band energies per 1 s patch) so index mechanics test in seconds,
plus generators for tiny WAV libraries. The full encoders are exercised in their own tests."""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from vml_demo.encoders.base import AudioEncoder, AudioFrames

N_BANDS = 8


class BandEnergyEncoder(AudioEncoder):
    name = "band_energy"
    vocabulary = "bands"
    sample_rate = 16000
    labels = [f"band{i}" for i in range(N_BANDS)]
    embedding_dim = N_BANDS

    def analyze(self, audio: np.ndarray) -> AudioFrames:
        hop = self.sample_rate
        n = max(1, int(np.ceil(len(audio) / hop)))
        padded = np.zeros(n * hop, np.float32)
        padded[: len(audio)] = audio
        spec = np.abs(np.fft.rfft(padded.reshape(n, hop), axis=1)) ** 2
        bands = np.stack([b.sum(axis=1) for b in np.array_split(spec, N_BANDS, axis=1)], axis=1)
        emb = np.log1p(bands).astype(np.float32)
        scores = (bands / np.maximum(bands.sum(axis=1, keepdims=True), 1e-9)).astype(np.float32)
        return AudioFrames(times=np.arange(n, dtype=np.float64), patch_s=1.0, scores=scores, embeddings=emb,
                           labels=self.labels)


def write_tone(path: Path, freq: float, seconds: float, sr: int = 16000) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    samples = (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(samples.tobytes())
    return path


def make_library(folder: Path, n: int = 4, seconds: float = 12.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_tone(folder / f"tone_{i}.wav", 500.0 + 1000.0 * (i % 8), seconds + i)  # one band each
    (folder / "notes.ogg").write_text("this is not audio")  # broken: wrong content
    (folder / "empty.mp3").write_bytes(b"")  # broken: zero length
    return folder


def click_track(bpm: float, seconds: float, sr: int = 16000, first_s: float = 0.0) -> np.ndarray:
    """Clicks on every beat from `first_s`: a low thump on each bar's first beat (4/4), a high tick on the others."""
    y = np.zeros(int(seconds * sr), np.float32)
    length = int(0.03 * sr)
    t = np.arange(length) / sr
    decay = np.exp(-t * 80.0)
    thump, tick = 0.9 * np.sin(2 * np.pi * 60.0 * t) * decay, 0.5 * np.sin(2 * np.pi * 2000.0 * t) * decay
    for i in range(int((seconds - first_s) * bpm / 60.0)):
        start = int((first_s + i * 60.0 / bpm) * sr)
        click = (thump if i % 4 == 0 else tick)[: len(y) - start]
        y[start:start + len(click)] += click
    return y


def write_wav(path: Path, samples: np.ndarray, sr: int = 16000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def with_tempos(monkeypatch, store, tempos: dict[int, float]) -> None:
    """Give `store` these analysed tempos (track id -> BPM) as `LibraryStore.track_tempos()` returns them.

    Stands in for the rhythm analysis at index time (tracks left out are the ones not analysed), so the BPM
    filter tests in seconds; undone with the test's monkeypatch.
    """
    monkeypatch.setattr(store, "track_tempos", lambda: dict(tempos), raising=False)
