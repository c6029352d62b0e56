"""Export a torch module to ONNX once, cached by the hash of its weights, and open it with onnxruntime on the CPU.

Used by the CPU paths of musicnn (musicnn_ort.py) and EfficientNet-Lite0 (efficientnet.py). The export is written
to a temporary file and renamed into place, so a killed or concurrent run never leaves half a model; a changed
weight or a bumped `version` gives a new file name, so a stale graph is never reused.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from ..settings import get_settings

log = logging.getLogger(__name__)


def cache_root(kind: str) -> Path:
    return get_settings().cache_home.expanduser() / "vml_demo" / kind


def weights_digest(net: nn.Module, version: str) -> str:
    """Hash of every parameter and buffer (names, shapes, values) and the export version: the cache key."""
    h = hashlib.sha256(version.encode())
    for name, tensor in [*net.named_parameters(), *net.named_buffers()]:
        value = tensor.detach().cpu().contiguous().numpy()
        h.update(f"{name}{value.shape}{value.dtype}".encode())
        h.update(value.tobytes())
    return h.hexdigest()[:16]


def cached_export(net: nn.Module, target: Path, example: torch.Tensor, input_name: str,
                  output_names: list[str]) -> Path:
    """Export `net` (eval, CPU; batch axis dynamic) to `target` unless it is already there."""
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=".export-", suffix=".onnx", dir=target.parent)
    os.close(fd)
    try:
        axes = {name: {0: "batch"} for name in [input_name, *output_names]}
        with contextlib.redirect_stdout(io.StringIO()):  # third-party model code may print while traced
            torch.onnx.export(net.eval().cpu(), (example,), staging, input_names=[input_name],
                              output_names=output_names, dynamic_axes=axes, opset_version=17, dynamo=False)
        os.chmod(staging, 0o644)
        os.replace(staging, target)
    finally:
        if os.path.exists(staging):
            os.unlink(staging)
    log.info("exported %s", target)
    return target


def cpu_session(path: Path, num_threads: int | None = None):
    """An onnxruntime CPU session that does not busy-wait (decoding threads and ffmpeg share the cores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads or min(2, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
