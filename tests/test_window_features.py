"""Window features as a memory map beside the store (library/vectors.py: window_features): the same values
as the SQLite rows, converted on first open, rebuilt when the store changes or the files are damaged, never
half-written, and in memory when the library folder is read-only."""
from __future__ import annotations

import os

import numpy as np
import pytest

from vml_demo.errors import LibraryError
from vml_demo.library import vectors
from vml_demo.library.store import LibraryStore
from vml_demo.library.vectors import VECTOR_DIR, window_features

OUTPUTS = [("a", "emb"), ("a", "scores"), ("b", "emb")]
DIMS = {("a", "emb"): 5, ("a", "scores"): 3, ("b", "emb"): 4}


def _add(store, name, n_windows, seed):
    rng = np.random.default_rng(seed)
    root = store.root_id(store.db_dir / "music")
    vecs = {key: rng.standard_normal((n_windows, d)).astype(np.float32) for key, d in DIMS.items()}
    store.add_track(root, f"{name}.wav", content_hash=name, size_bytes=1, duration_s=5.0 * n_windows, meta={},
                    windows=[(5.0 * i, 5.0 * i + 10.0) for i in range(n_windows)], vectors=vecs)


def _store(tmp_path, tracks=((3, 0), (1, 1), (4, 2))):
    store = LibraryStore(tmp_path / "db", create=True)
    for i, (n, seed) in enumerate(tracks):
        _add(store, f"t{i}", n, seed)
    return store


def _expected(store):
    parts = [store.window_matrix(enc, kind) for enc, kind in OUTPUTS]
    return parts[0][0], np.concatenate([m for _, m in parts], axis=1)


def _files(db):
    return sorted(p.name for p in (db / VECTOR_DIR).iterdir())


def test_converted_on_first_open_then_read_as_a_memory_map(tmp_path, monkeypatch):
    store = _store(tmp_path)
    assert not (store.db_dir / VECTOR_DIR).exists()  # an index made before the file existed
    ids, mat, dims = window_features(store, OUTPUTS)
    want_ids, want = _expected(store)
    assert isinstance(mat, np.memmap) and not mat.flags.writeable and mat.dtype == np.float32
    assert np.array_equal(ids, want_ids) and np.array_equal(np.asarray(mat), want) and dims == [5, 3, 4]
    assert not [n for n in _files(store.db_dir) if n.startswith(".tmp-")]
    monkeypatch.setattr(vectors, "_write_features", lambda *a, **k: pytest.fail("rebuilt a current file"))
    ids2, mat2, _ = window_features(store, OUTPUTS)
    assert np.array_equal(np.asarray(mat2), want)


def test_rebuilt_after_the_store_changes_and_when_damaged(tmp_path):
    store = _store(tmp_path)
    window_features(store, OUTPUTS)
    _add(store, "t3", 2, 7)
    ids, mat, _ = window_features(store, OUTPUTS)
    want_ids, want = _expected(store)
    assert len(ids) == 10 and np.array_equal(ids, want_ids) and np.array_equal(np.asarray(mat), want)
    matrix = next(p for p in (store.db_dir / VECTOR_DIR).iterdir() if p.name.endswith("scores_b.emb.npy"))
    matrix.write_bytes(matrix.read_bytes()[:100])  # truncated: the header still claims it is current
    _, mat, _ = window_features(store, OUTPUTS)
    assert np.array_equal(np.asarray(mat), want)


def test_a_build_that_dies_leaves_the_old_files_in_use(tmp_path, monkeypatch):
    store = _store(tmp_path)
    window_features(store, OUTPUTS)
    before = {n: (store.db_dir / VECTOR_DIR / n).read_bytes() for n in _files(store.db_dir)}
    _add(store, "t3", 2, 7)

    def dies(*args):
        raise KeyboardInterrupt  # a kill mid-copy

    monkeypatch.setattr(vectors, "_fill_features", dies)
    with pytest.raises(KeyboardInterrupt):
        window_features(store, OUTPUTS)
    assert {n: (store.db_dir / VECTOR_DIR / n).read_bytes() for n in _files(store.db_dir)} == before
    monkeypatch.undo()
    _, mat, _ = window_features(store, OUTPUTS)  # stale header: rebuilt now
    assert np.array_equal(np.asarray(mat), _expected(store)[1])


def test_read_only_library_and_inconsistent_index(tmp_path, monkeypatch):
    store = _store(tmp_path)

    def read_only(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(vectors.tempfile, "mkstemp", read_only)
    ids, mat, _ = window_features(store, OUTPUTS)
    assert not isinstance(mat, np.memmap) and np.array_equal(mat, _expected(store)[1])
    monkeypatch.undo()
    with store.conn:  # one output lost a row: refused with what to do, not a stack trace
        store.conn.execute("DELETE FROM window_vectors WHERE encoder='b' AND window_id="
                           "(SELECT MIN(window_id) FROM window_vectors)")
        store.conn.execute("UPDATE meta SET value=value+1 WHERE key='generation'")
    with pytest.raises(LibraryError, match="index the folder again"):
        window_features(store, OUTPUTS)


def test_empty_library(tmp_path):
    store = LibraryStore(tmp_path / "db", create=True)
    ids, mat, dims = window_features(store, OUTPUTS)
    assert ids.shape == (0,) and mat.shape == (0, 0) and dims == [0, 0, 0]
    assert os.path.isdir(store.db_dir)


def test_temp_files_of_a_killed_copy_are_removed(tmp_path):
    import subprocess
    import sys

    store = _store(tmp_path)
    folder = store.db_dir / VECTOR_DIR
    folder.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = folder / f"{vectors.FEATURES_TMP}{int(dead.stdout)}-x.npy"
    live = folder / f"{vectors.FEATURES_TMP}{os.getpid()}-y.npy"  # a copy still running (this process)
    orphan.write_bytes(b"partial")
    live.write_bytes(b"partial")
    _add(store, "t3", 2, 7)
    window_features(store, OUTPUTS)
    assert not orphan.exists() and live.exists()
