"""Rhythm of a track, analysed at index time with librosa: tempo, beats, downbeats, energy curve, sections.

- Spectrum: the project's own |STFT|^2 (torch, encoders/melspec.py) and librosa's mel filterbank numbers
  (the same filterbank, see melspec.mel_filterbank) on the indexer's 16 kHz samples; hop 256 (16 ms).
- Beats and tempo: `librosa.beat.beat_track` on `librosa.onset.onset_strength` of the log-mel spectrum, given
  the tempo estimate of `estimate_tempo` (librosa.feature.tempo's, from every 4th tempogram column).
- Downbeats: librosa has no downbeat tracker, so the bar phase is estimated: assuming 4/4, of the four
  ways to group the beats into bars, the one whose first beats carry the most low-frequency energy
  (mel bands under ~500 Hz, where kick drums and bass notes land, in the 50 ms after each beat) is taken.
  A documented estimate, not a trained downbeat model: it is right when bars start with a kick or a bass note.
- Energy: RMS level in dBFS every ENERGY_HOP_S seconds.
- Sections: `librosa.segment.agglomerative` over bar-synchronous MFCCs, one section per ~30 s
  (2..12), boundaries at bar starts.

librosa's beat tracker is compiled by numba on its first call in a process (seconds to minutes on a
loaded 2-core machine, see the README's measurements); later calls take about a second per track.
Long tracks are analysed block by block (the indexer's 5-minute blocks), so memory stays bounded.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

RHYTHM_VERSION = "3"  # bump when the analysis changes: tracks analysed with another version are analysed again
# 3: tempo estimated from every 4th tempogram column (estimate_tempo)
SAMPLE_RATE = 16000
N_FFT = 1024
HOP = 256
N_MELS = 64
BASS_MELS = 12  # mel bands 0..11 at 16 kHz / 64 bands reach ~480 Hz
BEATS_PER_BAR = 4
ENERGY_HOP_S = 0.5
SECTION_S = 30.0
MAX_SECTIONS = 12
MIN_BEATS = 8  # fewer beats than this: no tempo (silence, speech, a drone)


@dataclass
class Rhythm:
    bpm: float | None  # None when no steady beat was found
    beats: np.ndarray  # beat times, s
    downbeats: np.ndarray  # bar starts, s (a subset of beats)
    energy: np.ndarray  # RMS dBFS every `energy_hop_s`
    energy_hop_s: float = ENERGY_HOP_S
    sections: np.ndarray = field(default_factory=lambda: np.zeros(0))  # section start times, s (0 first)
    note: str = ""  # why there is no tempo, when there is none

    @property
    def bar_s(self) -> float | None:
        return BEATS_PER_BAR * 60.0 / self.bpm if self.bpm else None


def _block_features(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log-mel [64, T], full-band onset strength [T], bass level in dB [T]) of one block."""
    import librosa

    from ..encoders.melspec import mel_filterbank, power_spectrogram

    power = power_spectrogram(samples, N_FFT, HOP)  # [T, bins], frame t centred on t * HOP
    mel = power @ mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS).T
    log_mel = librosa.power_to_db(mel.T, ref=1.0, top_db=None).astype(np.float32)
    # n_fft tells librosa how far the centred frames lag, so onset times are not shifted late.
    onset = librosa.onset.onset_strength(S=log_mel, sr=SAMPLE_RATE, hop_length=HOP, n_fft=N_FFT)
    bass = log_mel[:BASS_MELS].mean(axis=0)
    return log_mel, onset[: log_mel.shape[1]], bass


def _energy_db(samples: np.ndarray) -> np.ndarray:
    step = int(ENERGY_HOP_S * SAMPLE_RATE)
    n = max(1, int(np.ceil(len(samples) / step)))
    padded = np.zeros(n * step, np.float32)
    padded[: len(samples)] = samples
    rms = np.sqrt(np.mean(padded.reshape(n, step).astype(np.float64) ** 2, axis=1))
    return (20.0 * np.log10(np.maximum(rms, 1e-5))).astype(np.float32)


BAR_PHASE_FRAMES = 4  # a beat's bass level: the loudest of its first 4 frames (~50 ms after the beat)


def bar_phase(beats: np.ndarray, bass_db: np.ndarray) -> int:
    """Index (0..3) of the first downbeat among `beats` (frame numbers): the phase with the loudest bass."""
    frames = np.clip(beats[:, None] + np.arange(BAR_PHASE_FRAMES)[None, :], 0, len(bass_db) - 1)
    strength = bass_db[frames].max(axis=1)
    scores = [strength[p::BEATS_PER_BAR].mean() if len(strength[p::BEATS_PER_BAR]) else -1.0
              for p in range(BEATS_PER_BAR)]
    return int(np.argmax(scores))


def _sections(log_mel: np.ndarray, bar_frames: np.ndarray, duration_s: float) -> np.ndarray:
    import librosa

    k = int(np.clip(round(duration_s / SECTION_S), 1, MAX_SECTIONS))
    if k < 2 or len(bar_frames) < 2 * k:
        return np.zeros(1)
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=13)
    synced = librosa.util.sync(mfcc, bar_frames.astype(int), aggregate=np.mean)
    bounds = librosa.segment.agglomerative(synced, k)  # indices into the bar-synchronous columns
    # sync's column j covers frames from the (j-1)-th bar start (column 0 starts at frame 0).
    starts = np.concatenate([[0], bar_frames])[np.clip(bounds, 0, len(bar_frames))]
    return np.unique(np.round(starts * HOP / SAMPLE_RATE, 3))


TEMPO_AC_S = 8.0  # librosa.feature.tempo's default autocorrelation window
TEMPO_FRAME_STEP = 4  # tempogram columns every 4th onset frame (64 ms): 1 = librosa's own (every frame)


def estimate_tempo(onset: np.ndarray, step: int = TEMPO_FRAME_STEP) -> float:
    """librosa.feature.tempo of an onset envelope (default prior, mean tempogram), from every `step`-th column.

    The same windowing, autocorrelation and normalisation as librosa.feature.tempogram; step 1 gives librosa's
    value exactly. The mean over 1 in 4 of the (8 s wide, heavily overlapping) windows is where nearly all
    of a track's rhythm time went; a quarter of the columns changed the estimate of 1 of 287 tracks (the bundled
    library and the labelled clips; none on dev or in the library; one test clip, from 107 to 156 BPM, label 159).
    """
    import librosa

    win = int(librosa.time_to_frames(TEMPO_AC_S, sr=SAMPLE_RATE, hop_length=HOP))
    padded = np.pad(onset, (win // 2, win // 2), mode="linear_ramp", end_values=[0, 0])
    frames = librosa.util.frame(padded, frame_length=win, hop_length=1)[:, : len(onset)][:, ::step]
    window = librosa.filters.get_window("hann", win, fftbins=True)[:, None]
    tg = librosa.util.normalize(librosa.autocorrelate(frames * window, axis=0), norm=np.inf, axis=0)
    tempo = librosa.feature.tempo(tg=tg, sr=SAMPLE_RATE, hop_length=HOP, aggregate=np.mean)
    return float(np.asarray(tempo).reshape(-1)[0])


def analyze_rhythm(blocks: list[tuple[float, np.ndarray]], duration_s: float) -> Rhythm:
    """Rhythm of one track given as the indexer's [(block start s, 16 kHz mono samples)]."""
    import librosa

    feats = [_block_features(np.asarray(samples, np.float32)) for _, samples in blocks]
    log_mel = np.concatenate([f[0] for f in feats], axis=1)
    onset = np.concatenate([f[1] for f in feats])
    bass = np.concatenate([f[2] for f in feats])
    energy = np.concatenate([_energy_db(np.asarray(s, np.float32)) for _, s in blocks])
    empty = np.zeros(0)
    if onset.max(initial=0.0) <= 1e-6:
        return Rhythm(None, empty, empty, energy, note="no onsets (silent or constant sound)")
    _, beat_frames = librosa.beat.beat_track(onset_envelope=onset, sr=SAMPLE_RATE, hop_length=HOP,
                                             bpm=estimate_tempo(onset), units="frames", trim=False)
    beat_frames = np.asarray(beat_frames, int)
    if len(beat_frames) < MIN_BEATS:
        return Rhythm(None, empty, empty, energy, note=f"no steady beat ({len(beat_frames)} beats found)")
    # The tempo reported is the one the beats show, so it matches the grid: the mean inter-beat interval
    # over intervals within 10% of the median (a skipped or doubled beat does not bend it); finer than
    # the 16 ms frame step a single interval is quantised to.
    gaps = np.diff(beat_frames) * HOP / SAMPLE_RATE
    steady = gaps[np.abs(gaps - np.median(gaps)) <= 0.1 * np.median(gaps)]
    bpm = float(60.0 / steady.mean())
    phase = bar_phase(beat_frames, bass)
    bar_frames = beat_frames[phase::BEATS_PER_BAR]
    to_s = HOP / SAMPLE_RATE
    return Rhythm(bpm=round(bpm, 2), beats=np.round(beat_frames * to_s, 4), downbeats=np.round(bar_frames * to_s, 4),
                  energy=energy, sections=_sections(log_mel, bar_frames, duration_s))
