"""Text-search latency: a cold CLI process (goal < 2 s), warm queries on the bundled library (goal < 100 ms)
and on a simulated 100k-track library (goal < 300 ms).

Usage: python benchmarks/search_latency.py [--db assets/index] [--tracks 100000] [--windows-per-track 8] [--cold-runs 3]
                                          [--cold-only] [--out results/search_latency.json]

Cold: `python -m vml_demo search --text "calm piano"` as a whole process, first on a copy of the index without
its derived files (what the first search after indexing pays: the term matrix is computed and cached), then
with them (every later process), and the ratio of the two.

The simulated library reuses the real ranking code (faiss over track vectors, exact window scoring of
the candidates, negation penalties) on random unit vectors of the real space's dimension; it measures
the index and ranking cost, the text encoding cost is measured on the real library.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

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


def cold_cli(db: str | None, runs: int) -> dict:
    import shutil
    import tempfile

    from cli_timing import cli_summary, report_cli, time_cli
    from vml_demo.library.vectors import VECTOR_DIR
    from vml_demo.settings import get_settings

    source = Path(db) if db else get_settings().db_dir
    query = ["search", "--text", "calm piano", "--k", "10"]
    with tempfile.TemporaryDirectory(prefix="vml-cold-search-") as tmp:
        first = []
        for i in range(runs):  # a fresh copy without derived files each time
            copy = Path(tmp) / f"index{i}"
            shutil.copytree(source, copy, ignore=shutil.ignore_patterns(VECTOR_DIR, "ratings.sqlite*"))
            first.append(time_cli([*query, "--db", str(copy)]))
        later = [time_cli([*query, "--db", str(copy)]) for _ in range(runs)]  # the last copy, now with its cache
    before = report_cli("cold CLI text search, no derived files yet", first)
    after = report_cli("cold CLI text search, derived files cached", later, goal_s=2.0)
    print(f"  ratio cached / uncached: {after / before:.2f}")
    return {"query": " ".join(query), "goal_cold_cli_s": 2.0,
            "cold_cli_uncached": cli_summary(first), "cold_cli_cached": cli_summary(later)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=None)
    ap.add_argument("--tracks", type=int, default=100_000)
    ap.add_argument("--windows-per-track", type=int, default=8)
    ap.add_argument("--cold-runs", type=int, default=3, help="cold CLI processes per case (0: skip)")
    ap.add_argument("--cold-only", action="store_true", help="only the cold CLI processes")
    ap.add_argument("--out", type=Path, default=None, help="write the cold CLI figures here as JSON")
    args = ap.parse_args()
    if args.cold_runs:
        from cli_timing import run_meta

        doc = {**run_meta("search_latency"), **cold_cli(args.db, args.cold_runs)}
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(doc, indent=2) + "\n")
            print(f"wrote {args.out}")
    if args.cold_only:
        return

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
