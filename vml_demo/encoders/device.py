"""Device choice for torch models: VML_DEVICE, else cuda when present, else cpu."""
from __future__ import annotations

from ..settings import get_settings


def pick_device(requested: str | None = None) -> str:
    import torch

    choice = (requested or get_settings().device or "auto").lower()
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice.startswith("cuda") and not torch.cuda.is_available():
        return "cpu"  # asked for a GPU that is not there: run, and say so in status()
    return choice
