"""Constants shared by every module: paths, window sizes, media limits. Environment variables live in settings.py."""
from __future__ import annotations

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

# EfficientNet-Lite0 looks at every 3rd frame of the 6 fps sample (2 fps): scenes change slower than motion.
SCENE_FPS = 2.0
