"""A preview that fits the edit: read the video's cuts and speech, plan the fit (fit.py), render the bed
(moviepy), shape it (fades and ducking, one envelope) and mux it in one ffmpeg graph.

Ducking is on by default when the video has speech (YAMNet's Speech classes); a video without sound or
without speech gets none, and says so.
"""
from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..library.rhythm import Rhythm
from .fit import FADE_IN_S, FitPlan, plan_fit

log = logging.getLogger(__name__)


@dataclass
class VideoEdit:
    """What of a video the fit needs: its length, shot cuts and where people speak."""

    duration_s: float
    cuts: np.ndarray
    speech: list[tuple[float, float]]
    has_sound: bool
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {**asdict(self), "cuts": [round(float(c), 3) for c in self.cuts]}


def analyse_video(video_path: str | os.PathLike, max_s: float | None = None) -> VideoEdit:
    from ..encoders.profiles import load_music_encoder
    from ..encoders.yamnet import speech_activity, speech_segments
    from ..media.audio import extract_soundtrack
    from ..media.cuts import detect_cuts
    from ..media.probe import probe

    info = probe(video_path)
    duration = info.duration_s if max_s is None else min(info.duration_s, max_s)
    notes: list[str] = []
    cuts = detect_cuts(video_path, max_s=duration)
    if not len(cuts):
        notes.append("no shot cuts found (one continuous shot)")
    speech: list[tuple[float, float]] = []
    sound = extract_soundtrack(video_path, max_s=duration, info=info)
    has_sound = sound is not None and len(sound) > 0 and float(np.abs(sound).max()) > 1e-4
    if not has_sound:
        notes.append("the video has no sound: nothing to duck under")
    else:
        yamnet = load_music_encoder("yamnet")
        times, prob = speech_activity(yamnet, yamnet.analyze(sound))
        speech = speech_segments(times, prob, duration)
        if not speech:
            notes.append("no speech heard in the video: no ducking")
    return VideoEdit(duration, cuts, speech, has_sound, notes)


def track_rhythm(track_path: str | os.PathLike) -> Rhythm | None:
    """Rhythm of a track that is not in a library (analysed now), or None when it cannot be analysed."""
    from ..library.indexer import decode_track
    from ..library.rhythm import analyze_rhythm

    duration, blocks = decode_track(Path(track_path))
    return analyze_rhythm(blocks, duration)


def make_fitted_preview(video_path: str | os.PathLike, track_path: str | os.PathLike, rhythm: Rhythm | None,
                        best_s: float, track_s: float, out_path: str | os.PathLike, *,
                        edit: VideoEdit | None = None, duck: bool | None = None,
                        keep_original_db: float | None = None, max_s: float | None = None) -> tuple[FitPlan, VideoEdit]:
    """Write the fitted preview mp4 to `out_path`; return the plan and the video analysis it used.

    duck: None = when the video has speech. The plan's notes say every fallback taken."""
    from ..media.bed import gain_envelope, render_bed, write_envelope
    from ..media.mux import mux_fitted

    started = time.perf_counter()
    edit = edit or analyse_video(video_path, max_s)
    plan = plan_fit(edit.cuts, rhythm, best_s, track_s, edit.duration_s)
    plan.notes = edit.notes + plan.notes
    ducking = bool(edit.speech) if duck is None else (duck and bool(edit.speech))
    if ducking:
        plan.notes.append(f"music ducked under speech in {len(edit.speech)} passage(s)")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fit-", dir=out_path.parent) as tmp:
        bed = render_bed(track_path, plan.pieces, plan.music_end_s, Path(tmp) / "bed.wav")
        gain = gain_envelope(edit.duration_s, fade_in_s=FADE_IN_S, fade_out_end_s=plan.music_end_s,
                             fade_out_s=plan.fade_out_s, speech=edit.speech if ducking else [])
        envelope = write_envelope(gain, Path(tmp) / "gain.wav")
        mux_fitted(video_path, bed, envelope, out_path, edit.duration_s, keep_original_db=keep_original_db)
    log.info("fitted preview %s in %.1f s", out_path.name, time.perf_counter() - started)
    return plan, edit
