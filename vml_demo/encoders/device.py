"""Device choice for torch models: VML_DEVICE, else cuda when present, else cpu.

torch is imported only when an NVIDIA driver is installed: on a machine without one the answer is "cpu"
without the second or so that importing torch costs (a cold text search needs no torch at all).
"""
from __future__ import annotations

import ctypes
import functools

from ..settings import get_settings


@functools.lru_cache(maxsize=1)
def cuda_driver_present() -> bool:
    """Whether the CUDA driver library loads (loading it initialises nothing; torch then says if it is usable)."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def pick_device(requested: str | None = None) -> str:
    choice = (requested or get_settings().device or "auto").lower()
    if choice == "cpu":
        return "cpu"
    if (choice == "auto" or choice.startswith("cuda")) and not cuda_driver_present():
        return "cpu"
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice.startswith("cuda") and not torch.cuda.is_available():
        return "cpu"  # asked for a GPU that is not there: run, and say so in status()
    return choice
