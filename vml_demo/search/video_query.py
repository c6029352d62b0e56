"""Turn a video into a query vector in the engine's music space.

Zero-shot path (offline profile, or no tri-modal checkpoint): the video is described in music words
from its visual descriptors (pace, brightness, colour, motion, cuts) and its soundtrack's AudioSet
classes (YAMNet), and that description is embedded by the text encoder; the engine then fuses it with
the user's text by ViML's `add` fusion. When a trained ViML checkpoint fits the active encoders, the
engine uses the learned path instead (viml_path.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import config
from ..errors import NoVideoStreamError
from ..settings import get_settings
from .video_words import VideoWords, mean_descriptors, sound_words, visual_words

FRAME_SIZE = 112  # descriptors shrink frames to ~64 px anyway; decoding smaller is cheaper
SILENCE_RMS = 1e-4  # a soundtrack quieter than this (digital silence) has no sound scene


@dataclass
class VideoQuery:
    path: str  # "zero-shot-video"
    description: str
    vector: np.ndarray
    reasons: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    speech_score: float | None = None  # the soundtrack's speech (speech_score); None without sound


def soundtrack_classes(video: Path, info) -> dict[str, float]:
    """AudioSet class -> mean YAMNet score over the video's own sound; {} when silent or absent."""
    from ..encoders.profiles import load_music_encoder
    from ..media.audio import extract_soundtrack

    audio = extract_soundtrack(video, 16000, max_s=get_settings().max_video_s, info=info)
    if audio is None or len(audio) == 0 or float(np.sqrt(np.mean(audio**2))) < SILENCE_RMS:
        return {}
    yamnet = load_music_encoder("yamnet")
    frames = yamnet.analyze(audio)
    mean = frames.scores.mean(axis=0)
    return {label: float(s) for label, s in zip(yamnet.labels, mean)}


def speech_score(classes: dict[str, float]) -> float:
    """How much the soundtrack is speech: the highest mean score of config.SPEECH_CLASSES (0 when silent)."""
    return max((classes.get(c, 0.0) for c in config.SPEECH_CLASSES), default=0.0)


def video_speech_score(video: str | Path) -> float | None:
    """speech_score of a video's own sound, None when it has no audio stream."""
    info = open_query_video(video)
    return speech_score(soundtrack_classes(Path(video), info)) if info.has_audio else None


def open_query_video(video: str | Path):
    """Probe a video given as a query: it must have pictures and be within the length limit."""
    from ..media.probe import probe
    from ..media.video import check_duration

    info = probe(video)
    if not info.has_video:
        raise NoVideoStreamError(f"{Path(video).name} has no video stream; choose a video file")
    check_duration(info, get_settings().max_video_s)
    return info


def describe_video(video: str | Path, report=lambda frac, desc: None) -> tuple[VideoWords, dict[str, float]]:
    """Music words for a video, and the seconds spent decoding and analysing it; the words' speech_score says
    how much of its sound is speech (None without an audio stream)."""
    from ..encoders.visual import VisualDescriptors
    from ..media.video import iter_segments

    video = Path(video)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    info = open_query_video(video)
    report(0.05, "decoding video frames")
    descriptor = VisualDescriptors()
    rows, describe_s, t_loop = [], 0.0, time.perf_counter()
    for segment in iter_segments(video, fps=config.VIDEO_FPS, size=FRAME_SIZE, info=info):
        t = time.perf_counter()
        rows.append(descriptor.describe_segment(segment.frames, config.VIDEO_FPS))
        describe_s += time.perf_counter() - t
    timings["video_decoding"] = (time.perf_counter() - t_loop) - describe_s + (t_loop - t0)  # incl. probe
    timings["visual_descriptors"] = describe_s
    words = visual_words(mean_descriptors(rows, descriptor.names))
    report(0.5, "listening to the video's soundtrack")
    t1 = time.perf_counter()
    if info.has_audio:
        classes = soundtrack_classes(video, info)
        sound_words(classes, words)
        words.speech_score = speech_score(classes)
    timings["soundtrack"] = time.perf_counter() - t1
    return words, timings


def embed_video_words(space, words: VideoWords) -> tuple[str, np.ndarray]:
    """The description that gets embedded for a video's words, and its vector in `space`."""
    text = words.text or "music"  # nothing fired (a plain, average video): a neutral query
    return text, space.embed_text([text])[0]


def encode_video_query(engine, video: str | Path, report=lambda frac, desc: None) -> VideoQuery:
    words, timings = describe_video(video, report)
    report(0.8, "embedding the video's description")
    t = time.perf_counter()
    text, vector = embed_video_words(engine.space, words)
    timings["video_text_encoding"] = time.perf_counter() - t
    return VideoQuery("zero-shot-video", text, vector, words.reasons, timings, words.speech_score)
