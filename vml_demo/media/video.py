"""Streamed video frame decoding, and grouping of frames into the fixed-length segments ViML embeds.

ffmpeg samples the frames (`fps`), scales the shorter *displayed* side to `size` (honouring a non-square
sample aspect ratio), center-crops to a square and writes raw RGB to a pipe; Python reads one frame at a
time, so memory stays at one segment whatever the video's length. `ReadAhead` moves that reading to a
thread a few segments ahead of the consumer, so ffmpeg keeps decoding while a model works on a segment.
"""
from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass
from typing import Iterator, TypeVar

import numpy as np

from vml_demo import config
from vml_demo.errors import MediaTooLongError, NoVideoStreamError
from vml_demo.media.ffmpeg import FFmpegPipe, check_decoded, seconds_arg
from vml_demo.media.probe import MediaInfo, probe
from vml_demo.settings import get_settings


@dataclass(frozen=True)
class VideoSegment:
    """Frames of one window: `frames` is uint8 [N, size, size, 3] RGB; end_s - start_s = N / fps."""

    start_s: float
    end_s: float
    frames: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])


def format_duration(seconds: float) -> str:
    """'1:02:03' or '4:05' (m:ss), for messages."""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def check_duration(info: MediaInfo, limit_s: float | None = None) -> None:
    """Raise MediaTooLongError when `info` is longer than `limit_s` (default: VML_MAX_VIDEO_S)."""
    limit = get_settings().max_video_s if limit_s is None else float(limit_s)
    if info.duration_s > limit:
        raise MediaTooLongError(
            f"{info.name} is {format_duration(info.duration_s)} long; the limit is {format_duration(limit)}")


def frame_filter(fps: float, size: int) -> str:
    """-vf chain: sample at `fps`, scale the shorter displayed side to `size`, center-crop a square.

    `eof_action=pass` keeps a video shorter than one output frame period (a 1-frame clip) from yielding
    nothing. `sar` is the input's sample aspect ratio (1 when unknown), so anamorphic video is not squashed.
    """
    scale = (f"scale=w='max({size},round({size}*iw*sar/ih))':h='max({size},round({size}*ih/(iw*sar)))'"
             ":flags=bilinear")
    return f"fps={fps:g}:eof_action=pass,{scale},setsar=1,crop={size}:{size}"


def _check_frame_args(fps: float, size: int, start_s: float, max_s: float | None) -> None:
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if size < 2:
        raise ValueError(f"size must be at least 2, got {size}")
    if start_s < 0:
        raise ValueError(f"start_s must be >= 0, got {start_s}")
    if max_s is not None and max_s <= 0:
        raise ValueError(f"max_s must be positive or None, got {max_s}")


def _frames(info: MediaInfo, fps: float, size: int, start_s: float,
            max_s: float | None) -> Iterator[tuple[float, np.ndarray]]:
    args = ["-v", "error"]
    if start_s > 0:
        args += ["-ss", seconds_arg(start_s)]
    args += ["-i", os.fspath(info.path), "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", frame_filter(fps, size)]
    if max_s is not None:
        args += ["-t", seconds_arg(max_s)]
    args += ["-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1"]

    frame_bytes = size * size * 3
    count = 0
    with FFmpegPipe(args, path_for_errors=info.path) as pipe:
        while True:
            raw = pipe.read_exact(frame_bytes)
            if len(raw) < frame_bytes:
                break
            # Timestamps follow the fps grid: ffmpeg's fps filter emits frame i at i / fps.
            yield start_s + count / fps, np.frombuffer(raw, dtype=np.uint8).reshape(size, size, 3)
            count += 1
        returncode = pipe.finish()
        stderr = pipe.stderr
    check_decoded(info.path, "video frames", count, f"{count} frames", returncode, stderr, start_s)


def iter_frames(path: str | os.PathLike, fps: float = config.VIDEO_FPS, size: int = 224, start_s: float = 0.0,
                max_s: float | None = None, *, info: MediaInfo | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """(timestamp_s, uint8 [size, size, 3] RGB) pairs sampled at `fps`, read from ffmpeg one at a time.

    Probes now (NoVideoStreamError for audio-only files, other MediaErrors from `probe`); decoding starts
    at the first `next()`. A file damaged part way yields the frames that decode and logs a warning;
    CorruptMediaError when none decode. Closing the iterator early kills ffmpeg.
    """
    _check_frame_args(fps, size, start_s, max_s)
    info = info or probe(path)
    if not info.has_video:
        raise NoVideoStreamError(f"{info.name} has no video track (it is audio only)")
    return _frames(info, fps, size, start_s, max_s)


def _segments(frames: Iterator[tuple[float, np.ndarray]], fps: float, segment_s: float,
              size: int) -> Iterator[VideoSegment]:
    per_segment = max(1, int(round(segment_s * fps)))
    batch = np.empty((per_segment, size, size, 3), dtype=np.uint8)
    filled = 0
    first_index = 0  # index of the batch's first frame on the fps grid
    try:
        for _, frame in frames:
            batch[filled] = frame
            filled += 1
            if filled == per_segment:
                yield VideoSegment(first_index / fps, (first_index + filled) / fps, batch)
                batch = np.empty_like(batch)
                first_index += filled
                filled = 0
        if filled:  # a partial last window is kept: it ends where its frames stop
            yield VideoSegment(first_index / fps, (first_index + filled) / fps, batch[:filled].copy())
    finally:
        frames.close()  # stops ffmpeg at once when the consumer leaves early


def iter_segments(path: str | os.PathLike, fps: float = config.VIDEO_FPS, segment_s: float = config.WINDOW_S,
                  size: int = 224, max_s: float | None = None, *,
                  info: MediaInfo | None = None) -> Iterator[VideoSegment]:
    """Consecutive `segment_s` windows of frames from the start of the video.

    Each full segment holds round(segment_s * fps) frames; the last, partial one is kept when it has at
    least one frame (a 1-frame video yields one segment of one frame). Errors as for `iter_frames`.
    """
    if segment_s <= 0:
        raise ValueError(f"segment_s must be positive, got {segment_s}")
    frames = iter_frames(path, fps=fps, size=size, max_s=max_s, info=info)
    return _segments(frames, fps, segment_s, size)


T = TypeVar("T")
_END = object()


class ReadAhead(Iterator[T]):
    """`items` (a generator, e.g. iter_segments) produced by a thread up to `depth` items ahead of the consumer.

    Without it ffmpeg stalls on its 64 KiB pipe whenever the consumer computes, so decoding and the models
    take turns instead of sharing the cores. The thread starts at once (decoding overlaps whatever the caller
    does before its first `next`). The producer's errors are raised in the consumer where they occurred.
    Use as a context manager, or `close()` when leaving early: that stops the thread and closes `items`
    (killing ffmpeg); reaching the end or an error closes it too.
    """

    def __init__(self, items: Iterator[T], depth: int = 2):
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self._items = items
        self._box: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="vml-read-ahead", daemon=True)
        self._thread.start()

    def _put(self, entry) -> bool:
        while not self._stop.is_set():
            try:
                self._box.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._items:
                if not self._put((item, None)):
                    return
            self._put((_END, None))
        except BaseException as err:  # handed to the consumer, who raises it
            self._put((_END, err))
        finally:
            close = getattr(self._items, "close", None)  # generators have one, plain iterators not
            if close is not None:
                close()

    def __next__(self) -> T:
        if self._stop.is_set():
            raise StopIteration
        item, err = self._box.get()
        if item is _END:
            self.close()
            if err is not None:
                raise err
            raise StopIteration
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> "ReadAhead[T]":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
