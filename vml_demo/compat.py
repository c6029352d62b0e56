"""Workarounds for the installed third-party stack, kept in one place so they can be dropped together.

torchvision's PyPI build registers fake kernels for torchvision::nms / qnms at import time, and its compiled
ops fail to load against the CPU torch wheel (they want libtorch_cuda), so `import torchvision` dies with
"operator torchvision::nms does not exist". open_clip, timm and transformers' model modules import it.
Declaring the two op schemas first makes the import work; only torchvision's C++ detection ops stay
unavailable (nothing here uses them). See ../shared/STACK.md.
"""
from __future__ import annotations

_torchvision_shim = None  # keeps the op definitions registered for the life of the process


def ensure_torchvision_importable() -> None:
    """Let `import torchvision` succeed with the CPU torch wheel; call it before importing torchvision users."""
    global _torchvision_shim
    import torch

    if _torchvision_shim is not None:
        return
    try:
        torch.ops.torchvision.nms  # noqa: B018 - present when torchvision's compiled ops loaded
        return
    except (AttributeError, RuntimeError):
        pass
    shim = torch.library.Library("torchvision", "FRAGMENT")
    shim.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    shim.define("qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor")
    _torchvision_shim = shim
