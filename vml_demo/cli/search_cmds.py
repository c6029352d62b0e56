"""`search`: rank library tracks for a description, a video, or both."""
from __future__ import annotations

import argparse
import json

from ..settings import get_settings


def register(sub) -> None:
    p = sub.add_parser(
        "search", help="find music for a description and/or a video",
        description="Rank the library's tracks for a text description (negations such as 'no vocals' are "
        "avoided, not matched), a video, or both fused (ViML's add fusion weighted by --video-weight).",
    )
    p.add_argument("--db", default=None, help=f"library index folder (default: {get_settings().db_dir})")
    p.add_argument("--text", default=None, help='what the music should be like, e.g. "calm acoustic guitar, no drums"')
    p.add_argument("--video", default=None, help="a video file (mp4, mov, webm, mkv, avi, ...)")
    p.add_argument("--video-weight", type=float, default=0.5,
                   help="weight of the video against the text, 0 (text only) .. 1 (video only); default 0.5")
    p.add_argument("--k", type=int, default=10, help="number of tracks to return (default 10)")
    p.add_argument("--space", default=None,
                   help="music-text space: bridge (default, or VML_SPACE), trained (the shipped tower), auto (the tower "
                   "when it fits the encoders, else bridge), or a checkpoint folder")
    p.add_argument("--json", action="store_true", help="print one JSON object: {route, results: [...], ...}")
    p.set_defaults(func=cmd_search)


def cmd_search(args: argparse.Namespace) -> int:
    from .. import api

    engine = api.load_library(args.db, space=args.space)
    response = engine.search(text=args.text, video=args.video, video_weight=args.video_weight, k=args.k)
    if args.json:
        print(json.dumps(response.to_json(), indent=2))
        return 0
    print(f"[{response.route} search, space: {response.space}]")
    if response.video_description:
        print(f"video heard and seen as: {response.video_description}")
        for line in response.video_lines():
            print(f"  {line}")
    if response.negated:
        print(f"avoiding: {', '.join(response.negated)}")
    for r in response.results:
        why = f"  matches: {', '.join(r.why)}" if r.why else ""
        print(f"{r.rank:>2}. {r.score:+.3f}  {r.title} - {r.artist or 'unknown artist'}  (from {r.start_s:.0f} s)")
        print(f"      tags: {', '.join(r.tags)}{why}")
        print(f"      {r.path}  [{r.license}]")
    return 0
