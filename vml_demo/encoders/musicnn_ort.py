"""musicnn through onnxruntime on the CPU: the torch port exported once to ONNX, cached by the weights' hash.

ORT runs musicnn's large front-end convolutions about 2x faster than torch's conv2d on this kind of CPU
(STACK.md, "Performance facts"); the torch module stays the reference and the GPU path. Export and cache:
onnx_cache.py.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .onnx_cache import cache_root, cached_export, cpu_session, module_digest, torch_export

EXPORT_VERSION = "1"  # bump when the exported graph's outputs change without the weights changing
# Names the graph's form in the cache file, not in the index key: a new form with the same outputs (within
# float tolerance) is exported again without the indexed vectors being taken as stale.
GRAPH_VERSION = "2"  # 2: max pools over the mel axis in NCHWc blocks (musicnn._conv_bn_relu_max_over_mel)
NCHWC_BLOCK = 16  # onnxruntime's channel block with AVX-512 (8 with AVX2 divides it)


def weights_digest(net: nn.Module) -> str:
    return module_digest(net, EXPORT_VERSION)


class _Probabilities(nn.Module):
    """The graph ORT runs: (sigmoid of the logits, penultimate layer)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = copy.deepcopy(net)  # the caller's module keeps channel_block 1 (the torch path)
        self.net.channel_block = NCHWC_BLOCK

    def forward(self, log_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, penultimate = self.net(log_mel)
        return torch.sigmoid(logits), penultimate


def export_onnx(net: nn.Module, cache_dir: Path | None = None) -> Path:
    """The ONNX file for `net` (eval mode, CPU), exported on first use."""
    def export(staging: str) -> None:  # the module is copied only when there is no cached export
        torch_export(_Probabilities(net), torch.zeros(2, 187, 96), "log_mel", ["probs", "penultimate"])(staging)

    name = f"musicnn-{weights_digest(net)}-g{GRAPH_VERSION}.onnx"
    return cached_export((cache_dir or cache_root("musicnn_onnx")) / name, export)


class OrtMusicnn:
    """Runs an exported musicnn graph: log-mel [N, 187, 96] float32 -> (probs [N, C], penultimate [N, D])."""

    def __init__(self, net: nn.Module, num_threads: int | None = None, cache_dir: Path | None = None) -> None:
        # No memory pattern: a track's last batch has another size (1-7 patches), and a plan kept per size held
        # ~0.13 GiB more per model at the same speed (measured: 17.5 vs 18.2 ms per patch).
        self._session = cpu_session(export_onnx(net, cache_dir), num_threads or min(2, os.cpu_count() or 1),
                                    mem_pattern=False)

    def __call__(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs, penultimate = self._session.run(None, {"log_mel": np.ascontiguousarray(patches, np.float32)})
        return probs, penultimate
