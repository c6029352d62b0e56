"""The one small interface every encoder implements.

Audio encoders take mono float32 audio at their own `sample_rate` and return per-patch outputs with
time stamps (`AudioFrames`); the library pools patches into 10 s windows. Text and image encoders
return L2-normalised float32 rows. All are deterministic (eval mode, no dropout) and batch internally.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class AudioFrames:
    """Outputs of an audio encoder over one signal, one row per analysis patch."""

    times: np.ndarray  # [T] float64, start time in seconds of each patch
    patch_s: float  # duration covered by one patch
    scores: np.ndarray  # [T, C] float32 tag/class probabilities in [0, 1]
    embeddings: np.ndarray  # [T, D] float32 (not normalised)
    labels: list[str] = field(default_factory=list)  # C names, in column order

    def __post_init__(self) -> None:
        if len(self.times) != len(self.scores) or len(self.times) != len(self.embeddings):
            raise ValueError("times, scores and embeddings must have one row per patch")


class AudioEncoder:
    """Music/sound tagger with an embedding (musicnn, YAMNet).

    `analyze(audio)` is `analyze_front(front(audio))`: encoders with the same `front_end` name compute the
    same features from a signal (both musicnn models read one log-mel), so a caller running several on one
    signal computes them once (library.indexer.analyze_blocks). By default the front end is the audio itself.
    """

    name: str  # stable id stored in the index, e.g. "musicnn_mtt"
    vocabulary: str  # tag vocabulary name, e.g. "mtt", "msd", "audioset"
    sample_rate: int
    labels: list[str]
    embedding_dim: int
    front_end: str | None = None  # None: nothing to share

    def front(self, audio: np.ndarray):
        return audio

    def analyze_front(self, features) -> AudioFrames:
        return self.analyze(features)

    # What the index is keyed on besides the name: bump (or derive from the weights) whenever the outputs
    # change, so a library indexed by older code is indexed again instead of being read as current.
    version: str = "1"

    def fingerprint(self) -> str:
        return f"{self.name}@{self.version}"

    def analyze(self, audio: np.ndarray) -> AudioFrames:  # pragma: no cover - interface
        raise NotImplementedError


class TextEncoder:
    """Sentence encoder; rows are L2-normalised."""

    name: str
    dim: int
    fingerprint: str | None = None  # names the weights and runtime, where rows may be cached on disk

    def encode(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class ImageEncoder:
    """Frame encoder; input uint8 [N, H, W, 3] RGB, rows L2-normalised."""

    name: str
    dim: int

    def encode_frames(self, frames: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


def l2_normalize(x: np.ndarray, axis: int = -1, eps: float = 1e-8) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), eps)
