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
        path.parent.mkdir(parents=True, exist_ok=True)
        faiss = _faiss()
        for target, write in (
            (path, lambda tmp: faiss.write_index(self.index, tmp)),
            (path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(json.dumps(header))),
        ):
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            os.close(fd)
            try:
                write(tmp)
                os.chmod(tmp, 0o644)  # mkstemp makes 0600; the index is as readable as the database
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)


def index_path(db_dir: Path, key: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
    return Path(db_dir) / VECTOR_DIR / f"{safe}.faiss"


def load_or_build(store: LibraryStore, key: str, build_rows, *, save: bool = True) -> VectorIndex:
    """The index named `key`, loaded when it matches the store's generation, else rebuilt.

    `build_rows()` returns (window ids, vectors) for the current store contents.
    """
    path = index_path(store.db_dir, key)
    header_path = path.with_suffix(".json")
    generation = store.generation()
    if path.exists() and header_path.exists():
        try:
            header = json.loads(header_path.read_text())
            if header.get("generation") == generation and header.get("key") == key:
                return VectorIndex.from_faiss(_faiss().read_index(str(path)))
        except (OSError, ValueError, RuntimeError):
            pass  # unreadable or partial: rebuild below
    ids, vectors = build_rows()
    index = VectorIndex(ids, vectors)
    if save:
        try:
            index.save(path, {"key": key, "generation": generation, "count": len(index), "dim": index.dim})
        except OSError:
            pass  # a read-only library still works, it just rebuilds in memory next time
    return index

