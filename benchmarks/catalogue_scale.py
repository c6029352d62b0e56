"""Text search at catalogue scale: the product's ranking (vml_demo/search/ranking.py) over a simulated catalogue.

Measures the build time of stage 1 (IVF-PQ over 4-window chunk means), query latency p50/p95 (plain and
with two negations), memory (resident anonymous and file-backed, and the peak), and recall@10 of the
two-stage ranking against exact scoring of every window, on a sample of queries.

Simulation. Windows are 384-d unit vectors shaped like real ones: a fixed random map lifts points of a
24-d latent "music" space to 384-d, plus isotropic noise. Each track belongs to one of --genres clusters
(its latent centre is the genre's plus a track offset), and its windows follow the track through time:
a slow random walk from the track's centre (sections differ, neighbours stay alike) plus per-window
variation. Lengths are uniform in [20, 52] windows, mean 36 (a 3-minute track at 10 s windows, hop 5 s),
so 1M tracks are ~36M windows. Text queries and negated phrases are latent points (a genre centre plus
noise) lifted the same way. Limits: a Gaussian latent space is more regular than real embeddings (no
hubs, no near-duplicate tracks, no exact repeats), and the queries come from the same distribution as
the music, so real recall can differ; the simulation measures the index's cost and the loss of the
approximate first stage, not search quality.

Storage. Tracks are generated in blocks (each from its own seed) straight into a float16 memory map
(runs/catalogue_scale/, 768 bytes a window: 27.6 GB at 1M tracks); the ranker reads it through the
memory map block by block, so resident memory holds the compressed index and the candidates only.
Usage: python benchmarks/catalogue_scale.py [--tracks 1000000] [--queries 20] [--keep] [--json results/catalogue_scale_1m.json]
       add --keep --reuse --index-cache runs/catalogue_scale to measure queries again without simulating or building
       python benchmarks/catalogue_scale.py --tabulate results/catalogue_scale_*m.json   (the README table)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

from vml_demo.search import ranking
from vml_demo.search.ranking import Ranker

BLOCK_TRACKS = 20_000


class Catalogue:
    """The simulated catalogue's generator: track lengths, genre of each track, the latent-to-window map."""

    def __init__(self, n_tracks: int, dim: int, latent: int, genres: int, seed: int):
        rng = np.random.default_rng(seed)
        self.dim, self.latent, self.seed = dim, latent, seed
        self.lift = (rng.standard_normal((latent, dim)) / np.sqrt(latent)).astype(np.float32)
        self.genre_centers = rng.standard_normal((genres, latent)).astype(np.float32)
        self.genre = rng.integers(0, genres, n_tracks)
        self.lengths = rng.integers(20, 53, n_tracks)
        self.bounds = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)

    def block(self, a: int, b: int) -> np.ndarray:
        """Unit window vectors of tracks [a, b), in track order (float32)."""
        rng = np.random.default_rng([self.seed, a])
        lengths = self.lengths[a:b]
        n = int(lengths.sum())
        centers = self.genre_centers[self.genre[a:b]] + 0.8 * rng.standard_normal((b - a, self.latent), np.float32)
        first = np.cumsum(lengths) - lengths
        steps = 0.15 * rng.standard_normal((n, self.latent), np.float32)
        steps[first] = 0.0
        walk = np.cumsum(steps, axis=0)
        walk -= np.repeat(walk[first], lengths, axis=0)  # each track's walk starts at its centre
        z = np.repeat(centers, lengths, axis=0) + walk + 0.2 * rng.standard_normal((n, self.latent), np.float32)
        # isotropic noise, uniform with unit variance (much faster to draw than normal at this size)
        w = z @ self.lift + (0.5 * np.sqrt(3.0)) * (2.0 * rng.random((n, self.dim), np.float32) - 1.0)
        return w / np.linalg.norm(w, axis=1, keepdims=True)

    def phrases(self, count: int, seed: int) -> np.ndarray:
        r = np.random.default_rng([self.seed, 10**9 + seed])
        z = self.genre_centers[r.integers(0, len(self.genre_centers), count)] + 0.8 * r.standard_normal((count, self.latent))
        v = z.astype(np.float32) @ self.lift + 0.5 * r.standard_normal((count, self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def memory() -> dict:
    """Resident memory of this process in GiB: anonymous (heap, the index), file-backed (pages of the
    memory map currently held; the kernel may drop them) and the peak of the two together."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile", "VmHWM"):
            fields[key] = int(value.split()[0]) / 2**20
    return {"anon_gib": fields.get("RssAnon"), "file_gib": fields.get("RssFile"), "peak_gib": fields.get("VmHWM")}


class AnonPeak(threading.Thread):
    """Samples RssAnon every 0.2 s: the peak of memory the process owns (VmHWM also counts memory-map pages,
    which the kernel drops under pressure, so at 1M tracks it says how much page cache there was)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak = 0.0

    def run(self):
        while True:
            self.peak = max(self.peak, memory()["anon_gib"] or 0.0)
            time.sleep(0.2)


T0 = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - T0:7.0f} s, load {os.getloadavg()[0]:.1f}] {message}", flush=True)


class Timers:
    """Seconds spent in IVF-PQ training and adding (wrapped around library/vectors.py's two calls)."""

    def __init__(self):
        from vml_demo.library import vectors

        self.train_s = self.add_s = 0.0
        compressed, add = vectors.VectorIndex.compressed.__func__, vectors.VectorIndex.add

        def timed_compressed(cls, *a, **kw):
            t = time.perf_counter()
            try:
                return compressed(cls, *a, **kw)
            finally:
                self.train_s += time.perf_counter() - t
                log(f"IVF-PQ trained in {self.train_s:.0f} s")

        def timed_add(index, *a, **kw):
            t = time.perf_counter()
            try:
                return add(index, *a, **kw)
            finally:
                self.add_s += time.perf_counter() - t
                log(f"added {len(index)} chunk vectors ({self.add_s:.0f} s adding so far)")

        vectors.VectorIndex.compressed = classmethod(timed_compressed)
        vectors.VectorIndex.add = timed_add


def timed(fn, items) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for item in items:
        t, c = time.perf_counter(), time.process_time()
        fn(item)
        wall.append(1000 * (time.perf_counter() - t))
        cpu.append(1000 * (time.process_time() - c))
    return wall, cpu


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def table_row(result: dict, source: str) -> dict:
    """The README row of one run (results/catalogue_scale.json `rows`, rendered by evaluation/tables.py)."""
    lat, params = result["latency_ms"], result.get("index_params", {})
    return {"tracks": result["tracks"], "windows": result["windows"], "stage 1": result["index"],
            "nlist/nprobe": f"{params['nlist']}/{params['nprobe']}" if params else "",
            "build s": round(result["build_s"]), "p50 ms": round(lat["p50"]), "p95 ms": round(lat["p95"]),
            "cpu p50 ms": round(lat["cpu_p50"]), "neg. p50 ms": round(lat["negations_p50"]),
            "neg. p95 ms": round(lat["negations_p95"]), "recall@10": f"{result['recall@10']:.3f}",
            "recall@10 neg.": f"{result['recall@10_negations']:.3f}",
            "anon GiB querying": round(result["memory_queries"]["anon_gib"], 2),
            "anon GiB peak": round(result["anon_peak_gib"], 2), "index GiB": round(result["index_gib"], 2),
            "load avg": f"{result['load_average_1min_start']:.0f}-{result['load_average_1min_end']:.0f}",
            "file": source}


def tabulate(sources: list[str], table: str) -> None:
    """Rewrites `table` with one row per full result file (newest run of each size wins)."""
    rows = {}
    for source in sources:
        result = json.loads(Path(source).read_text())
        rows[result["tracks"]] = table_row(result, source)
    doc = {"command": "python benchmarks/catalogue_scale.py --tabulate " + " ".join(sources),
           "rows": [rows[t] for t in sorted(rows)]}
    Path(table).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {table}")


def _stage1_files(folder: str, windows_path: Path) -> tuple[Path, Path, Path]:
    base = Path(folder) / windows_path.stem
    return base.with_suffix(".faiss"), base.with_suffix(".chunks.npy"), base.with_suffix(".build.json")


def save_stage1(folder: str, windows_path: Path, index, chunk_track: np.ndarray, result: dict) -> None:
    """The stage-1 index of this memory map, with its chunk map and build figures (--index-cache)."""
    import faiss

    Path(folder).mkdir(parents=True, exist_ok=True)
    index_file, chunks_file, meta_file = _stage1_files(folder, windows_path)
    faiss.write_index(index.index, str(index_file))
    np.save(chunks_file, chunk_track)
    meta = {k: result[k] for k in ("build_s", "build_train_s", "build_add_s", "load_average_1min_start")}
    meta.update(built=time.strftime("%Y-%m-%d"), windows_mtime=windows_path.stat().st_mtime)
    meta_file.write_text(json.dumps(meta, indent=1))


def load_stage1(folder: str, windows_path: Path, ranker: Ranker) -> dict | None:
    """Build figures of a saved stage 1 made over this very memory map (same file, unchanged), which the
    ranker then uses; None when there is none."""
    from vml_demo.library.vectors import VectorIndex

    index_file, chunks_file, meta_file = _stage1_files(folder, windows_path)
    if not meta_file.exists():
        return None
    meta = json.loads(meta_file.read_text())
    if meta.get("windows_mtime") != windows_path.stat().st_mtime:
        return None
    import faiss

    ranker.use_stage1(VectorIndex.from_faiss(faiss.read_index(str(index_file))), np.load(chunks_file))
    return {k: meta[k] for k in ("build_s", "build_train_s", "build_add_s", "built")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--latent", type=int, default=24)
    ap.add_argument("--genres", type=int, default=300)
    ap.add_argument("--queries", type=int, default=20, help="plain queries (exact ground truth for each)")
    ap.add_argument("--neg-queries", type=int, default=10, help="queries with two negated phrases")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", default="runs/catalogue_scale", help="where the memory-mapped windows go")
    ap.add_argument("--keep", action="store_true", help="keep the memory map afterwards (default: delete it)")
    ap.add_argument("--reuse", action="store_true", help="use the memory map a --keep run left (same --tracks, --seed)")
    ap.add_argument("--index-cache", metavar="DIR", help="save stage 1 here once built and load it on later --reuse "
                    "runs of the same catalogue instead of building it again (its build figures are the saved ones)")
    ap.add_argument("--json", default="benchmarks/out/catalogue_scale.json")
    ap.add_argument("--tabulate", nargs="+", metavar="JSON", help="only write --table from these result files")
    ap.add_argument("--table", default="results/catalogue_scale.json", help="README table of the runs (--tabulate)")
    args = ap.parse_args()
    if args.tabulate:
        return tabulate(args.tabulate, args.table)
    peak = AnonPeak()
    peak.start()
    timers = Timers()
    out_dir = Path(args.dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cat = Catalogue(args.tracks, args.dim, args.latent, args.genres, args.seed)
    n = int(cat.bounds[-1])
    need = n * args.dim * 2
    free = shutil.disk_usage(out_dir).free
    if need > 0.8 * free:
        raise SystemExit(f"error: the memory map needs {need / 2**30:.1f} GiB, {free / 2**30:.1f} GiB free in {out_dir}")
    path = out_dir / f"windows_{args.tracks}_{args.dim}_{args.seed}_f16.npy"
    result = {"command": "python " + " ".join(sys.argv),
              "cpu_count": os.cpu_count(), "load_average_1min_start": os.getloadavg()[0],
              "tracks": args.tracks, "windows": n, "dim": args.dim, "memmap_gib": need / 2**30}
    try:
        t = time.perf_counter()
        done_marker = path.with_suffix(".complete")
        if args.reuse and done_marker.exists():  # a --keep run left the same catalogue (same tracks and seed)
            log(f"reusing {path}")
        else:
            done_marker.unlink(missing_ok=True)
            mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, args.dim))
            for a in range(0, args.tracks, BLOCK_TRACKS):
                b = min(args.tracks, a + BLOCK_TRACKS)
                mm[cat.bounds[a]:cat.bounds[b]] = cat.block(a, b)
                if (a // BLOCK_TRACKS) % 10 == 9:
                    log(f"simulated {b} tracks")
            mm.flush()
            del mm
            done_marker.write_text(str(args.seed))
            result["simulate_s"] = time.perf_counter() - t
            log(f"simulated {args.tracks} tracks, {n} windows x {args.dim}-d into a float16 memory map "
                f"({need / 2**30:.2f} GiB) in {result['simulate_s']:.0f} s")

        result["anon_peak_simulation_gib"] = peak.peak  # the generator's temporaries, not the index's
        peak.peak = 0.0
        windows = np.load(path, mmap_mode="r")
        ids = np.arange(args.tracks, dtype=np.int64)
        slices = {i: slice(int(cat.bounds[i]), int(cat.bounds[i + 1])) for i in range(args.tracks)}
        ranker = Ranker(windows, ids, slices)
        cached = load_stage1(args.index_cache, path, ranker) if args.reuse and args.index_cache else None
        if cached:
            result.update(cached, stage1_from=args.index_cache)
            index, chunk_track = ranker.stage1()
            log(f"stage 1 loaded from {args.index_cache} (built in {cached['build_s']:.0f} s on {cached['built']})")
        else:
            t = time.perf_counter()
            index, chunk_track = ranker.stage1()
            result["build_s"] = time.perf_counter() - t
            result["build_train_s"], result["build_add_s"] = timers.train_s, timers.add_s
            if args.index_cache:
                save_stage1(args.index_cache, path, index, chunk_track, result)
        ivf = index.index
        import faiss

        index_bytes = int(faiss.serialize_index(ivf).nbytes)
        kind = type(ivf).__name__
        params = ({"nlist": int(ivf.nlist), "m": int(ivf.pq.M), "nbits": int(ivf.pq.nbits), "nprobe": int(ivf.nprobe)}
                  if kind == "IndexIVFPQ" else {})
        result.update(index=kind, index_params=params, chunks=len(chunk_track), index_gib=index_bytes / 2**30,
                      exact=ranker.exact, memory_after_build=memory())
        log(f"stage 1: {kind} {params} over {len(chunk_track)} chunk vectors, {index_bytes / 2**30:.2f} GiB, "
              f"built in {result['build_s']:.0f} s (train + add, {os.cpu_count()} threads)")
        t = time.perf_counter()
        ranker.neg_track_mean()  # the negation baseline: one pass, once per library
        result["negation_baseline_s"] = time.perf_counter() - t
        log(f"negation baseline (one pass over the windows) in {result['negation_baseline_s']:.0f} s")

        stage1_ms = []  # faiss's share of each query; the rest is reading and scoring the candidates' windows
        search = index.search

        def timed_search(*a, **kw):
            t = time.perf_counter()
            try:
                return search(*a, **kw)
            finally:
                stage1_ms.append(1000 * (time.perf_counter() - t))

        index.search = timed_search
        queries = cat.phrases(args.queries, 1)
        negs = [cat.phrases(2, 100 + i) for i in range(args.neg_queries)]
        neg_q = cat.phrases(args.neg_queries, 2)
        ranker.rank(queries[0], 10)  # warm: faiss and the first pages
        stage1_ms.clear()
        wall, cpu = timed(lambda q: ranker.rank(q, 10), queries)
        plain_stage1 = list(stage1_ms)
        stage1_ms.clear()
        wall_n, cpu_n = timed(lambda i: ranker.rank(neg_q[i], 10, negs[i]), range(args.neg_queries))
        neg_stage1 = list(stage1_ms)
        index.search = search
        result["memory_queries"] = memory()
        result["latency_ms"] = {"p50": pct(wall, 50), "p95": pct(wall, 95), "cpu_p50": pct(cpu, 50), "cpu_p95": pct(cpu, 95),
                                "negations_p50": pct(wall_n, 50), "negations_p95": pct(wall_n, 95),
                                "negations_cpu_p50": pct(cpu_n, 50),
                                "stage1_p50": pct(plain_stage1, 50), "negations_stage1_p50": pct(neg_stage1, 50)}
        two = [[r.track_id for r in ranker.rank(q, 10)] for q in queries]
        two_n = [[r.track_id for r in ranker.rank(neg_q[i], 10, negs[i])] for i in range(args.neg_queries)]
        log(f"two-stage queries done; exact ground truth: one pass over all {n} windows for every query")
        t = time.perf_counter()
        truth = ranker.rank_exact_many([(q, None) for q in queries] + [(neg_q[i], negs[i]) for i in range(args.neg_queries)], 10)
        exact = [[r.track_id for r in found] for found in truth[:args.queries]]
        exact_n = [[r.track_id for r in found] for found in truth[args.queries:]]
        result["exact_pass_s"] = time.perf_counter() - t
        exact_s = result["exact_pass_s"] / max(1, args.queries + args.neg_queries)
        def recall(a, b):
            return float(np.mean([len(set(x) & set(y)) / 10 for x, y in zip(a, b)])) if a else float("nan")

        result.update({"recall@10": recall(exact, two), "recall@10_negations": recall(exact_n, two_n),
                       "exact_s_per_query": exact_s, "queries": args.queries, "neg_queries": args.neg_queries,
                       "candidate_tracks": ranking.CANDIDATE_TRACKS, "memory_end": memory(),
                       "anon_peak_gib": peak.peak,
                       "load_average_1min_end": os.getloadavg()[0]})
        lat = result["latency_ms"]
        m = result["memory_queries"]
        print(f"query latency (two-stage, k=10, {args.queries} queries): p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms "
              f"(cpu p50 {lat['cpu_p50']:.0f} ms); with two negations p50 {lat['negations_p50']:.0f} ms, "
              f"p95 {lat['negations_p95']:.0f} ms; stage 1 (faiss) p50 {lat['stage1_p50']:.0f} ms, "
              f"{lat['negations_stage1_p50']:.0f} ms with negations")
        print(f"recall@10 against exact scoring of all {n} windows: {result['recall@10']:.3f} "
              f"({result['recall@10_negations']:.3f} with two negations; exact: {exact_s:.1f} s a query)")
        print(f"memory while querying: {m['anon_gib']:.2f} GiB anonymous + {m['file_gib']:.2f} GiB of memory-mapped "
              f"pages; peak anonymous {peak.peak:.2f} GiB (the process's own memory, index build included, after the simulation), peak resident "
              f"{result['memory_end']['peak_gib']:.2f} GiB (with memory-map pages: the exact ground-truth pass "
              "touches the whole map)")
        per_m = 1e6 / args.tracks
        print(f"per million tracks: index {result['index_gib'] * per_m:.2f} GiB, float16 windows on disk "
              f"{need / 2**30 * per_m:.1f} GiB")
        print(f"(load average {result['load_average_1min_start']:.1f} at start, {result['load_average_1min_end']:.1f} "
              f"at the end, {os.cpu_count()} CPUs: latencies on a shared machine are upper bounds)")
    finally:
        if not args.keep and path.exists():
            path.unlink()
            path.with_suffix(".complete").unlink(missing_ok=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
