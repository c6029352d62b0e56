"""Tag one audio file with every music encoder: top tags per vocabulary over the whole file."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..encoders.profiles import music_encoders
from .indexer import analyze_blocks, decode_track


def tag_file(path: str | Path, top: int = 10) -> dict:
    duration_s, blocks = decode_track(Path(path))
    return {"path": str(path), **tag_audio(duration_s, blocks, top)}


def tag_audio(duration_s: float, blocks: list[tuple[float, np.ndarray]], top: int = 10) -> dict:
    """Top tags per vocabulary of decoded audio (16 kHz blocks, as `decode_track` gives them)."""
    out = {"duration_s": round(duration_s, 2), "vocabularies": {}}
    encoders = music_encoders()
    for enc, frames in zip(encoders, analyze_blocks(blocks, encoders)):
        mean = frames.scores.mean(axis=0)
        order = np.argsort(-mean)[:top]
        out["vocabularies"][enc.vocabulary] = [
            {"tag": enc.labels[i], "score": round(float(mean[i]), 4)} for i in order
        ]
    return out
