"""`search`: rank library tracks for a description, a video, or both."""
from __future__ import annotations

import argparse
import json

from ..search.breakdown import fit_summary
from ..search.filters import LICENSE_CLASSES, SearchFilters, parse_range
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
                   help="music-text space (default: VML_SPACE, auto): auto (the best measured on dev: tag bridge, a "
                   "tower or their ensemble), bridge, trained (the default tower), ensemble, or a checkpoint folder")
    p.add_argument("--like", default=None, metavar="FILE",
                   help="more like this: an audio file, or a library file as results name it (the track itself is "
                   "not returned); with --text the words refine it: normalise(track + w x text)")
    p.add_argument("--bpm", default=None, metavar="LOW-HIGH", help="tempo range, e.g. 90-120 (needs tempo analysis)")
    vocals = p.add_mutually_exclusive_group()
    vocals.add_argument("--instrumental", dest="vocals", action="store_const", const="instrumental",
                        help="only tracks without vocals (by the taggers' vocal evidence)")
    vocals.add_argument("--vocals", dest="vocals", action="store_const", const="vocals", help="only tracks with vocals")
    p.add_argument("--license", default=None, choices=LICENSE_CLASSES,
                   help="this license class or a freer one (public-domain < permissive < attribution < share-alike "
                   "< non-commercial)")
    p.add_argument("--min-duration", type=float, default=None, metavar="S", help="shortest track, in seconds")
    p.add_argument("--max-duration", type=float, default=None, metavar="S", help="longest track, in seconds")
    p.add_argument("--no-prefer-instrumental", dest="prefer_instrumental", action="store_const", const=False,
                   default=None, help="do not lower tracks with vocals when the video has speech (on by default then)")
    p.add_argument("--prefer-instrumental", dest="prefer_instrumental", action="store_const", const=True,
                   help="lower tracks with vocals even without speech in the video")
    p.add_argument("--json", action="store_true", help="print one JSON object: {route, results: [...], ...}")
    p.set_defaults(func=cmd_search)


def cmd_search(args: argparse.Namespace) -> int:
    from .. import api

    filters = SearchFilters(bpm=parse_range(args.bpm), vocals=args.vocals, license=args.license,
                            min_duration_s=args.min_duration, max_duration_s=args.max_duration)
    video = args.video
    if video and args.like is None and 0.0 < args.video_weight <= 1.0:
        from ..search.video_query import PreparedVideo

        video = PreparedVideo(video)  # described while the library loads; results as with the plain path
    engine = api.load_library(args.db, space=args.space)
    response = engine.search(text=args.text, video=video, video_weight=args.video_weight, k=args.k,
                             filters=filters, like=args.like, prefer_instrumental=args.prefer_instrumental)
    if args.json:
        print(json.dumps(response.to_json(), indent=2))
        return 0
    print(f"[{response.route} search, space: {response.space}]")
    if response.video_description:
        print(f"video heard and seen as: {response.video_description}")
        for line in response.video_lines():
            print(f"  {line}")
    if response.like:
        print(f"like: {response.like['title']}" + (f" ({response.refine})" if response.refine else ""))
    if response.negated:
        print(f"avoiding: {', '.join(response.negated)}")
    if response.filter_report:
        print(f"filters: {'; '.join(response.filter_report)}")
    if response.prefer_instrumental:
        print("preferring instrumental tracks" + (" (the video has speech)" if response.speech_score else ""))
    for r in response.results:
        why = f"  matches: {', '.join(r.why)}" if r.why else ""
        bpm = f", {r.bpm:.0f} BPM" if r.bpm else ""
        print(f"{r.rank:>2}. {r.score:+.3f}  {r.title} - {r.artist or 'unknown artist'}  (from {r.start_s:.0f} s{bpm})")
        print(f"      tags: {', '.join(r.tags)}{why}")
        print(f"      why: {fit_summary(r.fit)}")
        print(f"      {r.path}  [{r.license}]")
    return 0

