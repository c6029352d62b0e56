"""Whole-process timing of `python -m vml_demo ...` for the cold-start benchmarks: wall and CPU seconds.

CPU seconds (user + system of the process and its children, e.g. ffmpeg) are reported beside wall time
because on a shared machine load inflates wall time far more than CPU time.
"""
from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time

from vml_demo import config


def time_cli(args: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall s, CPU s) of one `python -m vml_demo ARGS` run from the repository root; fails loudly on error."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "vml_demo", *args], cwd=config.REPO_ROOT, capture_output=True,
                          text=True, env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}, timeout=600)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"`vml_demo {' '.join(args)}` failed: {done.stderr.strip()[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_meta(benchmark: str) -> dict:
    """What the README's speed table names beside each figure: the benchmark, its exact command, when, which code,
    how many CPUs, and the 1-minute load average at its start."""
    import datetime as dt

    from vml_demo.model.checkpoint import code_version

    return {"benchmark": benchmark, "command": " ".join(["python", *sys.argv]),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "code_version": code_version(),
            "cpus": os.cpu_count(), "load_average_1min_before": round(os.getloadavg()[0], 2)}


def cli_summary(runs: list[tuple[float, float]]) -> dict:
    """Median wall and CPU seconds of the runs, each run, and the 1-minute load average now (for the JSON)."""
    return {"wall_s_median": round(statistics.median(r[0] for r in runs), 3),
            "cpu_s_median": round(statistics.median(r[1] for r in runs), 3),
            "runs": [{"wall_s": round(w, 3), "cpu_s": round(c, 3)} for w, c in runs],
            "load_average_1min": round(os.getloadavg()[0], 2)}


def report_cli(name: str, runs: list[tuple[float, float]], goal_s: float | None = None) -> float:
    """Print median wall and CPU of the runs with the load average; return the median wall."""
    summary = cli_summary(runs)
    goal = f"; goal < {goal_s:g} s" if goal_s else ""
    print(f"{name:<52} median {summary['wall_s_median']:6.2f} s wall, {summary['cpu_s_median']:5.2f} s CPU "
          f"(n={len(runs)}, load average {summary['load_average_1min']:.2f}{goal})")
    return summary["wall_s_median"]
