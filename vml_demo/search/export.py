"""The export bundle of one video + track: the muxed mp4, the track's attribution and license as text (a
CC-BY-SA track set to video is an adaptation that must carry them), a JSON with the fit (track, offset,
BPM, cut alignment, pieces, notes) and a CMX 3600 EDL of the music pieces for an editor.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..library.rhythm import Rhythm
from .fitted_preview import make_fitted_preview

EDL_FPS_DEFAULT = 25


@dataclass
class TrackInfo:
    file: str  # the name shown (relative to its library, or the file's name)
    title: str
    artist: str
    license: str
    attribution: str
    duration_s: float


def _timecode(seconds: float, fps: int) -> str:
    frames = int(round(max(0.0, seconds) * fps))
    return f"{frames // (3600 * fps):02d}:{frames // (60 * fps) % 60:02d}:{frames // fps % 60:02d}:{frames % fps:02d}"


def edl_text(title: str, clip_name: str, pieces, fps: int) -> str:
    """CMX 3600: one audio event per piece (source in/out in the track, record in/out on the video)."""
    lines = [f"TITLE: {title}", "FCM: NON-DROP FRAME", ""]
    for i, p in enumerate(pieces, start=1):
        length = p.src_end_s - p.src_start_s
        lines.append(f"{i:03d}  AX       AA    C        {_timecode(p.src_start_s, fps)} {_timecode(p.src_end_s, fps)} "
                     f"{_timecode(p.dst_start_s, fps)} {_timecode(p.dst_start_s + length, fps)}")
        lines.append(f"* FROM CLIP NAME: {clip_name}")
    return "\n".join(lines) + "\n"


def license_text(track: TrackInfo) -> str:
    return (f"Music: {track.title} by {track.artist or 'unknown artist'} ({track.file})\n"
            f"License: {track.license or 'not stated: check before publishing'}\n"
            f"Attribution: {track.attribution or track.artist or 'none given'}\n\n"
            "This video uses the track above. Setting music to video makes an adaptation: if the license asks for\n"
            "attribution or share-alike (e.g. CC BY, CC BY-SA), publish this notice with the video under those terms.\n")


def write_bundle_files(out_dir: Path, stem: str, video_path: str | os.PathLike, track: TrackInfo, plan,
                       edit, mp4_name: str) -> dict:
    """LICENSE.txt, the EDL and fit.json beside the muxed mp4 in `out_dir`; returns the fit JSON."""
    from ..media.probe import probe

    (out_dir / "LICENSE.txt").write_text(license_text(track), encoding="utf-8")
    fps = int(round(probe(video_path).fps or EDL_FPS_DEFAULT))
    (out_dir / f"{stem}.edl").write_text(edl_text(stem, Path(track.file).name, plan.pieces, fps), encoding="utf-8")
    fit = {"video": Path(video_path).name, "track": track.__dict__, "fit": plan.to_json(), "video_edit": edit.to_json(),
           "files": {"video": mp4_name, "license": "LICENSE.txt", "edl": f"{stem}.edl", "fit": "fit.json"}}
    (out_dir / "fit.json").write_text(json.dumps(fit, indent=2), encoding="utf-8")
    return fit


def export_bundle(video_path: str | os.PathLike, track_path: str | os.PathLike, track: TrackInfo,
                  rhythm: Rhythm | None, best_s: float, out_dir: str | os.PathLike, *, duck: bool | None = None,
                  keep_original_db: float | None = None, max_s: float | None = None) -> dict:
    """Write the bundle into `out_dir`; return the fit JSON (also written as fit.json) with the file names."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{Path(video_path).stem}+{Path(track.file).stem}"
    mp4 = out / f"{stem}.mp4"
    plan, edit = make_fitted_preview(video_path, track_path, rhythm, best_s, track.duration_s, mp4, duck=duck,
                                     keep_original_db=keep_original_db, max_s=max_s)
    return write_bundle_files(out, stem, video_path, track, plan, edit, mp4.name)
