"""Text-search latency: warm queries on the bundled library (goal < 100 ms) and on a simulated
100k-track library (goal < 300 ms).

Usage: python benchmarks/search_latency.py [--db assets/index] [--tracks 100000] [--windows-per-track 8]

The simulated library reuses the real ranking code (faiss over track vectors, exact window scoring of
the candidates, negation penalties) on random unit vectors of the real space's dimension; it measures
the index and ranking cost, the text encoding cost is measured on the real library.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

QUERIES = [
    "calm acoustic guitar, nostalgic",
    "energetic rock with distorted guitar, no vocals",
    "dreamy ambient synth pads, slow",
    "epic orchestral battle music",
    "happy upbeat chiptune",
    "dark mysterious piano",
    "relaxing jazz without drums",
    "fast electronic dance",
]


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def report(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    print(f"{name:<44} median {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   (n={len(ms)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=None)
    ap.add_argument("--tracks", type=int, default=100_000)
    ap.add_argument("--windows-per-track", type=int, default=8)
    args = ap.parse_args()

    import faiss  # noqa: F401

    from vml_demo.search.engine import SearchEngine
    from vml_demo.search.ranking import Ranker

    t = time.perf_counter()
    engine = SearchEngine(args.db)
    print(f"engine load: {time.perf_counter() - t:.2f} s ({engine.status()['tracks']} tracks, space {engine.space.key})")
    for q in QUERIES:  # warm up: text encoder caches, faiss, numpy
        engine.search(text=q, k=10)
    fresh = [f"{q} {i}" for i in range(3) for q in QUERIES]
    report("bundled library, text search (new text)", timed(lambda it=iter(fresh): engine.search(text=next(it), k=10), len(fresh)))
    report("bundled library, text search (repeat)", timed(lambda it=iter(QUERIES * 3): engine.search(text=next(it), k=10), len(QUERIES) * 3))

    dim = engine.ranker.window_emb.shape[1]
    rng = np.random.default_rng(0)
    n_win = args.tracks * args.windows_per_track
    print(f"simulating {args.tracks} tracks x {args.windows_per_track} windows, {dim}-d ({n_win * dim * 4 / 2**30:.2f} GiB)")
    windows = rng.standard_normal((n_win, dim), dtype=np.float32)
    windows /= np.linalg.norm(windows, axis=1, keepdims=True)
    ids = np.arange(args.tracks, dtype=np.int64)
    slices = {int(i): slice(int(i) * args.windows_per_track, (int(i) + 1) * args.windows_per_track) for i in ids}
    t = time.perf_counter()
    ranker = Ranker(windows, ids, slices)
    print(f"simulated index build: {time.perf_counter() - t:.1f} s")
    queries = engine.space.embed_text(QUERIES)
    negs = engine.space.embed_text(["vocals", "drums"])
    ranker.rank(queries[0], 10)
    report("100k tracks, ranking (query vector given)", timed(lambda it=iter(list(queries) * 3): ranker.rank(next(it), 10), 24))
    report("100k tracks, ranking with 2 negations", timed(lambda it=iter(list(queries) * 3): ranker.rank(next(it), 10, negs), 24))
    enc = timed(lambda it=iter([f"{q} take {i}" for i in range(3) for q in QUERIES]): engine.space.embed_text([next(it)]), 24)
    report("text encoding alone (new text)", enc)
    print(f"=> 100k-track text search estimate: {statistics.median(enc):.1f} + ranking (above) ms")


if __name__ == "__main__":
    main()
