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


# Search filters and creator tools (search/filters.py, search/like.py).
# A track is instrumental when its vocals score is below this: the 95th percentile of the synthetic set's dev
# clips (all instrumental), from benchmarks/vocals_rule.py (results/vocals_rule.json: on the test split 97 of
# 105 instrumental clips pass; the bundled library's one known vocal track scores 0.156 and is called vocal).
VOCALS_THRESHOLD = 0.14
# "Prefer instrumental": a track's score loses this much per unit of vocals score (scores are cosines; a vocals
# score of 0.15 then costs 0.06). Not tuned: no labelled set here says which tracks have vocals.
PREFER_INSTRUMENTAL_WEIGHT = 0.4
# The video has speech when the mean YAMNet score of these classes over its soundtrack reaches SPEECH_MIN_SCORE
# (the bar of the speech rule in data/video_to_music.json, which also asks for quiet music then).
SPEECH_CLASSES = ("Speech", "Conversation", "Narration, monologue")
SPEECH_MIN_SCORE = 0.4
# Refine: query = normalise(track vector + REFINE_TEXT_WEIGHT * text vector) in the music space.
REFINE_TEXT_WEIGHT = 1.0
# Hubness reduction (search/hubness.py): each window's score loses HUB_WEIGHT times its typical similarity
# to a bank of generic queries (the vocabulary's "<term> music" phrases): CSLS takes the mean of its
# HUB_BANK_K most similar bank texts, inverted softmax a log-sum-exp at HUB_TEMPERATURE. Chosen on dev.
HUB_BANK_K = 10
HUB_WEIGHT = 1.0
HUB_TEMPERATURE = 0.05
# EfficientNet-Lite0 looks at every 3rd frame of the 6 fps sample (2 fps): scenes change slower than motion.
SCENE_FPS = 2.0
# prompt2text (ViML section 3.1): greedy decoding, so each distinct prompt is generated once and cached.
P2T_EXEMPLARS = 4  # A:A' pairs in a prompt (fewer when the LM's context is short)
P2T_MAX_NEW_TOKENS = 48  # longest completion; generation also stops at the first newline
P2T_PROMPT_VARIANTS = 1  # exemplar windows a tag set is described from: 1 keeps it to one text per tag set (CPU)
P2T_ATTEMPTS = 3  # prompts tried per text before falling back to data2text
P2T_MIN_PRESERVATION = 1.0  # share of the tags a text must keep (semantic preservation) to be accepted
