"""Cold start of the app (issue: first page in under 20 s on a 2-core CPU with the bundled library).

Usage: python benchmarks/app_cold_start.py [--runs 3] [--in-place] [--out FILE]
Each run starts `python app.py` in a fresh subprocess on a free port and measures, from the moment the
process is spawned: (1) until the page answers (GET / returns 200), (2) until a first text search answers
through the API (this waits for the library and encoders to load), then the warm latency of a text search
and of a video + text search. Beside those: the first search counted from the page answering (what a visitor
who opened the page waits), and the app process's CPU seconds at both moments (less moved by other jobs on a
shared machine than wall time). By default the app runs on a temporary copy of the bundled index holding only
the files git tracks (as a fresh clone or a Space has them: derived files such as faiss indexes are rebuilt on
start), so the repository is not written to; --in-place uses assets/index itself, derived files and all.
--out writes the runs, medians and load average as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vml_demo import config
from vml_demo.app.server import free_port, start_app, stop_app, wait_until_up, writable_index_copy
from vml_demo.settings import get_settings

PAGE_BUDGET_S = 20.0
SAMPLE_VIDEO = config.SAMPLE_VIDEOS_DIR / "cockatoo.mp4"


def search(client, text: str, video: Path | None = None) -> dict:
    from gradio_client import handle_file

    _, payload = client.predict("bundled", handle_file(str(video)) if video else None, text, [], [], [], 0.5, 5,
                                api_name="/search")
    return payload  # the app's API returns the response as JSON


def keep_tracked_files_only(copy: Path, original: Path) -> None:
    """Delete from `copy` what git does not track in `original` (derived files), as in a fresh clone."""
    try:
        listed = subprocess.run(["git", "ls-files", "--", "."], cwd=original, capture_output=True, text=True,
                                check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        print("git unavailable: the copy keeps derived files", file=sys.stderr)
        return
    tracked = {Path(p) for p in listed}
    for path in sorted(copy.rglob("*"), reverse=True):
        rel = path.relative_to(copy)
        if path.is_symlink() or any(t == rel or rel in t.parents for t in tracked):
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (its threads), from /proc (Linux); NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


def one_run(index: Path, log_path: Path) -> dict:
    from gradio_client import Client

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {"VML_DB": str(index), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "VML_LIBRARIES_DIR": str(log_path.parent / "libraries")}
    started = time.perf_counter()
    proc = start_app(port, env=env, log_path=log_path)
    try:
        page_s = wait_until_up(url, proc, timeout_s=180)
        page_cpu_s = process_cpu_s(proc.pid)
        client = Client(url, verbose=False)
        response = search(client, "calm acoustic guitar")
        first_search_s = time.perf_counter() - started
        first_search_cpu_s = process_cpu_s(proc.pid)
        t0 = time.perf_counter()
        search(client, "energetic electronic dance")
        warm_text_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        video_response = search(client, "playful", SAMPLE_VIDEO)
        warm_video_s = time.perf_counter() - t0
    except Exception:  # the app's log goes with the temporary folder: show its end first
        stop_app(proc)
        print(log_path.read_text(errors="replace")[-4000:], file=sys.stderr)
        raise
    finally:
        stop_app(proc)
    return {"page_s": page_s, "first_search_s": first_search_s, "first_search_after_page_s": first_search_s - page_s,
            "page_cpu_s": page_cpu_s, "first_search_cpu_s": first_search_cpu_s, "warm_text_search_s": warm_text_s,
            "warm_video_search_s": warm_video_s, "results": len(response["results"]),
            "video_path": video_response["route"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--in-place", action="store_true", help="run on assets/index itself, not a copy")
    ap.add_argument("--out", type=Path, default=None, help="write the runs and medians as JSON here")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="vml-cold-start-") as tmp:
        work = Path(tmp)
        index = get_settings().db_dir
        runs = []
        for i in range(args.runs):
            if not args.in_place:  # every run starts as cold as a fresh clone
                shutil.rmtree(work / "index", ignore_errors=True)
                (work / "library").unlink(missing_ok=True)
                index = writable_index_copy(get_settings().db_dir, work / "index")
                keep_tracked_files_only(index, get_settings().db_dir)
            result = one_run(index, work / f"app{i}.log")
            runs.append(result)
            print(f"run {i + 1}: page {result['page_s']:.2f} s, first search {result['first_search_s']:.2f} s "
                  f"({result['first_search_after_page_s']:.2f} s after the page; app CPU {result['page_cpu_s']:.2f} / "
                  f"{result['first_search_cpu_s']:.2f} s), warm text search {result['warm_text_search_s']:.2f} s, "
                  f"warm video+text search {result['warm_video_search_s']:.2f} s ({result['results']} results, video "
                  f"path {result['video_path']}; load average {os.getloadavg()[0]:.2f})", flush=True)
    medians = {key: round(statistics.median(r[key] for r in runs), 3) for key in
               ("page_s", "first_search_s", "first_search_after_page_s", "page_cpu_s", "first_search_cpu_s",
                "warm_text_search_s", "warm_video_search_s")}
    page, first = medians["page_s"], medians["first_search_s"]
    print(f"\nmedian of {len(runs)} cold starts on {os.cpu_count()} CPUs: first page {page:.2f} s "
          f"(budget {PAGE_BUDGET_S:.0f} s: {'OK' if page < PAGE_BUDGET_S else 'OVER'}), first search {first:.2f} s "
          f"({medians['first_search_after_page_s']:.2f} s after the page), warm video+text search "
          f"{medians['warm_video_search_s']:.2f} s; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    if args.out:
        from cli_timing import run_meta

        doc = {**run_meta("app_cold_start"), "in_place": args.in_place,
               "goals_s": {"page_s": 5.0, "first_search_s": 3.0}, "page_budget_s": PAGE_BUDGET_S,
               "load_average_1min_before": round(load_before, 2), "load_average_1min_after": round(os.getloadavg()[0], 2),
               "medians": medians, "runs": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}
                                            for r in runs]}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
