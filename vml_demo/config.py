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


# prompt2text (ViML section 3.1): greedy decoding, so each distinct prompt is generated once and cached.
P2T_EXEMPLARS = 4  # A:A' pairs in a prompt (fewer when the LM's context is short)
P2T_MAX_NEW_TOKENS = 48  # longest completion; generation also stops at the first newline
P2T_PROMPT_VARIANTS = 1  # exemplar windows a tag set is described from: 1 keeps it to one text per tag set (CPU)
P2T_ATTEMPTS = 3  # prompts tried per text before falling back to data2text
P2T_MIN_PRESERVATION = 1.0  # share of the tags a text must keep (semantic preservation) to be accepted
