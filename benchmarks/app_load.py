"""Load on the app: N concurrent clients each search with a video and wait for their previews.

Usage: python benchmarks/app_load.py [--clients 8 16] [--results 2] [--deadline-s 480] [--json out.json]
Starts `python app.py` on 127.0.0.1 (a free port) on a temporary copy of the bundled index with its own temp
dir, so nothing outside that folder is written; stops it at the end (or at the deadline). For each client
count, every client (its own gradio_client session) uploads a sample video under a name of its own, runs
/search (video + text), /results (excerpts) and /previews (muxed videos) as the browser chain does, and the
benchmark checks that all complete without error and that each client got only files made from its own
video and its session folder holds nothing of anyone else's. Prints p50/p95 latency per stage and the
largest queue position a client saw (the app answers CONCURRENCY events at once; the rest wait in the queue).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from vml_demo import config
from vml_demo.settings import get_settings
from vml_demo.app.server import free_port, start_app, stop_app, wait_until_up, writable_index_copy

VIDEOS = ["bunny_animation.mp4", "city_night.mp4", "cockatoo.mp4", "pedestrians.mp4", "rocket_launch.mp4",
          "underwater.mp4"]
TEXTS = ["calm piano", "energetic rock drums", "dreamy ambient synthesizer", "happy acoustic guitar",
         "dark orchestral strings", "playful chiptune"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def wait_job(job, deadline: float) -> tuple[list, int]:
    """Wait for a gradio_client job; (all its outputs, the largest queue position it reported)."""
    worst_rank = 0
    while not job.done():
        if time.monotonic() > deadline:
            job.cancel()
            raise TimeoutError("past the benchmark's deadline")
        status = job.status()
        worst_rank = max(worst_rank, int(getattr(status, "rank", 0) or 0))
        time.sleep(0.1)
    job.result()  # raises the app's error, if any
    return job.outputs(), worst_rank


def one_client(url: str, i: int, uploads: Path, results: int, deadline: float) -> dict:
    from gradio_client import Client, handle_file

    name = f"client{i:02d}"
    video = uploads / f"{name}.mp4"
    shutil.copyfile(config.SAMPLE_VIDEOS_DIR / VIDEOS[i % len(VIDEOS)], video)
    out = {"client": name, "error": None}
    started = time.perf_counter()
    stage = "connect"
    try:
        client = Client(url, verbose=False, download_files=False)
        stage = "search"
        t0 = time.perf_counter()
        _, rank = wait_job(client.submit("bundled", handle_file(str(video)), TEXTS[i % len(TEXTS)], [], [], [],
                                         0.5, results, api_name="/search"), deadline)
        out["search_s"], out["queue_rank"] = time.perf_counter() - t0, rank
        stage = "results"
        t0 = time.perf_counter()
        slots, rank = wait_job(client.submit("genre", api_name="/results"), deadline)
        out["results_s"], out["queue_rank"] = time.perf_counter() - t0, max(out["queue_rank"], rank)
        stage = "previews"
        t0 = time.perf_counter()
        previews, rank = wait_job(client.submit(False, -12, api_name="/previews"), deadline)
        out["previews_s"], out["queue_rank"] = time.perf_counter() - t0, max(out["queue_rank"], rank)
        files = [v for update in [*slots, *previews] for v in (update if isinstance(update, (list, tuple))
                                                              else [update])
                 if isinstance(v, dict) and v.get("path")]
        out["previews"] = sorted({Path(f["path"]).name for f in files if f["path"].endswith(".mp4")})
        out["excerpts"] = sorted({Path(f["path"]).name for f in files if f["path"].endswith(".mp3")})
    except Exception as err:  # noqa: BLE001 - reported per client
        out["error"] = f"{stage}: {type(err).__name__}: {err}"
    out["total_s"] = time.perf_counter() - started
    return out


def isolation_problems(runs: list[dict], sessions_root: Path, results: int) -> list[str]:
    problems = []
    for r in runs:
        if r["error"]:
            continue
        if len(r["previews"]) != results or len(r["excerpts"]) != results:
            problems.append(f"{r['client']}: {len(r['previews'])} previews, {len(r['excerpts'])} excerpts")
        foreign = [p for p in r["previews"] if not p.startswith(r["client"] + "+")]
        if foreign:
            problems.append(f"{r['client']} was handed previews of another video: {foreign}")
    for folder in sessions_root.iterdir() if sessions_root.exists() else []:
        owners = {p.name.split("+")[0] for p in folder.rglob("*.mp4")}
        if len(owners) > 1:
            problems.append(f"session folder {folder.name} holds files of {sorted(owners)}")
    return problems


def load_round(url: str, n: int, work: Path, results: int, deadline: float) -> dict:
    uploads = work / f"uploads{n}"
    uploads.mkdir()
    runs: list[dict] = [{}] * n
    started = time.perf_counter()

    def run(i):
        runs[i] = one_client(url, i, uploads, results, deadline)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, deadline - time.monotonic() + 30))
    wall = time.perf_counter() - started
    done = [r for r in runs if r and not r.get("error")]
    summary = {"clients": n, "completed": len(done), "errors": [r.get("error") for r in runs if r.get("error")],
               "wall_s": round(wall, 2), "max_queue_rank": max((r.get("queue_rank", 0) for r in done), default=0),
               "isolation_problems": isolation_problems([r for r in runs if r], work / "tmp" / "vml_demo_sessions",
                                                         results)}
    for stage in ("search_s", "results_s", "previews_s", "total_s"):
        values = [r[stage] for r in done if stage in r]
        summary[stage] = {"p50": round(percentile(values, 0.5), 2), "p95": round(percentile(values, 0.95), 2),
                          "max": round(max(values), 2) if values else None}
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, nargs="+", default=[8, 16])
    ap.add_argument("--results", type=int, default=2, help="results (excerpts and previews) per search")
    ap.add_argument("--deadline-s", type=float, default=480.0, help="stop everything after this long")
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args()
    deadline = time.monotonic() + args.deadline_s

    with tempfile.TemporaryDirectory(prefix="vml-app-load-") as tmp:
        work = Path(tmp)
        (work / "tmp").mkdir()
        index = writable_index_copy(get_settings().db_dir, work / "index")
        port = free_port()
        env = {"VML_DB": str(index), "VML_LIBRARIES_DIR": str(work / "libraries"), "TMPDIR": str(work / "tmp"),
               "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        proc = start_app(port, env=env, log_path=work / "app.log")  # binds 127.0.0.1 only
        url = f"http://127.0.0.1:{port}/"
        rounds = []
        try:
            up_s = wait_until_up(url, proc, timeout_s=180)
            print(f"app up in {up_s:.1f} s on {os.cpu_count()} CPUs", flush=True)
            # One warm-up search, so the first round does not measure loading the encoders.
            one_client(url, 99, work, 1, deadline)
            for n in args.clients:
                r = load_round(url, n, work, args.results, deadline)
                rounds.append(r)
                print(json.dumps(r), flush=True)
                print(f"{n} clients: {r['completed']}/{n} completed in {r['wall_s']:.1f} s, "
                      f"total per client p50 {r['total_s']['p50']} s / p95 {r['total_s']['p95']} s "
                      f"(search p50 {r['search_s']['p50']} s, p95 {r['search_s']['p95']} s), "
                      f"largest queue position {r['max_queue_rank']}, errors {len(r['errors'])}, "
                      f"isolation problems {len(r['isolation_problems'])}, server up: {proc.poll() is None}",
                      flush=True)
        finally:
            stop_app(proc)
    if args.json:
        Path(args.json).write_text(json.dumps({"cpus": os.cpu_count(), "rounds": rounds}, indent=1))


if __name__ == "__main__":
    main()
