"""The cached text encoder both sentence encoders (MiniLM, CLIP's text tower) build on.

Queries repeat (the same prompt, ViML's "" for text dropout, tag sentences): `CachedTextEncoder.encode`
checks its input, serves rows it has seen from an LRU cache and sends only new strings, in one batch, to
the subclass's `_encode_uncached`.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Sequence

import numpy as np

from .base import TextEncoder


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


class CachedTextEncoder(TextEncoder):
    """A TextEncoder whose subclasses implement `_encode_uncached(texts) -> [N, dim]` normalised rows."""

    def __init__(self, cache_size: int = 4096):
        self._cache = RowCache(cache_size)

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def encode(self, texts) -> np.ndarray:
        """float32 [N, dim], L2-normalised; "" is allowed (ViML's text-dropout embedding)."""
        items = as_text_list(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._cache.lookup(items, self.dim, self._encode_uncached)


def persistent_rows(encoder: TextEncoder, texts: list[str]) -> np.ndarray:
    """`encoder.encode(texts)`, kept on disk for a fixed list of texts (the tag bridge's vocabulary phrases) when
    the encoder has a `fingerprint` naming its weights and runtime; recomputed for encoders without one."""
    fingerprint = getattr(encoder, "fingerprint", None)
    if not fingerprint:
        return encoder.encode(texts)
    import hashlib

    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    return cached_array("text_rows", f"{fingerprint}-{key}", lambda: encoder.encode(texts), (len(texts), encoder.dim))


def cached_array(kind: str, key: str, compute: Callable[[], np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """`compute()`, kept as `<cache>/<kind>/<key>.npy` and loaded from there while its shape is `shape`: for
    arrays a cold process would otherwise recompute from the same inputs (the key must name those inputs)."""
    from ..media.files import write_atomically
    from .onnx_cache import cache_root

    path = cache_root(kind) / f"{key}.npy"
    try:
        rows = np.load(path, allow_pickle=False)
        if rows.shape == tuple(shape):
            return rows
    except (OSError, ValueError):
        pass
    rows = compute()
    try:
        write_atomically(path, lambda tmp: np.save(tmp, rows), suffix=".npy")  # a .npy name: np.save adds none
    except OSError:
        pass  # a read-only cache: compute again next time
    return rows
