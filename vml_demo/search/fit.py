"""Fit a track to a video's edit: the music offset that lands downbeats on the cuts, and the timeline.

- Alignment score of an offset: the share of the video's cuts that fall within CUT_TOLERANCE_S (80 ms) of
  a beat, and of a downbeat, of the music playing at that moment (through loops too).
- Offset: candidates put one of the track's downbeats on one of the cuts (or on the video's first frame),
  within SEARCH_RADIUS_S of the best-matching window's start (so the music is still the part that matched);
  the best downbeat share wins, then the beat share, then the nearest to the best window. Without cuts the
  music starts on the bar nearest the best window.
- Timeline: the music ends on the last bar boundary inside the video with a short fade ending there; a
  track too short for the video loops from its last bar back to its first with a crossfade, placed so the
  bar grid runs on unbroken. A video shorter than one bar just fades out at its end.
Every choice that could not be made as asked is said in `notes`, which the app and the export show.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..library.rhythm import Rhythm
from ..media.bed import Piece

CUT_TOLERANCE_S = 0.08
SEARCH_RADIUS_S = 8.0
CROSSFADE_S = 0.3
FADE_IN_S = 0.05  # a click guard: the music starts on a bar, it should hit there
MAX_FADE_OUT_S = 1.5
MAX_LOOPS = 200


@dataclass
class Alignment:
    cuts: int
    beat_share: float | None  # None when the video has no cuts (nothing to align)
    downbeat_share: float | None

    def describe(self) -> str:
        if not self.cuts:
            return "no cuts to align"
        return (f"{self.downbeat_share:.0%} of {self.cuts} cuts on a downbeat, {self.beat_share:.0%} on a beat "
                f"(within {CUT_TOLERANCE_S * 1000:.0f} ms)")


@dataclass
class FitPlan:
    offset_s: float  # where in the track the music starts
    best_window_s: float  # the search's best-matching window start
    bpm: float | None
    chosen: Alignment  # alignment at offset_s
    plain: Alignment  # alignment at best_window_s (the plain offset), for comparison
    pieces: list[Piece]
    music_end_s: float  # where the music has faded out, on the video's timeline
    fade_out_s: float
    loops: int
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        d = asdict(self)
        d["pieces"] = [asdict(p) for p in self.pieces]
        return d


def _near(times: np.ndarray, grid: np.ndarray, tol: float) -> np.ndarray:
    if len(grid) == 0 or len(times) == 0:
        return np.zeros(len(times), bool)
    idx = np.clip(np.searchsorted(grid, times), 1, len(grid) - 1) if len(grid) > 1 else np.zeros(len(times), int)
    nearest = np.minimum(np.abs(grid[idx] - times), np.abs(grid[np.maximum(idx - 1, 0)] - times))
    return nearest <= tol + 1e-9


def source_times(pieces: list[Piece], video_times: np.ndarray) -> np.ndarray:
    """Track time playing at each video time (the latest piece that has started wins, as after a crossfade)."""
    out = np.full(len(video_times), np.nan)
    for p in pieces:
        inside = (video_times >= p.dst_start_s + p.fade_in_s - 1e-9) & \
                 (video_times < p.dst_start_s + (p.src_end_s - p.src_start_s))
        out[inside] = p.src_start_s + video_times[inside] - p.dst_start_s
    return out


def alignment(cuts: np.ndarray, rhythm: Rhythm | None, pieces: list[Piece],
              tol: float = CUT_TOLERANCE_S) -> Alignment:
    cuts = np.asarray(cuts, float)
    if len(cuts) == 0:
        return Alignment(0, None, None)
    if rhythm is None or not rhythm.bpm:
        return Alignment(len(cuts), 0.0, 0.0)
    src = source_times(pieces, cuts)
    ok = ~np.isnan(src)
    on_beat = np.zeros(len(cuts), bool)
    on_bar = np.zeros(len(cuts), bool)
    on_beat[ok] = _near(src[ok], rhythm.beats, tol)
    on_bar[ok] = _near(src[ok], rhythm.downbeats, tol)
    return Alignment(len(cuts), round(float(on_beat.mean()), 4), round(float(on_bar.mean()), 4))


def _loop_points(rhythm: Rhythm | None, track_s: float) -> tuple[float, float]:
    """(loop in, loop out) in track time: the first and last bar starts, or the whole track without bars."""
    bars = rhythm.downbeats if rhythm is not None and rhythm.bpm else np.zeros(0)
    bars = bars[(bars >= CROSSFADE_S) & (bars <= track_s - 0.05)]
    if len(bars) >= 2 and bars[-1] - bars[0] > 4 * CROSSFADE_S:
        return float(bars[0]), float(bars[-1])
    return CROSSFADE_S, track_s


def timeline(rhythm: Rhythm | None, track_s: float, offset_s: float, video_s: float) -> tuple[list[Piece], list[str]]:
    """Pieces of the track covering `video_s` from `offset_s`, looped at bars when the track runs out."""
    notes: list[str] = []
    if offset_s + video_s <= track_s:
        return [Piece(offset_s, offset_s + video_s, 0.0)], notes
    loop_in, loop_out = _loop_points(rhythm, track_s)
    if offset_s >= loop_out:
        offset_s = loop_in
    if loop_out == track_s:
        notes.append("no bars found: the track loops from its end with a crossfade, not on a bar")
    pieces = [Piece(offset_s, loop_out, 0.0, fade_out_s=CROSSFADE_S)]
    dst = loop_out - offset_s
    while dst < video_s and len(pieces) < MAX_LOOPS:
        # Starts CROSSFADE_S before loop_in, so loop_in plays exactly where the last piece reached loop_out.
        pieces.append(Piece(loop_in - CROSSFADE_S, loop_out, dst - CROSSFADE_S, fade_in_s=CROSSFADE_S,
                            fade_out_s=CROSSFADE_S))
        dst += loop_out - loop_in
    pieces[-1].fade_out_s = 0.0
    notes.append(f"the track is shorter than the video: looped {len(pieces) - 1} time(s) at bar boundaries "
                 f"with a {CROSSFADE_S:g} s crossfade")
    return pieces, notes


def _video_bars(rhythm: Rhythm | None, pieces: list[Piece], video_s: float) -> np.ndarray:
    """Bar starts on the video's timeline."""
    if rhythm is None or not rhythm.bpm:
        return np.zeros(0)
    out = []
    for p in pieces:
        d = rhythm.downbeats[(rhythm.downbeats >= p.src_start_s + p.fade_in_s) & (rhythm.downbeats < p.src_end_s)]
        out.extend(p.dst_start_s + d - p.src_start_s)
    bars = np.array(sorted(out))
    return bars[(bars > 0.0) & (bars <= video_s + 1e-6)]


def choose_offset(cuts: np.ndarray, rhythm: Rhythm | None, best_s: float, track_s: float,
                  video_s: float) -> tuple[float, list[str]]:
    if rhythm is None or not rhythm.bpm or len(rhythm.downbeats) == 0:
        return best_s, ["no beat found in the track: the music starts at the best-matching window"]
    lo, hi = max(0.0, best_s - SEARCH_RADIUS_S), best_s + SEARCH_RADIUS_S
    bars = rhythm.downbeats[(rhythm.downbeats >= lo) & (rhythm.downbeats <= hi + video_s)]
    if len(cuts) == 0:
        near = bars[bars <= hi]
        if not len(near):
            return best_s, ["no bar start near the best-matching window: the music starts there"]
        return float(near[np.argmin(np.abs(near - best_s))]), [
            "the video has no cuts: the music starts on the bar nearest the best-matching window"]
    anchors = np.concatenate([[0.0], np.asarray(cuts, float)])
    candidates = {round(float(d - a), 4) for d in bars for a in anchors if lo <= d - a <= hi and d - a < track_s}
    if not candidates:
        return best_s, ["no bar start near the best-matching window: the music starts there"]

    def score(offset: float):
        pieces, _ = timeline(rhythm, track_s, offset, video_s)
        a = alignment(cuts, rhythm, pieces)
        return (a.downbeat_share, a.beat_share, -abs(offset - best_s))

    return max(sorted(candidates), key=score), []


def plan_fit(cuts: np.ndarray, rhythm: Rhythm | None, best_s: float, track_s: float, video_s: float) -> FitPlan:
    """The whole fit of one track to one video (see the module docstring)."""
    best_s = float(min(max(0.0, best_s), max(0.0, track_s - 0.05)))
    offset, notes = choose_offset(cuts, rhythm, best_s, track_s, video_s)
    pieces, loop_notes = timeline(rhythm, track_s, offset, video_s)
    plain_pieces, _ = timeline(rhythm, track_s, best_s, video_s)
    notes += loop_notes
    bars = _video_bars(rhythm, pieces, video_s)
    bar_s = rhythm.bar_s if rhythm is not None else None
    if len(bars) and bar_s and bars[-1] >= min(bar_s, video_s) - 1e-6:
        end = float(bars[-1])
        notes.append(f"the music ends on the bar at {end:.2f} s")
    else:
        end = video_s
        notes.append("the video is shorter than one bar: the music fades out at its end" if bar_s
                     else "no bars: the music fades out at the video's end")
    fade = min(MAX_FADE_OUT_S, (bar_s or 2.0) / 2.0, end / 2.0)
    return FitPlan(offset_s=round(offset, 4), best_window_s=round(best_s, 4), bpm=rhythm.bpm if rhythm else None,
                   chosen=alignment(cuts, rhythm, pieces), plain=alignment(cuts, rhythm, plain_pieces),
                   pieces=pieces, music_end_s=round(end, 4), fade_out_s=round(fade, 4), loops=len(pieces) - 1,
                   notes=notes)
