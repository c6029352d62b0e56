"""Turn a video into a query vector in the engine's music space.

Zero-shot path (offline profile, or no tri-modal checkpoint): the video is described in music words
from what is in it (EfficientNet-Lite0's ImageNet classes per segment), its visual descriptors (pace,
brightness, colour, motion, cuts) and its soundtrack's AudioSet classes (YAMNet), and that description is
embedded by the text encoder. When the soundtrack holds music, that music is embedded by the library's own
music encoders and blended in ("more like the music that is there", VML_OWN_MUSIC_WEIGHT). The engine then
fuses the result with the user's text by ViML's `add` fusion. Each part has a switch in settings.py (the lever
table measures them). When a trained ViML checkpoint fits the active encoders, the engine uses the learned
path instead (viml_path.py).
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import config
from ..errors import NoVideoStreamError
from ..settings import get_settings
from ..encoders.base import l2_normalize
from .video_words import VideoWords, load_rules, mean_descriptors, scene_words, sound_words, visual_words

FRAME_SIZE = 112  # descriptors shrink frames to ~64 px anyway; decoding smaller is cheaper
SCENE_FRAME_SIZE = 224  # EfficientNet-Lite0's input; halved (2x2 mean) for the descriptors
SILENCE_RMS = 1e-4  # a soundtrack quieter than this (digital silence) has no sound scene


@dataclass
class VideoQuery:
    path: str  # "zero-shot-video"
    description: str
    vector: np.ndarray
    reasons: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    speech_score: float | None = None  # the soundtrack's speech (speech_score); None without sound
    seen: list[dict] = field(default_factory=list)  # per segment: top ImageNet classes and the words they gave
    heard_music: float | None = None  # the soundtrack's YAMNet "Music" score; None: no soundtrack
    own_music_weight: float = 0.0  # the share of the video vector the heard music took (0: none heard or off)


def soundtrack_classes(video: Path, info) -> tuple[dict[str, float], np.ndarray | None]:
    """(AudioSet class -> mean YAMNet score over the video's own sound, the 16 kHz sound); ({}, None) when silent."""
    from ..encoders.profiles import load_music_encoder
    from ..media.audio import extract_soundtrack

    audio = extract_soundtrack(video, 16000, max_s=get_settings().max_video_s, info=info)
    if audio is None or len(audio) == 0 or float(np.sqrt(np.mean(audio**2))) < SILENCE_RMS:
        return {}, None
    yamnet = load_music_encoder("yamnet")
    frames = yamnet.analyze(audio)
    mean = frames.scores.mean(axis=0)
    return {label: float(s) for label, s in zip(yamnet.labels, mean)}, audio


def _timed_soundtrack(video: Path, info) -> tuple[dict[str, float], np.ndarray | None, float]:
    t = time.perf_counter()
    classes, audio = soundtrack_classes(video, info)
    return classes, audio, time.perf_counter() - t


def speech_score(classes: dict[str, float]) -> float:
    """How much the soundtrack is speech: the highest mean score of config.SPEECH_CLASSES (0 when silent)."""
    return max((classes.get(c, 0.0) for c in config.SPEECH_CLASSES), default=0.0)


def video_speech_score(video: str | Path) -> float | None:
    """speech_score of a video's own sound, None when it has no audio stream."""
    info = open_query_video(video)
    return speech_score(soundtrack_classes(Path(video), info)[0]) if info.has_audio else None


def open_query_video(video: str | Path):
    """Probe a video given as a query: it must have pictures and be within the length limit."""
    from ..media.probe import probe
    from ..media.video import check_duration

    info = probe(video)
    if not info.has_video:
        raise NoVideoStreamError(f"{Path(video).name} has no video stream; choose a video file")
    check_duration(info, get_settings().max_video_s)
    return info


@dataclass
class VideoDescription:
    words: VideoWords
    timings: dict[str, float]
    own_music: np.ndarray | None = None  # the soundtrack (16 kHz) when music was heard in it, else None


def _halve(frames: np.ndarray) -> np.ndarray:
    """2x2 mean, rounded down: 224 px frames -> the 112 px the descriptor thresholds were set on. Summed in
    uint16 (exactly the floor of the float mean, several times faster)."""
    total = frames[:, 0::2, 0::2].astype(np.uint16)
    total += frames[:, 1::2, 0::2]
    total += frames[:, 0::2, 1::2]
    total += frames[:, 1::2, 1::2]
    return (total >> 2).astype(np.uint8)


def describe_video(video: str | Path, report=lambda frac, desc: None, settings=None) -> VideoDescription:
    """Music words for a video, the seconds spent on each stage, and its own music if any.

    The stages overlap: the soundtrack (its decoding, YAMNet) runs in a thread from the start, and frames are
    decoded a few segments ahead (media.video.ReadAhead) while the scene model loads and runs, so ffmpeg, the
    models and numpy share the cores. Each stage's seconds are its own; `video_total` is the wall time.
    """
    from ..encoders.visual import VisualDescriptors
    from ..media.video import ReadAhead, iter_segments

    settings = settings or get_settings()
    video = Path(video)
    timings: dict[str, float] = {"video_decoding": 0.0, "visual_descriptors": 0.0}
    t0 = time.perf_counter()
    info = open_query_video(video)
    timings["video_decoding"] = time.perf_counter() - t0  # the probe, then the waits for frames
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vml-soundtrack") as pool:
        sound = pool.submit(_timed_soundtrack, video, info) if info.has_audio else None
        size = SCENE_FRAME_SIZE if settings.video_scenes else FRAME_SIZE
        with ReadAhead(iter_segments(video, fps=config.VIDEO_FPS, size=size, info=info)) as segments:
            scenes = None
            if settings.video_scenes:
                from ..encoders.efficientnet import load_efficientnet

                report(0.02, "loading the image classifier")
                t = time.perf_counter()
                scenes = load_efficientnet()
                timings["scene_model_load"] = time.perf_counter() - t
            report(0.05, "decoding video frames")
            descriptor = VisualDescriptors()
            step = max(1, round(config.VIDEO_FPS / config.SCENE_FPS))
            rows, probs, starts = [], [], []
            while True:
                t = time.perf_counter()
                segment = next(segments, None)
                timings["video_decoding"] += time.perf_counter() - t
                if segment is None:
                    break
                starts.append(segment.start_s)
                if settings.video_looks:  # the descriptors feed the look rules only
                    t = time.perf_counter()
                    rows.append(descriptor.describe_segment(
                        _halve(segment.frames) if scenes is not None else segment.frames, config.VIDEO_FPS))
                    timings["visual_descriptors"] += time.perf_counter() - t
                if scenes is not None:
                    t = time.perf_counter()
                    probs.append(scenes.run(segment.frames[::step])[0].mean(axis=0))
                    timings["scene_classes"] = timings.get("scene_classes", 0.0) + time.perf_counter() - t
        words = VideoWords()
        if scenes is not None:
            scene_words(np.stack(probs), scenes.labels, starts, words)
        if settings.video_looks:
            visual_words(mean_descriptors(rows, descriptor.names), words)
        report(0.5, "listening to the video's soundtrack")
        own_music = None
        timings["soundtrack"] = 0.0
        if sound is not None:
            classes, audio, timings["soundtrack"] = sound.result()
            sound_words(classes, words)
            if audio is not None:
                words.heard_music = classes.get(load_rules()["own_music"]["music_class"], 0.0)
                if words.heard_music >= load_rules()["own_music"]["min_score"]:
                    own_music = audio
            words.speech_score = speech_score(classes)
    timings["video_total"] = time.perf_counter() - t0
    return VideoDescription(words, timings, own_music)


def warm_up_video_encoders(settings=None) -> None:
    """Load what a zero-shot video query needs before the first one: the scene model (when on and installed) and
    YAMNet, run once on a second of silence so its torch front end is imported too. The app calls it in its
    warm-up thread once the page is up."""
    from ..encoders.profiles import load_music_encoder

    settings = settings or get_settings()
    if settings.video_scenes:
        from ..encoders.efficientnet import available, load_efficientnet

        if available():
            load_efficientnet()
    load_music_encoder("yamnet").analyze(np.zeros(16000, np.float32))


class PreparedVideo(os.PathLike):
    """A query video whose description (describe_video) is already under way in a thread: the CLI starts it
    before the library loads, so decoding and the models overlap reading the index. It is a path like any other
    (os.fspath), so every route takes it; the zero-shot route collects the description, errors included, where
    it would have computed it."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._description: Future = Future()
        # A daemon thread: a process that fails before it needs the description exits without waiting for it.
        threading.Thread(target=self._describe, name="vml-describe", daemon=True).start()

    def _describe(self) -> None:
        try:
            self._description.set_result(describe_video(self.path))
        except BaseException as err:  # raised where the description is collected
            self._description.set_exception(err)

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def description(self) -> VideoDescription:
        return self._description.result()


def embed_video_words(space, words: VideoWords) -> tuple[str, np.ndarray]:
    """The description that gets embedded for a video's words, and its vector in `space`."""
    text = words.text or "music"  # nothing fired (a plain, average video): a neutral query
    return text, space.embed_text([text])[0]


def embed_own_music(space, audio: np.ndarray) -> np.ndarray:
    """The video's own music in `space`: the library's music encoders over its 10 s windows, averaged."""
    from .zero_shot import analyze_audio, clip_embedding

    return clip_embedding(space, analyze_audio(len(audio) / 16000.0, [(0.0, audio)]))


def video_vector(space, described: VideoDescription, weight: float | None = None) -> tuple[str, np.ndarray, float]:
    """(embedded description, the video's query vector, the share its own music took)."""
    text, vec = embed_video_words(space, described.words)
    weight = get_settings().own_music_weight if weight is None else weight
    if described.own_music is None or weight <= 0.0:
        return text, vec, 0.0
    music = embed_own_music(space, described.own_music)
    return text, l2_normalize((1.0 - weight) * vec + weight * music), weight


def encode_video_query(engine, video: str | Path, report=lambda frac, desc: None) -> VideoQuery:
    described = video.description() if isinstance(video, PreparedVideo) else describe_video(video, report)
    report(0.8, "embedding the video's description")
    t = time.perf_counter()
    text, vector, music_share = video_vector(engine.space, described)
    timings = {**described.timings, "video_text_encoding": time.perf_counter() - t}
    words = described.words
    return VideoQuery("zero-shot-video", text, vector, words.reasons, timings, speech_score=words.speech_score,
                      seen=words.seen, heard_music=words.heard_music, own_music_weight=music_share)
