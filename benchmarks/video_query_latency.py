"""Video query latency (goals: a 30 s 720p video + text as a whole CLI process under 4 s, warm in-process
queries under 5 s; CPU, offline encoders).

Usage: python benchmarks/video_query_latency.py [--db assets/index] [--repeats 3] [--cold-runs 3] [--out FILE]
Generates a 30 s 1280x720 test video with a soundtrack (ffmpeg's testsrc2 + a sine), then times cold
`python -m vml_demo search --video ... --text ...` processes (wall and CPU, ffmpeg included), and warm
engine.search(video=..., text=...) calls in this process with the split between decoding, encoding and search
(the stages overlap: each is its own seconds, video_total the wall time); the ratio of warm to cold is printed.
--out writes the numbers (with the load average) as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def make_video(path: Path, seconds: int = 30) -> Path:
    from vml_demo.media.ffmpeg import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}", "-c:v", "libx264", "-preset", "veryfast",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)], check=True, timeout=300)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cold-runs", type=int, default=3, help="whole CLI processes to time (0: skip)")
    ap.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")
    args = ap.parse_args()
    from vml_demo.search.engine import SearchEngine

    from cli_timing import run_meta

    doc: dict = {**run_meta("video_query_latency"), "video": "30 s 1280x720 testsrc2 + sine", "goal_cold_cli_s": 4.0}

    with tempfile.TemporaryDirectory() as tmp:
        video = make_video(Path(tmp) / "720p_30s.mp4")
        cold = None
        if args.cold_runs:
            from cli_timing import cli_summary, report_cli, time_cli

            query = ["search", "--video", str(video), "--text", "upbeat electronic", "--video-weight", "0.6", "--k", "5"]
            query += ["--db", args.db] if args.db else []
            time_cli(query)  # derived files of the library, if missing, are written once (not what we time)
            runs = [time_cli(query) for _ in range(args.cold_runs)]
            cold = report_cli("cold CLI: 30 s 720p video + text, whole process", runs, goal_s=4.0)
            doc["cold_cli"] = cli_summary(runs)
        t = time.perf_counter()
        engine = SearchEngine(args.db)
        print(f"engine load (once per process): {time.perf_counter() - t:.2f} s")
        engine.search(text="warm up", k=5)
        walls, splits = [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            response = engine.search(text="upbeat electronic", video=video, video_weight=0.6, k=5)
            walls.append(time.perf_counter() - t)
            splits.append(response.timings)
        print(f"30 s 720p video + text, {args.repeats} runs: median {statistics.median(walls):.2f} s "
              f"(min {min(walls):.2f}, max {max(walls):.2f}); goal < 5 s")
        stages = {key: round(statistics.median(s[key] for s in splits), 3) for key in splits[0]}
        for key, seconds in stages.items():
            print(f"  {key:<22} {seconds:.3f} s")
        print(f"  video described as: {response.video_description!r}")
        if cold:
            print(f"  ratio warm in-process / cold process: {statistics.median(walls) / cold:.2f}")
    doc["warm_in_process"] = {"wall_s_median": round(statistics.median(walls), 3), "wall_s_min": round(min(walls), 3),
                              "wall_s_max": round(max(walls), 3), "stages_s_median": stages}
    doc["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
