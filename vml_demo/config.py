"""Constants shared by every module: paths, window sizes, media limits. Environment variables live in settings.py."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
LIBRARY_AUDIO_DIR = ASSETS_DIR / "library"
SAMPLE_VIDEOS_DIR = ASSETS_DIR / "videos"
CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"
DATA_DIR = Path(__file__).resolve().parent / "data"
# Provenance of the training music and the Debian package text the tower learns from (data/debian_train/README.md).
DEBIAN_TRAIN_DIR = REPO_ROOT / "data" / "debian_train"
LIBRARY_MANIFEST = LIBRARY_AUDIO_DIR / "library.json"

# ViML: music and video are cut into 10 s segments; frames are sampled at 6 fps.
WINDOW_S = 10.0
WINDOW_HOP_S = 5.0  # overlapping library windows, so a match can start every 5 s
VIDEO_FPS = 6.0

# Limits on user media (bad input must fail fast with a clear message, never hang).
MAX_AUDIO_S = 4 * 3600.0  # an index accepts long tracks, streamed
MAX_PIXELS = 8192 * 8192

