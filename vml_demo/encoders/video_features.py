"""Per-segment video features for the learned ViML model: one row per 10 s segment.

- efficientnet_lite0 (offline, when its packages are installed): EfficientNet-Lite0's 1280-d pooled ImageNet
  features of the frames at 2 fps, averaged per segment and L2-normalised, followed by the weight-free descriptors
  (what is in the picture, and how it looks and moves).
- visual_descriptors (offline fallback): the weight-free descriptors of visual.py, standardised.
- clip_vit_b32 (paper): CLIP image embeddings of the frames sampled at 6 fps, averaged per segment (ViML).
The feature size comes from the encoder; a ViML checkpoint records the encoder and size it was trained with.
Only pixels are used: a video's soundtrack never enters these features (it is the training target).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import config
from .base import l2_normalize

VIDEO_ENCODERS = ("efficientnet_lite0", "visual_descriptors", "clip_vit_b32")


def segment_features(video: str | Path, encoder: str, *, info=None, max_s: float | None = None,
                     allow_random_clip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(segment start times [S], features [S, D]) for a video file."""
    from ..media.video import iter_segments

    if encoder not in VIDEO_ENCODERS:
        raise ValueError(f"unknown video encoder {encoder!r}; expected one of {VIDEO_ENCODERS}")
    from .visual import VisualDescriptors

    descriptors = VisualDescriptors()
    size, step = 112, 1
    if encoder == "clip_vit_b32":
        from .clip import load_clip

        image_encoder = load_clip(allow_random=allow_random_clip).image
        size = 224
    elif encoder == "efficientnet_lite0":
        from .efficientnet import load_efficientnet

        image_encoder = load_efficientnet()
        size, step = 224, max(1, round(config.VIDEO_FPS / config.SCENE_FPS))
    starts, rows = [], []
    for segment in iter_segments(video, fps=config.VIDEO_FPS, size=size, max_s=max_s, info=info):
        starts.append(segment.start_s)
        if encoder == "clip_vit_b32":
            rows.append(l2_normalize(image_encoder.encode_frames(segment.frames).mean(axis=0)))
        elif encoder == "efficientnet_lite0":
            pooled = l2_normalize(image_encoder.encode_frames(segment.frames[::step]).mean(axis=0))
            rows.append(np.concatenate([pooled, descriptors.encode_segment(segment.frames, config.VIDEO_FPS)]))
        else:
            rows.append(descriptors.encode_segment(segment.frames, config.VIDEO_FPS))
    return np.array(starts, np.float32), np.stack(rows).astype(np.float32)
