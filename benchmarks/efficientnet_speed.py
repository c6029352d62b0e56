"""EfficientNet-Lite0 on this CPU: load time (first export and cached), time per frame, memory.

Prints one block of numbers; the machine's load average before and after is printed beside them, since
timings on a shared machine move with it. Usage: python benchmarks/efficientnet_speed.py [--frames 64]
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mib() -> float:
    return float(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=64, help="frames per timing run")
    ap.add_argument("--video", default="assets/videos/cockatoo.mp4", help="frames are taken from this video")
    args = ap.parse_args()
    from vml_demo.encoders.efficientnet import EfficientNetLite0
    from vml_demo.media.video import iter_frames

    frames = np.stack([f for _, f in iter_frames(args.video, fps=6.0, size=224)][: args.frames])
    load_before = os.getloadavg()
    rss0 = rss_mib()
    with tempfile.TemporaryDirectory() as cache:
        t = time.perf_counter()
        EfficientNetLite0(cache_dir=Path(cache))  # torch load + ONNX export + session
        first_s = time.perf_counter() - t
        t = time.perf_counter()
        model = EfficientNetLite0(cache_dir=Path(cache))  # cached ONNX (keyed on the weight file, no torch)
        cached_s = time.perf_counter() - t
    rss_loaded = rss_mib()
    model.run(frames[:2])  # warm-up
    t = time.perf_counter()
    for f in frames:
        model.run(f[None])
    one_ms = (time.perf_counter() - t) / len(frames) * 1000
    t = time.perf_counter()
    model.run(frames)
    batch_ms = (time.perf_counter() - t) / len(frames) * 1000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"frames              {len(frames)} of {args.video} at 224 px")
    print(f"load, first run     {first_s:.2f} s (torch weights + ONNX export + onnxruntime session)")
    print(f"load, cached        {cached_s:.2f} s (cached ONNX, no torch)")
    print(f"per frame, batch 1  {one_ms:.1f} ms")
    print(f"per frame, batch 16 {batch_ms:.1f} ms (2 fps of video: {batch_ms * 2 / 1000:.3f} s per video second)")
    print(f"memory              +{rss_loaded - rss0:.0f} MiB resident after loading, process peak {peak:.0f} MiB")
    print(f"load average        {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after (1 min)")


if __name__ == "__main__":
    main()
