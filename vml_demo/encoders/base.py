"""The one small interface every encoder implements, and the row cache the text encoders share.

Audio encoders take mono float32 audio at their own `sample_rate` and return per-patch outputs with
time stamps (`AudioFrames`); the library pools patches into 10 s windows. Text and image encoders
return L2-normalised float32 rows. All are deterministic (eval mode, no dropout) and batch internally.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Sequence

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
    """Music/sound tagger with an embedding (musicnn, YAMNet)."""

    name: str  # stable id stored in the index, e.g. "musicnn_mtt"
    vocabulary: str  # tag vocabulary name, e.g. "mtt", "msd", "audioset"
    sample_rate: int
    labels: list[str]
    embedding_dim: int

    def analyze(self, audio: np.ndarray) -> AudioFrames:  # pragma: no cover - interface
        raise NotImplementedError


class TextEncoder:
    """Sentence encoder; rows are L2-normalised."""

    name: str
    dim: int

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


class RowCache:
    """Thread-safe LRU map text -> embedding row, filled in batches by `encode_missing`."""

    def __init__(self, capacity: int = 4096):
        self.capacity = int(capacity)
        self._rows: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def lookup(
        self, texts: Sequence[str], dim: int, encode_missing: Callable[[list[str]], np.ndarray]
    ) -> np.ndarray:
        """Rows for texts [N, dim] float32: cached rows are reused, the rest encoded in one call."""
        out = np.empty((len(texts), dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(texts):
                row = self._rows.get(text)
                if row is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._rows.move_to_end(text)
                    out[i] = row
        if missing:
            new_texts = list(missing)
            rows = np.asarray(encode_missing(new_texts), dtype=np.float32)
            with self._lock:
                for text, row in zip(new_texts, rows):
                    out[missing[text]] = row
                    if self.capacity > 0:
                        self._rows[text] = row.copy()
                        self._rows.move_to_end(text)
                while len(self._rows) > self.capacity:
                    self._rows.popitem(last=False)
        return out


def as_text_list(texts) -> list[str]:
    """Accept one string or a sequence of strings; anything else is a caller bug."""
    if isinstance(texts, str):
        return [texts]
    items = list(texts)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"text encoders take strings, got {type(item).__name__}")
    return items
