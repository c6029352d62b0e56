"""Media files made per result: a short audio excerpt from the best-matching offset, and the muxed video,
fitted to the edit (search/fitted_preview.py: downbeats on the cuts, a bar ending, bar loops, ducking under
speech; the video's cuts and speech are read once per search).

The excerpt starts at the result's `start_s`, so the player starts where the match is (a browser player
cannot be told reliably to start mid-file). Both go into the session's search folder (see sessions.py).
"""
from __future__ import annotations

import logging
from pathlib import Path

from ..media.ffmpeg import media_error_from_stderr, run_ffmpeg, seconds_arg
from .sessions import safe_name

log = logging.getLogger(__name__)

EXCERPT_S = 30.0
EXCERPT_FADE_S = 1.0
EXCERPT_TIMEOUT_S = 60.0
PREVIEW_MAX_S = 60.0  # previews of long videos cover their first minute, so a search stays interactive
DEFAULT_ORIGINAL_DB = -12.0


def excerpt_path(folder: Path, rank: int, title: str) -> Path:
    return folder / f"{rank:02d}_{safe_name(title, 'track', 40)}.mp3"


def cut_excerpt(track_path: str | Path, start_s: float, out_path: Path, *, seconds: float = EXCERPT_S,
                duration_s: float | None = None) -> Path:
    """An mp3 of `seconds` of the track from `start_s`, with short fades; returns its path."""
    length = seconds if duration_s is None else max(1.0, min(seconds, duration_s - start_s))
    fade_out_at = max(0.0, length - EXCERPT_FADE_S)
    args = ["-v", "error", "-y", "-ss", seconds_arg(start_s), "-t", seconds_arg(length), "-i", str(track_path),
            "-vn", "-af", f"afade=t=in:d=0.3,afade=t=out:st={fade_out_at:.3f}:d={EXCERPT_FADE_S}",
            "-c:a", "libmp3lame", "-q:a", "4", str(out_path)]
    result = run_ffmpeg(args, EXCERPT_TIMEOUT_S, path_for_errors=track_path)
    if result.returncode != 0 or not out_path.exists() or out_path.stat().st_size == 0:
        out_path.unlink(missing_ok=True)
        raise media_error_from_stderr(track_path, result.stderr)
    return out_path


def preview_path(folder: Path, video_name: str, rank: int, title: str) -> Path:
    """A name that says what the download is: '<video> + <track>.mp4' (ranked, so names never collide)."""
    return folder / f"{safe_name(Path(video_name).stem, 'video', 30)}+{rank:02d}_{safe_name(title, 'track', 40)}.mp4"


def make_preview(video_path: str | Path, track_path: str | Path, start_s: float, track_s: float, rhythm,
                 out_path: Path, keep_original_db: float | None, edit=None):
    """The video with the track fitted to it from near `start_s` (levelled, faded on a bar, ducked under speech),
    its own sound optionally kept underneath; returns the fit plan (offset, alignment, notes)."""
    from ..search.fitted_preview import make_fitted_preview

    plan, _ = make_fitted_preview(video_path, track_path, rhythm, max(0.0, start_s), track_s, out_path, edit=edit,
                                  keep_original_db=keep_original_db, max_s=PREVIEW_MAX_S)
    return plan


def export_zip(preview: Path, video_path: str | Path, result, plan, edit) -> Path:
    """A zip beside the preview: the mp4, LICENSE.txt (the track's credit and license), fit.json and the EDL."""
    import tempfile
    import zipfile

    from ..search.export import TrackInfo, write_bundle_files

    track = TrackInfo(result.file, result.title, result.artist, result.license, result.attribution, result.duration_s)
    out = preview.with_suffix(".zip")
    with tempfile.TemporaryDirectory(prefix=".bundle-", dir=preview.parent) as tmp:
        write_bundle_files(Path(tmp), preview.stem, video_path, track, plan, edit, preview.name)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(preview, preview.name)
            for f in sorted(Path(tmp).iterdir()):
                zf.write(f, f.name)
    return out


def analyse_video(video_path: str | Path):
    """Cuts and speech of the first PREVIEW_MAX_S of the video, shared by all of a search's previews."""
    from ..search.fitted_preview import analyse_video as analyse

    return analyse(video_path, max_s=PREVIEW_MAX_S)
