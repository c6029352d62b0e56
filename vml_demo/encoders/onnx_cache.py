"""ONNX graphs exported once from their torch modules and cached on disk under a digest of their weights.

Used by musicnn (musicnn_ort.py), EfficientNet-Lite0 (efficientnet.py) and MiniLM (minilm_onnx.py). The export is written to a temporary file and
renamed into place, so a killed or concurrent run never leaves half a model; a changed weight file changes the
digest, so a stale graph is never loaded.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from ..media.files import write_atomically
from ..settings import get_settings

log = logging.getLogger(__name__)


def cache_root(kind: str) -> Path:
    """Folder of one kind of exported graph ("musicnn_onnx", "minilm_onnx") in the user's cache."""
    return get_settings().cache_home.expanduser() / "vml_demo" / kind


def module_digest(net, version: str) -> str:
    """Hash of a torch module's parameters and buffers (names, shapes, values) and an export version: the cache
    key of its exported graph (the module's own methods are used, so this file imports no torch)."""
    import hashlib

    h = hashlib.sha256(version.encode())
    for name, tensor in [*net.named_parameters(), *net.named_buffers()]:
        value = tensor.detach().cpu().contiguous().numpy()
        h.update(f"{name}{value.shape}{value.dtype}".encode())
        h.update(value.tobytes())
    return h.hexdigest()[:16]


def weights_digest(files: list[Path], version: str, memo_dir: Path) -> str:
    """16 hex digits of sha256(version + each file's sha256): the cache key of a graph exported from weight
    files. Hashed once per file version (path, size, mtime), remembered in `memo_dir`, so a cold query does
    not hash tens of MB each time; a read-only memo folder only means hashing again."""
    import hashlib
    import json

    from ..media.hashing import file_sha256

    files = [Path(f) for f in files]
    stamp = json.dumps([[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in files])
    memo = memo_dir / f"digest-{hashlib.sha256((version + stamp).encode()).hexdigest()[:16]}.txt"
    try:
        return memo.read_text().strip()
    except OSError:
        pass
    h = hashlib.sha256(version.encode())
    for f in files:
        h.update(file_sha256(f).encode())
    digest = h.hexdigest()[:16]
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        memo.write_text(digest)
    except OSError:
        pass
    return digest


def torch_export(net, example, input_name: str, output_names: list[str]) -> Callable[[str], None]:
    """An `export` for cached_export: `net` (eval, CPU) traced at opset 17 with a dynamic batch axis; what
    third-party model code prints while traced is swallowed."""
    def export(staging: str) -> None:
        import contextlib
        import io

        import torch

        axes = {name: {0: "batch"} for name in [input_name, *output_names]}
        with contextlib.redirect_stdout(io.StringIO()):
            torch.onnx.export(net.eval().cpu(), (example,), staging, input_names=[input_name],
                              output_names=output_names, dynamic_axes=axes, opset_version=17, dynamo=False)
    return export


def cached_export(target: Path, export: Callable[[str], None]) -> Path:
    """`target` (a path whose name carries the weights' digest), written by `export(staging path)` if absent."""
    if target.is_file():
        return target
    write_atomically(target, export, prefix=".export-", suffix=".onnx")
    log.info("exported %s", target)
    return target


def cpu_session(model: Path | bytes, threads: int, spin: bool = False, mem_pattern: bool = True):
    """An onnxruntime CPU session (of a file, or a serialised graph) with `threads` intra-op threads, sequential
    execution, quiet logging. mem_pattern=False: no memory plan kept per input shape (a model fed many batch
    sizes otherwise keeps a large plan for each; the arena still reuses its buffers)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.enable_mem_pattern = mem_pattern
    # No busy-waiting between ops unless asked: decoding threads and ffmpeg share the same cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def use_onnxruntime(runtime: str, device: str, *modules: str) -> bool:
    """runtime "auto": onnxruntime on the CPU when it (and `modules`) are installed, torch on a GPU."""
    import importlib.util

    if runtime not in ("auto", "torch", "onnxruntime"):
        raise ValueError(f"runtime must be auto, torch or onnxruntime, not {runtime!r}")
    return runtime == "onnxruntime" or (
        runtime == "auto" and device == "cpu"
        and all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", *modules))
    )
