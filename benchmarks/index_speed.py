"""Indexing speed, peak memory and index size on the bundled library (issue 13: >= 60x real time, < 2 GiB).

Usage: python benchmarks/index_speed.py [--folder assets/library] [--limit N] [--out results/index_speed.json]
Indexes into a fresh temporary folder, so it measures a cold, full index (model loading included and
reported separately). Prints the numbers; --out also writes them as JSON (README's speed table reads
results/index_speed.json).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from vml_demo import config


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", default=str(config.LIBRARY_AUDIO_DIR))
    ap.add_argument("--limit", type=int, default=0, help="index only the first N files (0 = all)")
    ap.add_argument("--out", type=Path, default=None, help="write the numbers here as JSON")
    args = ap.parse_args()

    from cli_timing import run_meta

    from vml_demo.encoders.profiles import music_encoders
    from vml_demo.library.indexer import find_audio_files, index_folder

    t0 = time.perf_counter()
    encoders = music_encoders()
    load_s = time.perf_counter() - t0

    work = Path(tempfile.mkdtemp(prefix="vml-bench-"))
    folder = Path(args.folder)
    if args.limit:
        src = folder
        folder = work / "subset"
        folder.mkdir()
        for rel in find_audio_files(src)[: args.limit]:
            shutil.copy(src / rel, folder / Path(rel).name)
    db = work / "db"
    meta = run_meta("index_speed")
    load_before = os.getloadavg()
    cpu0 = os.times()
    t1 = time.perf_counter()
    report = index_folder(folder, db, encoders=encoders)
    index_s = time.perf_counter() - t1
    cpu1 = os.times()
    # user + system of this process and its finished children (the ffmpeg decoders)
    cpu_s = sum(getattr(cpu1, f) - getattr(cpu0, f) for f in ("user", "system", "children_user", "children_system"))
    hours = report.audio_seconds / 3600
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
    size = folder_size(db)
    print(f"tracks indexed      {len(report.added)} ({len(report.failed)} failed)")
    print(f"audio               {report.audio_seconds / 60:.1f} min")
    print(f"model load          {load_s:.1f} s")
    print(f"indexing wall time  {index_s:.1f} s")
    print(f"speed               {report.audio_seconds / index_s:.1f}x real time (goal >= 60x)")
    print(f"cpu time            {cpu_s:.1f} s ({cpu_s / max(report.audio_seconds / 60, 1e-9):.2f} s per audio minute)")
    print(f"load average        {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after (1 min)")
    # (ffmpeg children are not counted: a forked child's maxrss includes the parent's pages before exec)
    print(f"peak memory         {peak_self:.2f} GiB (python process) (goal < 2 GiB)")
    print(f"index size          {size / 1024**2:.1f} MiB ({size / 1024**2 / max(hours, 1e-9):.1f} MiB per hour of music)")
    print(f"rhythm analysis     {report.rhythm_seconds:.1f} s ({report.rhythm_analysed} tracks; wall time in its thread)")
    print(f"cpu threads         {os.cpu_count()}")
    shutil.rmtree(work, ignore_errors=True)
    if args.out:
        out = {
            **meta,
            "tracks": len(report.added), "failed": len(report.failed), "audio_s": round(report.audio_seconds, 1),
            "model_load_s": round(load_s, 2), "index_wall_s": round(index_s, 2),
            "x_real_time": round(report.audio_seconds / index_s, 2), "cpu_s": round(cpu_s, 1),
            "cpu_s_per_audio_min": round(cpu_s / max(report.audio_seconds / 60, 1e-9), 3),
            "peak_rss_gib": round(peak_self, 3), "index_mib": round(size / 1024**2, 2),
            "rhythm_s": round(report.rhythm_seconds, 1), "rhythm_tracks": report.rhythm_analysed,
            "load_avg_before": round(load_before[0], 2), "load_avg_after": round(os.getloadavg()[0], 2),
            "limit": args.limit,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
