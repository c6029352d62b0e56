"""Paths and settings shared by every module. Environment variables override the defaults.

VML_DB              library index folder used by the CLI and app (default: assets/index)
VML_DEVICE          "cpu", "cuda" or "auto" (default auto: cuda when torch sees one)
VML_CLIP_WEIGHTS    path to an open_clip ViT-B/32 checkpoint (.pt/.bin/.safetensors)
VML_ALLOW_DOWNLOAD  "1" lets CLIP weights be fetched from a hub when none are on disk (default off)
VML_MAX_VIDEO_S     longest video accepted for a query, in seconds (default 600)
VML_SPACE           music-text space for search and tagging: auto (default: the space with the higher dev mAP
                    in the shipped checkpoint's metrics.json, the bridge while unmeasured), bridge, trained (the
                    shipped tower), or a checkpoint folder
VML_QUERY_THREADS   torch threads while answering queries (default 1: one query's small matrix products
                    lose more to thread hand-offs than they gain, and ffmpeg decodes on the other core)
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
LIBRARY_AUDIO_DIR = ASSETS_DIR / "library"
SAMPLE_VIDEOS_DIR = ASSETS_DIR / "videos"
CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"
DATA_DIR = Path(__file__).resolve().parent / "data"

# ViML: music and video are cut into 10 s segments; frames are sampled at 6 fps.
WINDOW_S = 10.0
WINDOW_HOP_S = 5.0  # overlapping library windows, so a match can start every 5 s
VIDEO_FPS = 6.0

# Limits on user media (bad input must fail fast with a clear message, never hang).
MAX_AUDIO_S = 4 * 3600.0  # an index accepts long tracks, streamed
MAX_PIXELS = 8192 * 8192


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def default_db_dir() -> Path:
    return Path(env_str("VML_DB", str(ASSETS_DIR / "index")))


def max_video_s() -> float:
    return float(env_str("VML_MAX_VIDEO_S", "600"))


def allow_download() -> bool:
    return env_str("VML_ALLOW_DOWNLOAD", "0") in {"1", "true", "yes"}


def query_threads() -> int:
    return max(1, int(env_str("VML_QUERY_THREADS", "1")))


def default_space() -> str:
    return env_str("VML_SPACE", "auto")
