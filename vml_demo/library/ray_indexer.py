"""`index FOLDER --ray [ADDRESS]`: decoding and encoding as Ray actors, merged into the same library.

The driver plans the run exactly as the single-process indexer does (indexer.plan_index: unchanged files
and known failures skipped, a changed encoder set clears the root) and owns the SQLite store. Each Ray
actor loads the encoders once, then decodes and analyses the files it is handed and writes each result
as a shard file in its own folder (`<db>/shards/<worker>/<content hash>-<encoder set hash>.npz`, written
to a temp name and renamed, so a shard is whole or absent). The driver merges every finished shard with
indexer.store_track (one SQLite transaction a track, as without Ray) and then deletes it. So a crash
loses nothing that was merged, and a rerun is incremental like any other; shards a crashed run left
behind are merged on the next run without encoding those files again.

A local Ray cluster is started unless an address is given (`auto` or `ray://host:10001`, ...). On a
cluster the music folder and the index folder must be visible at the same paths on every node (a shared
file system), since actors read the audio and write shards there. When the cluster has GPUs each actor
takes one and the encoders run on it (VML_DEVICE=auto).
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import LibraryError, MediaError
from ..media.files import write_atomically
from .indexer import (IndexReport, ProgressFn, analyze_track, decode_track, encoder_descriptions, finish_index,
                      plan_index, store_track)
from .store import LibraryStore

log = logging.getLogger(__name__)

SHARD_DIR = "shards"


def _encoder_key(encoder_set: str) -> str:
    return hashlib.sha256(encoder_set.encode()).hexdigest()[:12]


def _shard_name(digest: str, encoder_set: str) -> str:
    return f"{digest}-{_encoder_key(encoder_set)}.npz"


def write_shard(path: Path, result) -> None:
    """One analysed track (duration, spans, vectors) or its failure message, atomically."""
    arrays = {}
    if isinstance(result, MediaError):
        arrays["failure"] = np.array(str(result))
    else:
        duration_s, spans, vectors = result
        arrays["duration_s"] = np.array(duration_s, np.float64)
        arrays["spans"] = np.asarray(spans, np.float64).reshape(-1, 2)
        for i, ((enc, kind), arr) in enumerate(sorted(vectors.items())):
            arrays[f"v{i}"] = np.asarray(arr, np.float32)
            arrays[f"k{i}"] = np.array([enc, kind])
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_atomically(path, lambda tmp: Path(tmp).write_bytes(buf.getvalue()))


def read_shard(path: Path):
    """What write_shard wrote: (duration, spans, vectors) or a MediaError with the recorded message."""
    with np.load(path, allow_pickle=False) as z:
        if "failure" in z:
            return MediaError(str(z["failure"]))
        spans = [(float(a), float(b)) for a, b in z["spans"]]
        vectors = {}
        i = 0
        while f"v{i}" in z:
            enc, kind = (str(x) for x in z[f"k{i}"])
            vectors[(enc, kind)] = z[f"v{i}"]
            i += 1
        return float(z["duration_s"]), spans, vectors


class ShardWorker:
    """The work of one Ray actor: encoders loaded once, one file at a time into this worker's shard folder."""

    def __init__(self, make_encoders: Callable, shard_dir: str, worker: int):
        self.encoders = make_encoders()
        self.shard_dir = Path(shard_dir) / f"worker-{worker}"

    def describe(self):
        return encoder_descriptions(self.encoders)

    def encode(self, path: str, digest: str, encoder_set: str) -> str:
        try:
            duration_s, blocks = decode_track(Path(path))
            spans, vectors = analyze_track(blocks, duration_s, self.encoders)
            result = (duration_s, spans, vectors)
        except MediaError as err:
            result = err
        target = self.shard_dir / _shard_name(digest, encoder_set)
        write_shard(target, result)
        return str(target)


def _default_encoders():
    from ..encoders.profiles import music_encoders

    return music_encoders()


def _start_ray(address: str | None, workers: int | None):
    try:
        import ray
    except ImportError as err:  # pragma: no cover - ray is a declared dependency
        raise LibraryError("--ray needs the ray package (pip install -r requirements.txt)") from err
    if not ray.is_initialized():
        # Workers import the same vml_demo (and helpers) as this process: on a local cluster hand them our path.
        env = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}} if address is None else None
        try:
            ray.init(address=address, num_cpus=workers if address is None else None, runtime_env=env,
                     include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
        except Exception as err:  # ray raises plain Exception when its local node does not come up in time
            where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
            raise LibraryError(f"cannot start or reach {where}: {str(err).splitlines()[0] if str(err) else err!r}") from err
    return ray


def index_folder_ray(
    folder: str | os.PathLike,
    db_dir: str | os.PathLike,
    *,
    address: str | None = None,
    workers: int | None = None,
    make_encoders: Callable | None = None,
    progress: ProgressFn | None = None,
    prune: bool = True,
    given: str | None = None,
) -> IndexReport:
    """index_folder, with decoding and encoding on `workers` Ray actors (default: one per CPU of the cluster,
    one per GPU when it has GPUs). `make_encoders`: a picklable callable building the encoders in each actor."""
    folder_path = Path(folder)
    given = given or str(folder)
    if not folder_path.is_dir():
        raise LibraryError(f"{given} is not a folder")
    ray = _start_ray(address, workers)
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    n = workers or (gpus or max(1, int(resources.get("CPU", 1))))
    shard_root = Path(db_dir) / SHARD_DIR
    actor_cls = ray.remote(num_cpus=0 if gpus else 1, num_gpus=1 if gpus else 0)(ShardWorker)
    actors = [actor_cls.remote(make_encoders or _default_encoders, str(shard_root), i) for i in range(n)]
    store = LibraryStore(db_dir, create=True)
    try:
        plan = plan_index(store, folder_path, given, ray.get(actors[0].describe.remote()))
        todo = plan.todo
        # Shards a crashed run left behind are merged as they are; the rest go to the actors.
        leftover = {p.name: p for p in shard_root.glob("worker-*/*.npz")} if shard_root.exists() else {}
        pending, done = {}, 0
        queue = []
        for item in todo:
            shard = leftover.get(_shard_name(item[1], plan.encoder_set))
            if shard is not None:
                _merge(store, plan, folder_path, given, item, shard)
                done += 1
            else:
                queue.append(item)
        # At most two files in flight per actor: the next is decoded while the driver merges.
        free = [a for a in actors for _ in range(2)]
        while queue or pending:
            while queue and free:
                item = queue.pop(0)
                actor = free.pop(0)
                ref = actor.encode.remote(str(folder_path / item[0]), item[1], plan.encoder_set)
                pending[ref] = (item, actor)
            ready, _ = ray.wait(list(pending), num_returns=1)
            item, actor = pending.pop(ready[0])
            free.append(actor)
            _merge(store, plan, folder_path, given, item, Path(ray.get(ready[0])))
            done += 1
            if progress:
                progress(done, len(todo), os.path.join(given, item[0]))
        report = finish_index(store, plan, given, prune)
    finally:
        store.close()
        for actor in actors:
            ray.kill(actor)
    if progress:
        progress(len(todo), len(todo), "done")
    return report


def _merge(store, plan, folder, given, item, shard: Path) -> None:
    store_track(store, plan, folder, given, item, read_shard(shard))
    shard.unlink(missing_ok=True)  # merged: the store holds it now
