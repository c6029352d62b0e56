"""`preview`: fit one track to a video's edit and export the bundle (mp4, license text, fit JSON, EDL)."""
from __future__ import annotations

import argparse
import json

from ..settings import get_settings


def register(sub) -> None:
    p = sub.add_parser(
        "preview", help="fit a track to a video (cuts on downbeats, ducking) and export it",
        description="Mux the video with the track, its offset chosen near the best-matching window so downbeats "
        "land on the video's cuts, ending on a bar, looped at bars when short, ducked under speech; write the mp4, "
        "LICENSE.txt (the track's attribution and license), fit.json and an EDL into --out.",
    )
    p.add_argument("video", help="the video file")
    p.add_argument("--track", required=True, help="a track of the library (its file name there) or any audio file")
    p.add_argument("--out", required=True, help="folder for the export bundle (created)")
    p.add_argument("--db", default=None, help=f"library index folder (default: {get_settings().db_dir})")
    p.add_argument("--start", type=float, default=None,
                   help="where the match is in the track, s (default: its best window for this video)")
    p.add_argument("--no-duck", action="store_true", help="do not lower the music under speech")
    p.add_argument("--original-db", type=float, default=None,
                   help="mix the video's own sound in at this level, dB (default: left out)")
    p.add_argument("--max-s", type=float, default=None, help="preview only the first seconds of the video")
    p.add_argument("--json", action="store_true", help="print fit.json")
    p.set_defaults(func=cmd_preview)


def cmd_preview(args: argparse.Namespace) -> int:
    from .. import api
    from ..errors import QueryError

    if args.start is not None and args.start < 0:
        raise QueryError("--start must be 0 or more seconds")
    library = api.load_library(args.db)
    fit = library.export_preview(args.video, args.track, args.out, start_s=args.start,
                                 duck=False if args.no_duck else None, keep_original_db=args.original_db,
                                 max_s=args.max_s)
    if args.json:
        print(json.dumps(fit, indent=2))
        return 0
    plan = fit["fit"]
    bpm = f"{plan['bpm']:.1f} BPM" if plan["bpm"] else "no tempo"
    print(f"{fit['files']['video']}: {fit['track']['title']} from {plan['offset_s']:.2f} s ({bpm}; "
          f"best window {plan['best_window_s']:.2f} s)")
    for key, label in (("chosen", "chosen offset"), ("plain", "best-window offset")):
        a = plan[key]
        if a["cuts"]:
            print(f"  {label}: {a['downbeat_share']:.0%} of {a['cuts']} cuts on a downbeat, {a['beat_share']:.0%} on a beat")
    for note in plan["notes"]:
        print(f"  - {note}")
    print(f"  wrote {', '.join(fit['files'].values())} to {args.out}")
    return 0
