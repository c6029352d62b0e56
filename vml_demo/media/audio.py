"""Streamed audio decoding: any format ffmpeg reads, as float32 mono at the asked sample rate.

ffmpeg does the decoding, downmixing and resampling and writes raw float32 to a pipe; Python reads it in
blocks, so a long file never sits in memory unless the caller asks for all of it (`load_audio`).
Downmix is the mean of the channels (`rematrix_maxval=1`): plain `-ac 1` sums at 0.707 per channel, which
pushes loud stereo above 1.0.
"""
from __future__ import annotations

import os
from typing import Iterator

import numpy as np

from vml_demo.errors import NoAudioStreamError
from vml_demo.media.ffmpeg import FFmpegPipe, check_decoded, seconds_arg
from vml_demo.media.probe import MediaInfo, probe

_BYTES_PER_SAMPLE = 4  # float32


def _check_args(sr: int, block_s: float, start_s: float, max_s: float | None) -> None:
    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    if block_s <= 0:
        raise ValueError(f"block_s must be positive, got {block_s}")
    if start_s < 0:
        raise ValueError(f"start_s must be >= 0, got {start_s}")
    if max_s is not None and max_s <= 0:
        raise ValueError(f"max_s must be positive or None, got {max_s}")


def _decode_args(path: os.PathLike, sr: int, start_s: float, max_s: float | None) -> list[str]:
    args = ["-v", "error"]
    if start_s > 0:
        args += ["-ss", seconds_arg(start_s)]  # before -i: seeks in the demuxer, so skipping hours is instant
    # asetnsamples regroups the output into 1 s frames (the same samples, the last frame short): ffmpeg then
    # hands ~1 frame a second, not one per 20 ms codec packet, between its threads and to the pipe, which
    # cut its CPU time by a fifth on the bundled Opus files.
    args += ["-i", os.fspath(path), "-map", "0:a:0", "-vn", "-sn", "-dn",
             "-af", f"aresample={sr}:out_chlayout=mono:rematrix_maxval=1,asetnsamples=n={sr}:p=0",
             "-ac", "1", "-ar", str(sr)]
    if max_s is not None:
        args += ["-t", seconds_arg(max_s)]
    return args + ["-c:a", "pcm_f32le", "-f", "f32le", "pipe:1"]


def _audio_blocks(info: MediaInfo, sr: int, block_s: float, start_s: float,
                  max_s: float | None) -> Iterator[np.ndarray]:
    block_bytes = max(1, int(round(block_s * sr))) * _BYTES_PER_SAMPLE
    total = 0
    with FFmpegPipe(_decode_args(info.path, sr, start_s, max_s), path_for_errors=info.path) as pipe:
        while True:
            raw = pipe.read_exact(block_bytes)
            usable = len(raw) - len(raw) % _BYTES_PER_SAMPLE
            if usable:
                total += usable // _BYTES_PER_SAMPLE
                # frombuffer shares the fresh bytearray: no copy, and the array is writable.
                yield np.frombuffer(raw, dtype="<f4", count=usable // _BYTES_PER_SAMPLE)
            if len(raw) < block_bytes:
                break
        returncode = pipe.finish()
        stderr = pipe.stderr
    check_decoded(info.path, "audio samples", total, f"{total / sr:.1f} s", returncode, stderr, start_s)


def stream_audio(path: str | os.PathLike, sr: int, block_s: float = 60.0, start_s: float = 0.0,
                 max_s: float | None = None, *, info: MediaInfo | None = None) -> Iterator[np.ndarray]:
    """Float32 mono blocks of `block_s` seconds (the last one shorter), as ffmpeg produces them.

    The file is probed now, so NotMediaError/NoAudioStreamError/... raise at the call; decoding starts
    at the first `next()`. Abandoning the iterator (or `close()`) kills ffmpeg. EmptyMediaError is raised
    at the end when nothing decoded (e.g. start_s past the end); a file damaged part way yields what
    decodes and logs a warning; CorruptMediaError when nothing decodes. Pass `info` to skip the probe.
    """
    _check_args(sr, block_s, start_s, max_s)
    info = info or probe(path)
    if not info.has_audio:
        raise NoAudioStreamError(f"{info.name} has no audio track")
    return _audio_blocks(info, sr, block_s, start_s, max_s)


def load_audio(path: str | os.PathLike, sr: int = 16000, start_s: float = 0.0, max_s: float | None = None,
               *, info: MediaInfo | None = None) -> np.ndarray:
    """The whole (or `start_s`..`start_s + max_s`) audio as one float32 mono array at `sr` Hz."""
    blocks = list(stream_audio(path, sr, block_s=60.0, start_s=start_s, max_s=max_s, info=info))
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


def extract_soundtrack(path: str | os.PathLike, sr: int = 16000, max_s: float | None = None,
                       *, info: MediaInfo | None = None) -> np.ndarray | None:
    """A video's own sound as float32 mono, or None when it has no audio stream.

    Present-but-silent audio is returned as decoded: deciding whether near-silence counts is the caller's.
    """
    info = info or probe(path)
    if not info.has_audio:
        return None
    return load_audio(path, sr=sr, max_s=max_s, info=info)
