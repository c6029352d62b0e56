"""Library index: windows, incremental updates, broken files, faiss search, kill-and-resume."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from vml_demo.errors import LibraryError
from vml_demo.library.indexer import index_folder
from vml_demo.library.store import LibraryStore
from vml_demo.library.vectors import VECTOR_DIR, index_path, load_or_build
from vml_demo.library.windows import window_spans

from library_helpers import BandEnergyEncoder, make_library, write_tone

ENC = [BandEnergyEncoder()]


def test_window_spans_cover_track():
    assert window_spans(4.0) == [(0.0, 4.0)]
    spans = window_spans(27.0)
    assert spans[0] == (0.0, 10.0) and spans[-1] == (17.0, 27.0)
    assert all(abs((e - s) - 10.0) < 1e-6 for s, e in spans)
    assert all(b[0] - a[0] <= 5.0 + 1e-6 for a, b in zip(spans, spans[1:]))


def test_index_incremental_and_broken_files(tmp_path):
    lib = make_library(tmp_path / "music")
    db = tmp_path / "db"
    report = index_folder(lib, db, encoders=ENC)
    assert len(report.added) == 4
    failed = dict(report.failed)
    assert set(Path(p).name for p in failed) == {"notes.ogg", "empty.mp3"}
    assert all(msg and "\n" not in msg for msg in failed.values())

    again = index_folder(lib, db, encoders=ENC)
    assert not again.added and not again.updated and len(again.unchanged) == 4
    assert len(again.failed) == 2  # reported again, not re-decoded

    write_tone(lib / "tone_0.wav", 880.0, 15.0)  # changed content
    (lib / "tone_3.wav").unlink()
    third = index_folder(lib, db, encoders=ENC)
    assert [Path(p).name for p in third.updated] == ["tone_0.wav"]
    assert [Path(p).name for p in third.removed] == ["tone_3.wav"]

    store = LibraryStore(db)
    tracks = {t.title: t for t in store.tracks()}
    assert set(tracks) == {"tone_0", "tone_1", "tone_2"}
    assert tracks["tone_0"].duration_s == pytest.approx(15.0, abs=0.05)
    assert tracks["tone_0"].path == os.path.join(str(lib), "tone_0.wav")
    assert store.stats()["tracks"] == 3


def test_faiss_index_finds_matching_window_and_tracks_generation(tmp_path):
    lib = make_library(tmp_path / "music", n=3)
    db = tmp_path / "db"
    index_folder(lib, db, encoders=ENC)
    assert not (db / VECTOR_DIR).exists()  # indexing writes no vector files: the search layer builds its own
    store = LibraryStore(db)
    ids, vecs = store.window_matrix("band_energy", "emb")

    def encoder_index(store, name):
        return load_or_build(store, f"{name}.emb", lambda: store.window_matrix(name, "emb"))

    index = encoder_index(store, "band_energy")
    assert len(index) == len(ids)
    scores, found = index.search(vecs[5], k=len(ids))
    assert scores[0][0] == pytest.approx(1.0, abs=1e-5)
    tied = set(found[0][scores[0] > 1.0 - 1e-5].tolist())  # windows of one pure tone are identical
    assert ids[5] in tied and len(tied) < len(ids)
    # A damaged faiss file is rebuilt from the store rather than trusted.
    index_path(db, "band_energy.emb").write_bytes(b"garbage")
    assert len(encoder_index(store, "band_energy")) == len(ids)


def test_missing_db_is_a_clear_error(tmp_path):
    with pytest.raises(LibraryError, match="index"):
        LibraryStore(tmp_path / "nowhere")


def test_unknown_schema_version_is_refused_with_what_to_do(tmp_path):
    store = LibraryStore(tmp_path, create=True)
    store.set_meta("schema_version", "99")
    store.close()
    with pytest.raises(LibraryError, match="schema version 99.*index the music again"):
        LibraryStore(tmp_path)


class OtherBandEncoder(BandEnergyEncoder):
    name = "other_bands"


def test_changing_encoders_reindexes_only_the_root_being_indexed(tmp_path):
    lib_a, lib_b = make_library(tmp_path / "a", n=2), make_library(tmp_path / "b", n=2)
    db = tmp_path / "db"
    index_folder(lib_a, db, encoders=ENC)
    index_folder(lib_b, db, encoders=ENC)
    store = LibraryStore(db)
    before = {t.path: t.id for t in store.tracks()}
    store.close()

    report = index_folder(lib_a, db, encoders=[OtherBandEncoder()])
    assert len(report.added) == 2 and not report.unchanged  # a's tracks again, with the new encoder
    assert report.stale_roots == [str(lib_b)] and "index again" in report.summary()
    store = LibraryStore(db)
    after = {t.path: t.id for t in store.tracks()}
    store.close()
    kept_b = {p: i for p, i in before.items() if p.startswith(str(lib_b))}
    assert kept_b and all(after[p] == i for p, i in kept_b.items())  # b untouched (same rows)
    assert all(after[p] != i for p, i in before.items() if p.startswith(str(lib_a)))


class NewerBandEncoder(BandEnergyEncoder):
    version = "2"  # same name, outputs changed: what a code change to an encoder looks like to the index


def test_an_encoder_whose_outputs_changed_reindexes_under_the_same_name(tmp_path):
    lib = make_library(tmp_path / "a", n=2)
    db = tmp_path / "db"
    index_folder(lib, db, encoders=ENC)
    assert len(index_folder(lib, db, encoders=ENC).unchanged) == 2  # same fingerprint: nothing to do
    report = index_folder(lib, db, encoders=[NewerBandEncoder()])
    assert len(report.added) == 2 and not report.unchanged  # a stale cache is rebuilt, not read as current


def test_new_stores_drop_the_hints_column_and_the_bundled_index_still_opens(tmp_path):
    from vml_demo import config

    store = LibraryStore(tmp_path, create=True)
    assert "hints" not in {row[1] for row in store.conn.execute("PRAGMA table_info(tracks)")}
    store.close()
    bundled = LibraryStore(config.ASSETS_DIR / "index")  # written before the column was dropped
    assert bundled.tracks() and all(t.title for t in bundled.tracks())
    bundled.close()


def _snapshot(db: Path):
    store = LibraryStore(db)
    rows = {t.title: t.duration_s for t in store.tracks()}
    _, vecs = store.window_matrix("band_energy", "emb")
    store.close()
    return rows, vecs


def test_kill_mid_index_then_rerun_gives_same_index(tmp_path):
    lib = make_library(tmp_path / "music", n=6)
    killed_db, clean_db = tmp_path / "killed", tmp_path / "clean"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from library_helpers import BandEnergyEncoder
        from vml_demo.library.indexer import index_folder
        def progress(done, total, name):
            if done == 3:
                os.kill(os.getpid(), signal.SIGKILL)  # die without any cleanup, mid-run
        index_folder({str(lib)!r}, {str(killed_db)!r}, encoders=[BandEnergyEncoder()], progress=progress)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    partial = LibraryStore(killed_db)
    assert 0 < partial.stats()["tracks"] < 6  # some tracks committed, none half-written
    partial.close()

    resumed = index_folder(lib, killed_db, encoders=ENC)
    assert len(resumed.added) + len(resumed.unchanged) == 6
    index_folder(lib, clean_db, encoders=ENC)
    rows_a, vecs_a = _snapshot(killed_db)
    rows_b, vecs_b = _snapshot(clean_db)
    assert rows_a == rows_b
    assert np.allclose(np.sort(vecs_a, axis=0), np.sort(vecs_b, axis=0))
