"""Ray indexing throughput (vml_demo/library/ray_indexer.py) with 1 and 2 local workers.

Usage: python benchmarks/ray_index.py [--folder assets/library] [--limit 12] [--workers 1,2]
Starts one local Ray cluster, then for each worker count indexes the same files into a fresh folder with
the real music encoders and prints x real time (audio seconds / wall seconds). The wall time includes
starting the actors and loading the encoders in each (which a long run amortises), not starting Ray;
the encoders' own thread settings are left as they are, so 2 workers on 2 cores oversubscribe a little.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from vml_demo import config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", default=str(config.LIBRARY_AUDIO_DIR))
    ap.add_argument("--limit", type=int, default=12, help="index the first N files (0 = all)")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--json", default="benchmarks/out/ray_index.json")
    args = ap.parse_args()

    import ray

    from vml_demo.library.indexer import find_audio_files
    from vml_demo.library.ray_indexer import index_folder_ray

    counts = [int(w) for w in args.workers.split(",")]
    work = Path(tempfile.mkdtemp(prefix="vml-ray-bench-"))
    src = Path(args.folder)
    folder = work / "music"
    folder.mkdir()
    files = find_audio_files(src)
    for rel in files[: args.limit] if args.limit else files:
        shutil.copy(src / rel, folder / Path(rel).name)
    t = time.perf_counter()
    for attempt in range(3):  # a loaded machine can miss Ray's node start-up deadline
        try:
            ray.init(num_cpus=max(counts), include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"PYTHONPATH": os.getcwd()}})
            break
        except Exception as err:  # noqa: BLE001 (ray raises plain Exception here)
            print(f"ray start attempt {attempt + 1} failed: {str(err).splitlines()[0]}")
            ray.shutdown()
    else:
        raise SystemExit("error: Ray did not start")
    out = {"command": "python benchmarks/ray_index.py" + (f" --limit {args.limit}" if args.limit != 12 else ""),
           "cpu_count": os.cpu_count(), "ray_start_s": time.perf_counter() - t, "runs": []}
    print(f"local Ray cluster with {max(counts)} CPUs started in {out['ray_start_s']:.1f} s; "
          f"{len(list(folder.iterdir()))} files from {src}")
    try:
        for n in counts:
            load = os.getloadavg()[0]
            t = time.perf_counter()
            report = index_folder_ray(folder, work / f"db{n}", workers=n)
            wall = time.perf_counter() - t
            row = {"workers": n, "tracks": len(report.added), "failed": len(report.failed),
                   "audio_s": report.audio_seconds, "wall_s": wall, "x_real_time": report.audio_seconds / wall,
                   "load_average_1min_before": load, "load_average_1min_after": os.getloadavg()[0]}
            out["runs"].append(row)
            print(f"{n} worker(s): {row['tracks']} tracks, {report.audio_seconds / 60:.1f} min of audio in {wall:.1f} s "
                  f"= {row['x_real_time']:.1f}x real time (load average {load:.1f} before, "
                  f"{row['load_average_1min_after']:.1f} after)")
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
