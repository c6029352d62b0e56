"""Log-mel front-end helpers shared by the audio encoders (YAMNet, musicnn), in numpy + torch.

librosa is not a dependency, so the mel filterbank is computed here:

- `mel_filterbank` matches `librosa.filters.mel`: triangles in Hz between mel-spaced edges, on the
  Slaney scale (linear below 1 kHz, log above) with Slaney area normalisation, or on the HTK scale
  (2595 log10(1 + f/700)) with or without normalisation. musicnn (librosa features) uses it, bit for bit.
- `mel_weight_matrix_tf` matches `tf.signal.linear_to_mel_weight_matrix`: HTK scale, triangles drawn
  in the mel domain, DC bin zeroed. The original YAMNet front end used it.

Spectrograms are returned time-major, [n_frames, n_fft // 2 + 1], which is how both networks read them.
"""
from __future__ import annotations

import functools

import numpy as np

# Slaney scale constants (Auditory Toolbox): 200/3 Hz per mel below 1 kHz, then log steps of 6.4^(1/27).
_SLANEY_F_SP = 200.0 / 3.0
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
_SLANEY_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(freqs, htk: bool = False) -> np.ndarray:
    """Hz -> mel on the HTK scale or the Slaney scale (librosa's default)."""
    f = np.asarray(freqs, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    linear = f / _SLANEY_F_SP
    log_part = _SLANEY_MIN_LOG_MEL + np.log(np.maximum(f, 1e-10) / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP
    return np.where(f >= _SLANEY_MIN_LOG_HZ, log_part, linear)


def mel_to_hz(mels, htk: bool = False) -> np.ndarray:
    """Inverse of `hz_to_mel`."""
    m = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    linear = _SLANEY_F_SP * m
    log_part = _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOGSTEP * (m - _SLANEY_MIN_LOG_MEL))
    return np.where(m >= _SLANEY_MIN_LOG_MEL, log_part, linear)


def fft_frequencies(sr: float, n_fft: int) -> np.ndarray:
    """Centre frequency in Hz of each rfft bin: [n_fft // 2 + 1]."""
    return np.fft.rfftfreq(n_fft, d=1.0 / sr)


@functools.lru_cache(maxsize=16)
def mel_filterbank(
    sr: float,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
) -> np.ndarray:
    """Mel filterbank [n_mels, n_fft // 2 + 1] float32, numerically matching librosa.filters.mel.

    norm="slaney" scales each triangle by 2 / (bandwidth in Hz), so every filter has unit area;
    norm=None leaves triangle peaks at 1. Cached and read-only: the encoders call it per patch.
    """
    if norm not in (None, "slaney"):
        raise ValueError(f"norm must be None or 'slaney', not {norm!r}")
    fmax = sr / 2.0 if fmax is None else float(fmax)
    # n_mels + 2 edges: filter i rises from edge i to edge i+1 and falls to edge i+2.
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2), htk)
    bins_hz = fft_frequencies(sr, n_fft)
    widths = np.diff(edges_hz)
    offsets = edges_hz[:, None] - bins_hz[None, :]  # [n_mels + 2, n_bins]
    rising = -offsets[:n_mels] / widths[:n_mels, None]
    falling = offsets[2:] / widths[1:, None]
    # Rounded to float32 before and after the normalisation, as librosa does (musicnn's features need its bits).
    weights = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    if norm == "slaney":
        weights *= (2.0 / (edges_hz[2:] - edges_hz[:n_mels]))[:, None]
    weights.setflags(write=False)
    return weights


def mel_weight_matrix_tf(
    sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float
) -> np.ndarray:
    """Filterbank [n_mels, n_fft // 2 + 1] float32 as tf.signal.linear_to_mel_weight_matrix builds it.

    Differences from `mel_filterbank(htk=True, norm=None)`: the triangles are linear in mel, not in
    Hz, and the DC bin gets no weight. YAMNet was trained with this matrix.
    """
    n_bins = n_fft // 2 + 1
    bins_mel = hz_to_mel(np.linspace(0.0, sr / 2.0, n_bins)[1:], htk=True)
    edges_mel = np.linspace(hz_to_mel(fmin, htk=True), hz_to_mel(fmax, htk=True), n_mels + 2)
    lower, centre, upper = edges_mel[:-2], edges_mel[1:-1], edges_mel[2:]
    rising = (bins_mel[None, :] - lower[:, None]) / (centre - lower)[:, None]
    falling = (upper[:, None] - bins_mel[None, :]) / (upper - centre)[:, None]
    weights = np.zeros((n_mels, n_bins), dtype=np.float64)
    weights[:, 1:] = np.maximum(0.0, np.minimum(rising, falling))
    return weights.astype(np.float32)


def power_spectrogram(
    audio,
    n_fft: int,
    hop: int,
    win_length: int | None = None,
    periodic: bool = True,
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
) -> np.ndarray:
    """|STFT|^power of mono audio with a Hann window, time-major: float32 [n_frames, n_fft // 2 + 1].

    Conventions follow librosa/torch: a window shorter than n_fft sits in the middle of the frame;
    center=True pads n_fft // 2 on both sides (pad_mode "constant" is librosa >= 0.10's default,
    "reflect" older librosa's). power=1.0 gives the magnitude spectrogram. Audio shorter than one
    frame gives zero frames.
    """
    import torch

    signal = torch.as_tensor(np.asarray(audio, dtype=np.float32)).reshape(-1)
    win_length = n_fft if win_length is None else int(win_length)
    if win_length > n_fft:
        raise ValueError(f"win_length {win_length} exceeds n_fft {n_fft}")
    n_bins = n_fft // 2 + 1
    if center:
        if pad_mode == "reflect" and signal.numel() <= n_fft // 2:
            pad_mode = "constant"  # reflect padding needs more samples than the pad
        signal = torch.nn.functional.pad(signal[None, None], (n_fft // 2, n_fft // 2), mode=pad_mode)[0, 0]
    if signal.numel() < n_fft:
        return np.zeros((0, n_bins), dtype=np.float32)
    window = torch.hann_window(win_length, periodic=periodic, dtype=torch.float32)
    stft = torch.stft(
        signal,
        n_fft=n_fft,
        hop_length=hop,
        win_length=win_length,
        window=window,
        center=False,
        return_complex=True,
    )
    magnitude = stft.abs()
    spec = magnitude if power == 1.0 else magnitude.pow(power)
    return spec.T.contiguous().numpy().astype(np.float32, copy=False)

