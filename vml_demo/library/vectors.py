"""faiss indexes over window vectors, derived from the SQLite store and kept beside it.

Each index is exact inner product over L2-normalised rows (cosine), keyed by window id. It is written
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
from .store import LibraryStore

VECTOR_DIR = "faiss"


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
    def from_faiss(cls, index) -> VectorIndex:
        self = cls.__new__(cls)
        self.index, self.dim = index, int(index.d)
        return self

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores [Q, k], ids [Q, k]) best first; ids are -1 where fewer than k vectors exist."""
        q = l2_normalize(np.atleast_2d(np.asarray(queries, np.float32)))
        return self.index.search(q, min(max(k, 1), max(len(self), 1)))

    def save(self, path: Path, header: dict) -> None:
        faiss = _faiss()
        _write_with_header(path, lambda tmp: faiss.write_index(self.index, tmp), header)


def _write_with_header(path: Path, write, header: dict) -> None:
    """`write(temp path)` then the JSON header beside it, each renamed into place (header last: it validates)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, step in ((path, write), (path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(json.dumps(header)))):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        os.close(fd)
        try:
            step(tmp)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; derived files are as readable as the database
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


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
