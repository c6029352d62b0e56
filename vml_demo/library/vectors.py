"""What search reads, derived from the SQLite store and kept beside it: the window features as a memory map,
and faiss indexes over window vectors.

`window_features` copies every window's encoder outputs from the store's blobs into one float32 .npy file,
in batches (a library larger than memory never passes through it whole), and opens it as a read-only memory
map: the ranker and the spaces read it block by block, and a small library reopens without decoding blobs.
An index made before this existed gets the file on first open; a changed store, a new one.

Each stored index is exact inner product over L2-normalised rows (cosine), keyed by window id. Ranking's
stage 1 above the exact-scoring size uses a compressed one instead (`compressed`, IVF-PQ). An index is written
atomically (temp file + rename) together with a small JSON header naming the store generation it was
built from; a stale or missing index is rebuilt from the store on load, so a crash never leaves a
half-written index in use.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ..encoders.base import l2_normalize
from ..errors import LibraryError
from ..media.files import write_atomically
from .store import LibraryStore

VECTOR_DIR = "faiss"
# IVF-PQ (the compressed index) for n vectors of dimension d; measured by benchmarks/catalogue_scale.py.
# nlist: a power of two near sqrt(n) lists (coarse-quantizer cost and list length balance there);
# PQ: d/8 sub-quantizers of 8 bits (48 bytes for a 384-d vector, 1/32 of float32);
# nprobe: 1/16 of the lists searched per query, at least NPROBE_MIN (recall@10 of the whole ranking against
# exact scoring, after the exact rescoring of the candidates, is what the benchmark reports).
IVF_MIN_LISTS = 16
PQ_DIMS_PER_CODE = 8
NPROBE_FRACTION = 16
NPROBE_MIN = 8
# ...and enough lists that a search scans SCAN_FACTOR times the k it asks for: ranking asks for thousands
# of chunks, which at 20k simulated tracks was more than nprobe=nlist/16 lists held (recall@10 with
# negations fell to 0.92). At 100k tracks of benchmarks/ranking_recall.py (unclustered: the hard case) 4x
# gave recall@10 0.893, probing nlist/8 0.947, nlist/4 (what 16x asks there) 0.973, nlist/2 0.977, a flat
# stage 1 0.990; the loss was the lists probed, not PQ (IVF-Flat over the same lists: 0.893). At 1M
# tracks 16x asks for fewer lists than nlist/16 (benchmarks/catalogue_scale.py), so nothing changes there.
SCAN_FACTOR = 16
KMEANS_ITERATIONS = 10  # faiss's default 25 costs 2.5x the training time for no measurable recall here
TRAIN_POINTS_PER_LIST = 64
FEATURES_TMP = ".tmp-features-"  # + pid: temp files of a feature copy in progress


def ivfpq_params(n: int, dim: int) -> dict:
    nlist = max(IVF_MIN_LISTS, 1 << max(0, round(np.log2(max(n, 1)) / 2)))
    m = max(c for c in range(1, dim + 1) if dim % c == 0 and dim // c >= min(PQ_DIMS_PER_CODE, dim))
    return {"nlist": int(nlist), "m": int(m), "nbits": 8, "nprobe": _nprobe(nlist)}


def _nprobe(nlist: int) -> int:
    return min(nlist, max(NPROBE_MIN, nlist // NPROBE_FRACTION))


def _faiss():
    import faiss

    faiss.omp_set_num_threads(1)  # single queries: 2 OpenMP threads were 10x slower here (STACK.md)
    return faiss


class VectorIndex:
    """Cosine search over a set of vectors with int64 ids."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray):
        faiss = _faiss()
        vectors = l2_normalize(np.ascontiguousarray(vectors, np.float32))
        self.dim = int(vectors.shape[1]) if vectors.ndim == 2 and len(vectors) else 0
        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(max(self.dim, 1)))
        if len(ids):
            self.index.add_with_ids(vectors, np.asarray(ids, np.int64))

    @classmethod
    def compressed(cls, train: np.ndarray, n_expected: int, threads: int | None = None) -> VectorIndex:
        """An empty IVF-PQ index (ivfpq_params(n_expected)) trained on `train`; fill it with add()."""
        faiss = _faiss()
        train = l2_normalize(np.ascontiguousarray(train, np.float32))
        p = ivfpq_params(n_expected, train.shape[1])
        nlist = min(p["nlist"], max(1, len(train) // 39))  # faiss's k-means wants >= 39 points a list
        index = faiss.IndexIVFPQ(faiss.IndexFlatIP(train.shape[1]), train.shape[1], nlist, p["m"], p["nbits"],
                                 faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = KMEANS_ITERATIONS
        rng = np.random.default_rng(0)
        keep = max(TRAIN_POINTS_PER_LIST * nlist, 256 * 39)  # PQ's 256 centroids want the same
        sample = train if len(train) <= keep else train[np.sort(rng.choice(len(train), keep, replace=False))]
        faiss.omp_set_num_threads(threads or os.cpu_count() or 1)  # building is batch work: every core
        try:
            index.train(sample)
        finally:
            faiss.omp_set_num_threads(1)
        index.nprobe = _nprobe(nlist)
        return cls.from_faiss(index)

    def add(self, ids: np.ndarray, vectors: np.ndarray, threads: int | None = None) -> None:
        faiss = _faiss()
        faiss.omp_set_num_threads(threads or os.cpu_count() or 1)
        try:
            self.index.add_with_ids(l2_normalize(np.ascontiguousarray(vectors, np.float32)), np.asarray(ids, np.int64))
        finally:
            faiss.omp_set_num_threads(1)

    @classmethod
    def from_faiss(cls, index) -> VectorIndex:
        self = cls.__new__(cls)
        self.index, self.dim = index, int(index.d)
        return self

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores [Q, k], ids [Q, k]) best first; ids are -1 where fewer than k vectors exist."""
        q = l2_normalize(np.atleast_2d(np.asarray(queries, np.float32)))
        k = min(max(k, 1), max(len(self), 1))
        if hasattr(self.index, "nprobe"):  # IVF: scan SCAN_FACTOR * k vectors at least
            nlist = int(self.index.nlist)
            wanted = int(np.ceil(SCAN_FACTOR * k * nlist / max(len(self), 1)))
            self.index.nprobe = min(nlist, max(_nprobe(nlist), wanted))
        return self.index.search(q, k)

    def save(self, path: Path, header: dict) -> None:
        faiss = _faiss()
        _write_with_header(path, lambda tmp: faiss.write_index(self.index, tmp), header)


def _write_with_header(path: Path, write, header: dict) -> None:
    """`write(temp path)` then the JSON header beside it, each renamed into place (header last: it validates)."""
    write_atomically(path, write)
    write_atomically(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(json.dumps(header)))


def _current_header(path: Path, key: str, generation: int) -> bool:
    try:
        header = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return False
    return path.exists() and header.get("generation") == generation and header.get("key") == key


def index_path(db_dir: Path, key: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
    return Path(db_dir) / VECTOR_DIR / f"{safe}.faiss"


def load_or_build(store: LibraryStore, key: str, build_rows, *, save: bool = True) -> VectorIndex:
    """The index named `key`, loaded when it matches the store's generation, else rebuilt.

    `build_rows()` returns (window ids, vectors) for the current store contents.
    """
    path = index_path(store.db_dir, key)
    generation = store.generation()
    if _current_header(path, key, generation):
        try:
            return VectorIndex.from_faiss(_faiss().read_index(str(path)))
        except (OSError, RuntimeError):
            pass  # unreadable or partial: rebuild below
    ids, vectors = build_rows()
    index = VectorIndex(ids, vectors)
    if save:
        try:
            index.save(path, {"key": key, "generation": generation, "count": len(index), "dim": index.dim})
        except OSError:
            pass  # a read-only library still works, it just rebuilds in memory next time
    return index



def load_or_build_arrays(store: LibraryStore, key: str, build) -> dict[str, np.ndarray]:
    """Arrays derived from the store (`build()` -> {name: array}), kept beside it as one .npz per key and
    reused while the store's generation is the one they were built from; a read-only library rebuilds them."""
    path = index_path(store.db_dir, key).with_suffix(".npz")
    generation = store.generation()
    if _current_header(path, key, generation):
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError):
            pass  # unreadable or partial: rebuild below
    arrays = build()
    try:
        _write_with_header(path, lambda tmp: _save_npz(tmp, arrays), {"key": key, "generation": generation})
    except OSError:
        pass
    return arrays


def _save_npz(tmp: str, arrays: dict[str, np.ndarray]) -> None:
    with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a path
        np.savez(fh, **arrays)


def window_features(store: LibraryStore, outputs: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(window ids [N], features [N, F], width of each output) for these (encoder, kind) outputs side by side,
    rows in window order: a read-only float32 memory map of `faiss/features-....npy`, rebuilt when the store's
    generation changed (in memory when the library folder is read-only)."""
    key = "features-" + "+".join(f"{enc}.{kind}" for enc, kind in outputs)
    path = index_path(store.db_dir, key).with_suffix(".npy")
    ids_path = path.with_suffix(".ids.npy")
    with store.snapshot():  # one read transaction: the generation and the rows agree
        generation = store.generation()
        if _current_header(path, key, generation):
            try:
                header = json.loads(path.with_suffix(".json").read_text())
                ids, mat = np.load(ids_path), np.load(path, mmap_mode="r")
                if mat.shape == (len(ids), sum(header["dims"])) and mat.dtype == np.float32:
                    return ids, mat, list(header["dims"])
            except (OSError, ValueError, KeyError):
                pass  # unreadable or partial: rebuild below
        shapes = [store.count_window_vectors(enc, kind) for enc, kind in outputs]
        if len({n for n, _ in shapes}) > 1:
            raise LibraryError(f"The index at {store.db_dir} is inconsistent (encoders with different window "
                               "counts): index the folder again")
        n, dims = (shapes[0][0] if shapes else 0), [d for _, d in shapes]
        try:
            return _write_features(store, outputs, path, ids_path, n, dims, {"key": key, "generation": generation,
                                                                              "dims": dims, "rows": n})
        except OSError:  # a read-only library: the same matrix in memory
            ids, mat = np.zeros(n, np.int64), np.zeros((n, sum(dims)), np.float32)
            _fill_features(store, outputs, ids, mat)
            return ids, mat, dims


def _remove_orphans(folder: Path) -> None:
    """Deletes the temp files of feature copies whose process is gone (killed mid-copy: they can be large)."""
    for tmp in folder.glob(FEATURES_TMP + "*"):
        pid = tmp.name[len(FEATURES_TMP):].split("-")[0]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except (ValueError, OSError):
            pass  # not ours to judge (another user's process, or a name we did not write)


def _fill_features(store: LibraryStore, outputs, ids: np.ndarray, mat: np.ndarray) -> None:
    """Copies each output's rows into its columns of `mat` (and the window ids into `ids`), batch by batch."""
    col = 0
    for j, (enc, kind) in enumerate(outputs):
        row, width = 0, 0
        for wid, block in store.iter_window_vectors(enc, kind):
            width = block.shape[1]
            if j == 0:
                ids[row:row + len(wid)] = wid
            elif not np.array_equal(ids[row:row + len(wid)], wid):
                raise LibraryError(f"The index at {store.db_dir} is inconsistent for {enc}: index the folder again")
            mat[row:row + len(wid), col:col + width] = block
            row += len(wid)
        col += width


def _write_features(store, outputs, path: Path, ids_path: Path, n: int, dims: list[int], header: dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path.parent)
    tmp = [tempfile.mkstemp(dir=path.parent, prefix=f"{FEATURES_TMP}{os.getpid()}-", suffix=".npy") for _ in range(2)]
    for fd, _ in tmp:
        os.close(fd)
    (tmp_ids, tmp_mat) = (name for _, name in tmp)
    try:
        ids = np.lib.format.open_memmap(tmp_ids, mode="w+", dtype=np.int64, shape=(n,))
        mat = np.lib.format.open_memmap(tmp_mat, mode="w+", dtype=np.float32, shape=(n, sum(dims)))
        _fill_features(store, outputs, ids, mat)
        ids.flush()
        mat.flush()
        del ids, mat
        for name, target in ((tmp_ids, ids_path), (tmp_mat, path)):
            os.chmod(name, 0o644)
            os.replace(name, target)
        # the header last: it is what says the two files are current
        write_atomically(path.with_suffix(".json"), lambda t: Path(t).write_text(json.dumps(header)))
    finally:
        for name in (tmp_ids, tmp_mat):
            if os.path.exists(name):
                os.unlink(name)
    return np.load(ids_path), np.load(path, mmap_mode="r"), dims
