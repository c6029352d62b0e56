"""The music bed of a fitted preview: a timeline of pieces of one track, and its gain envelope.

- `render_bed` composes the timeline with moviepy (a CompositeAudioClip of subclips of the track, each
  placed at its start, crossfaded into the next with AudioFadeIn/AudioFadeOut) and writes it with soundfile
  as a float WAV at 48 kHz stereo: this is where a timeline of clips is composed.
- `gain_envelope` is the volume automation applied after levelling in the mux's ffmpeg graph
  (mux.mux_fitted): a short fade-in, the fade-out that ends on the last bar, and the ducking under speech,
  as one gain curve, written by soundfile at ENVELOPE_RATE (ffmpeg resamples it).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MediaError
from .ffmpeg import display_name

BED_RATE = 48000
ENVELOPE_RATE = 1000  # 1 ms steps: fine enough for fades, tiny to write
DUCK_DB = -12.0  # music level under speech relative to elsewhere
DUCK_ATTACK_S = 0.15  # the music dips this long before speech starts...
DUCK_RELEASE_S = 0.4  # ...and comes back over this long after it ends


@dataclass
class Piece:
    """`src_start_s`..`src_end_s` of the track, placed at `dst_start_s` on the video's timeline."""

    src_start_s: float
    src_end_s: float
    dst_start_s: float
    fade_in_s: float = 0.0  # crossfade in from the previous piece
    fade_out_s: float = 0.0  # crossfade out into the next piece


def render_bed(track_path: str | os.PathLike, pieces: list[Piece], duration_s: float,
               out_wav: str | os.PathLike) -> Path:
    """Write the pieces of the track, composed on one timeline of `duration_s`, as a 48 kHz stereo WAV."""
    import soundfile as sf
    from moviepy import AudioFileClip, CompositeAudioClip, afx

    try:
        source = AudioFileClip(os.fspath(track_path), fps=BED_RATE)
    except (OSError, IOError, KeyError) as err:
        raise MediaError(f"{display_name(track_path)} cannot be read for the preview ({err})") from err
    try:
        clips = []
        for p in pieces:
            clip = source.subclipped(p.src_start_s, min(p.src_end_s, source.duration)).with_start(p.dst_start_s)
            effects = ([afx.AudioFadeIn(p.fade_in_s)] if p.fade_in_s > 0 else []) + \
                      ([afx.AudioFadeOut(p.fade_out_s)] if p.fade_out_s > 0 else [])
            clips.append(clip.with_effects(effects) if effects else clip)
        samples = CompositeAudioClip(clips).with_duration(duration_s).to_soundarray(fps=BED_RATE)
    finally:
        source.close()
    samples = np.asarray(samples, np.float32)
    if samples.ndim == 1:
        samples = np.stack([samples, samples], axis=1)
    sf.write(os.fspath(out_wav), samples, BED_RATE, subtype="FLOAT")
    return Path(out_wav)


def gain_envelope(duration_s: float, *, fade_in_s: float, fade_out_end_s: float, fade_out_s: float,
                  speech: list[tuple[float, float]] = (), duck_db: float = DUCK_DB) -> np.ndarray:
    """Gain per 1/ENVELOPE_RATE s over `duration_s`: fades, silence after `fade_out_end_s`, ducked speech."""
    n = max(1, int(round(duration_s * ENVELOPE_RATE)))
    t = np.arange(n) / ENVELOPE_RATE
    gain = np.ones(n, np.float64)
    if fade_in_s > 0:
        gain *= np.clip(t / fade_in_s, 0.0, 1.0)
    if fade_out_s > 0:
        gain *= np.clip((fade_out_end_s - t) / fade_out_s, 0.0, 1.0)
    else:
        gain[t >= fade_out_end_s] = 0.0
    duck = 10.0 ** (duck_db / 20.0)
    dip = np.zeros(n)  # 0: full level, 1: fully ducked
    for start, end in speech:
        ramp_in = np.clip((t - (start - DUCK_ATTACK_S)) / DUCK_ATTACK_S, 0.0, 1.0)
        ramp_out = np.clip(((end + DUCK_RELEASE_S) - t) / DUCK_RELEASE_S, 0.0, 1.0)
        dip = np.maximum(dip, np.minimum(ramp_in, ramp_out))
    gain *= 1.0 - dip * (1.0 - duck)
    return gain.astype(np.float32)


def write_envelope(gain: np.ndarray, out_wav: str | os.PathLike) -> Path:
    import soundfile as sf

    sf.write(os.fspath(out_wav), np.asarray(gain, np.float32), ENVELOPE_RATE, subtype="FLOAT")
    return Path(out_wav)
