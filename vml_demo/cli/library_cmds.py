"""Library commands: index a folder, describe an index, tag one audio file."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..settings import get_settings


def register(sub) -> None:
    p = sub.add_parser("index", help="index a folder of music (incremental, resumable)",
                       description="Decode every audio file under FOLDER, run the music encoders on 10 s windows "
                       "and store tags and embeddings in an SQLite + faiss index. Unchanged files are skipped; "
                       "broken files are reported and skipped.")
    p.add_argument("folder", help="folder with audio files (ogg, opus, mp3, wav, flac, m4a, ...), searched recursively")
    p.add_argument("--db", default=None, help=f"index folder to create or update (default: {get_settings().db_dir})")
    p.add_argument("--no-prune", action="store_true", help="keep tracks whose files have disappeared")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="decode and encode on Ray actors: a local Ray cluster, or the cluster at ADDRESS "
                   "(auto, ray://host:10001); music and index folders must be at the same paths on every node")
    p.add_argument("--workers", type=int, default=None, help="Ray actors (default: one per CPU, or per GPU)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("info", help="describe a library index", description="Tracks, hours, windows, encoders "
                       "and failed files of an index.")
    p.add_argument("--db", default=None, help=f"index folder (default: {get_settings().db_dir})")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("tag", help="tag one audio file", description="Top tags per vocabulary (MagnaTagATune, "
                       "Million Song Dataset, AudioSet) over the whole file, or with --labels zero-shot scores for "
                       "your own free-text labels from the music-text model.")
    p.add_argument("audio", help="an audio (or video) file")
    p.add_argument("--top", type=int, default=10, help="tags per vocabulary (default 10)")
    p.add_argument("--labels", default=None, help='comma-separated free-text labels, e.g. "jazz,rock,calm piano"')
    p.add_argument("--checkpoint", default=None, help="music-text space for --labels (default: VML_SPACE): auto, bridge, trained, ensemble or a checkpoint folder")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_tag)


def cmd_index(args: argparse.Namespace) -> int:
    from ..errors import LibraryError

    db = args.db or str(get_settings().db_dir)
    if args.workers is not None and args.workers < 1:
        raise LibraryError("--workers must be at least 1")
    started = time.perf_counter()
    if args.ray is not None:
        from ..library.ray_indexer import index_folder_ray

        report = index_folder_ray(args.folder, db, address=None if args.ray == "local" else args.ray,
                                  workers=args.workers, prune=not args.no_prune)
    else:
        from ..library.indexer import index_folder

        report = index_folder(args.folder, db, show_progress=not args.json, prune=not args.no_prune)
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps({**report.__dict__, "seconds": elapsed}, indent=2))
        return 0
    print(f"{report.summary()} in {elapsed:.1f} s -> {db}")
    for path, reason in report.failed:
        print(f"  skipped {path}: {reason}")
    for path, reason in report.rhythm_failed:
        print(f"  no rhythm for {path} (still searchable): {reason}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from ..library.store import LibraryStore

    db = Path(args.db or get_settings().db_dir)
    store = LibraryStore(db)
    info = {"db": str(db), **store.stats(), "encoders": {
        name: {"vocabulary": e["vocabulary"], "tags": len(e["labels"]), "embedding_dim": e["embedding_dim"]}
        for name, e in store.encoders().items()}, "failed": [{"path": p, "reason": r} for p, r in store.failures()],
        "rhythm_failed": [{"path": p, "reason": r} for p, r in store.rhythm_failures()]}
    store.close()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['db']}: {info['tracks']} tracks, {info['hours']:.2f} h, {info['windows']} windows of 10 s")
    for name, e in info["encoders"].items():
        print(f"  encoder {name}: {e['tags']} {e['vocabulary']} tags, {e['embedding_dim']}-d embedding")
    print(f"  rhythm (tempo, beats, bars): {info['rhythm_analysed']} tracks analysed, {info['rhythm_failed']} failed")
    for f in info["failed"]:
        print(f"  failed {f['path']}: {f['reason']}")
    for f in info["rhythm_failed"]:
        print(f"  no rhythm for {f['path']} (still searchable): {f['reason']}")
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    from .. import api

    if args.labels is not None:
        labels = [s.strip() for s in args.labels.split(",") if s.strip()]
        result = api.tag(args.audio, labels, space=args.checkpoint or get_settings().space)
        if args.json:
            print(json.dumps({"labels": result}, indent=2))
        else:
            for row in result:
                print(f"{row['score']:+.3f}  {row['label']}")
        return 0
    result = api.tag(args.audio, top=args.top)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for vocab, rows in result["vocabularies"].items():
        print(f"{vocab}: " + ", ".join(f"{r['tag']} {r['score']:.2f}" for r in rows))
    return 0
