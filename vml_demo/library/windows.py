"""Cut a track into overlapping 10 s windows (ViML's segment length) and pool encoder patches into them."""
from __future__ import annotations

import numpy as np

from ..config import WINDOW_HOP_S, WINDOW_S
from ..encoders.base import AudioFrames


def window_spans(duration_s: float, window_s: float = WINDOW_S, hop_s: float = WINDOW_HOP_S) -> list[tuple[float, float]]:
    """Window (start, end) times covering the track; a track shorter than one window gets one window.

    The last window is aligned to the track's end so the tail is covered without a short window.
    """
    if duration_s <= window_s:
        return [(0.0, float(duration_s))]
    starts = list(np.arange(0.0, duration_s - window_s + 1e-6, hop_s))
    if duration_s - (starts[-1] + window_s) > 1e-3:
        starts.append(duration_s - window_s)
    return [(float(s), float(s + window_s)) for s in starts]


def pool_into_windows(frames: AudioFrames, spans: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the patches whose centre falls in each window -> (embeddings [W, D], scores [W, C]).

    A window with no patch centre inside (possible only for very short audio) takes the nearest patch.
    """
    centres = frames.times + frames.patch_s / 2.0
    emb = np.zeros((len(spans), frames.embeddings.shape[1]), np.float32)
    scores = np.zeros((len(spans), frames.scores.shape[1]), np.float32)
    for i, (start, end) in enumerate(spans):
        inside = (centres >= start) & (centres < end)
        if not inside.any():
            inside = np.zeros(len(centres), bool)
            inside[int(np.argmin(np.abs(centres - (start + end) / 2.0)))] = True
        emb[i] = frames.embeddings[inside].mean(axis=0)
        scores[i] = frames.scores[inside].mean(axis=0)
    return emb, scores


def concat_frames(parts: list[tuple[float, AudioFrames]]) -> AudioFrames:
    """Join the outputs of consecutive blocks of one track, shifting each block's times by its offset."""
    if len(parts) == 1 and parts[0][0] == 0.0:
        return parts[0][1]
    first = parts[0][1]
    return AudioFrames(
        times=np.concatenate([offset + f.times for offset, f in parts]),
        patch_s=first.patch_s,
        scores=np.concatenate([f.scores for _, f in parts]),
        embeddings=np.concatenate([f.embeddings for _, f in parts]),
        labels=first.labels,
    )


CONTEXT_OFFSETS = (-2, 0, 2)  # window hop is 5 s: +-2 windows are the neighbouring non-overlapping 10 s


def context_rows(track_rows: slice, row: int) -> list[int]:
    """Rows of the window `row` and its in-track neighbours, in time order (the music tower's input)."""
    return [row + o for o in CONTEXT_OFFSETS if track_rows.start <= row + o < track_rows.stop]
