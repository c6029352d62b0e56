"""Rhythm analysis (librosa) on click tracks of known tempo, its table in the store, and the indexer's
incremental rhythm pass."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from vml_demo.library import indexer
from vml_demo.library.indexer import index_folder
from vml_demo.library.rhythm import RHYTHM_VERSION, analyze_rhythm
from vml_demo.library.store import DB_FILENAME, SCHEMA_VERSION, LibraryStore

from library_helpers import BandEnergyEncoder, click_track, make_library, write_wav

ENC = [BandEnergyEncoder()]
SR = 16000


@pytest.fixture(scope="module")
def rhythm_100():
    """100 BPM clicks from 0.3 s, bars starting on the low thumps; two blocks, as the indexer passes them."""
    y = click_track(100.0, 40.0, first_s=0.3)
    return analyze_rhythm([(0.0, y[: 20 * SR]), (20.0, y[20 * SR:])], 40.0)


def test_tempo_beats_and_downbeats_of_a_click_track(rhythm_100):
    r = rhythm_100
    assert r.bpm == pytest.approx(100.0, rel=0.02)
    truth = 0.3 + 0.6 * np.arange(70)
    truth = truth[truth < 40.0]
    inner = r.beats[(r.beats > 1.0) & (r.beats < 39.0)]
    assert len(inner) > 55
    assert np.abs(inner[:, None] - truth[None, :]).min(axis=1).max() < 0.04  # every beat on a click (16 ms frames)
    bars = truth[::4]
    assert np.abs(r.downbeats[1:-1, None] - bars[None, :]).min(axis=1).max() < 0.04  # on the thumps
    assert len(r.energy) == pytest.approx(40.0 / r.energy_hop_s, abs=1) and r.sections[0] == 0.0


def test_silence_has_no_tempo_and_says_why():
    r = analyze_rhythm([(0.0, np.zeros(5 * SR, np.float32))], 5.0)
    assert r.bpm is None and len(r.beats) == 0 and r.note


def test_version_1_index_is_upgraded_in_place(tmp_path):
    store = LibraryStore(tmp_path, create=True)
    store.close()
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    conn.execute("DROP TABLE rhythm")
    conn.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    store = LibraryStore(tmp_path)
    assert store.get_meta("schema_version") == SCHEMA_VERSION == "2"
    assert store.track_tempos() == {} and store.stats()["rhythm_analysed"] == 0
    store.close()


def test_index_analyses_rhythm_incrementally_and_a_failure_keeps_the_track(tmp_path, monkeypatch):
    lib = make_library(tmp_path / "music", n=2)
    write_wav(lib / "clicks.wav", click_track(120.0, 20.0))
    db = tmp_path / "db"
    report = index_folder(lib, db, encoders=ENC)
    assert report.rhythm_analysed == 3 and not report.rhythm_failed
    store = LibraryStore(db)
    ids = {t.title: t.id for t in store.tracks()}
    tempos = store.track_tempos()
    assert tempos[ids["clicks"]] == pytest.approx(120.0, rel=0.02)
    assert ids["tone_0"] not in tempos  # a steady tone has no beat: missing, not 0
    assert store.rhythm(ids["clicks"]).downbeats.size > 5
    # An index made before rhythm existed (rows missing) gets it on the next run, without re-encoding.
    store.conn.execute("DELETE FROM rhythm WHERE track_id=?", (ids["clicks"],))
    store.conn.commit()
    store.close()
    again = index_folder(lib, db, encoders=ENC)
    assert len(again.unchanged) == 3 and again.rhythm_analysed == 1

    def broken(blocks, duration_s):
        raise ValueError("bad onset envelope")

    monkeypatch.setattr(indexer, "analyze_rhythm", broken)
    write_wav(lib / "clicks.wav", click_track(90.0, 20.0))  # changed: indexed again, rhythm fails
    third = index_folder(lib, db, encoders=ENC)
    assert [p for p, _ in third.rhythm_failed] == [str(lib / "clicks.wav")]
    store = LibraryStore(db)
    assert "clicks" in {t.title for t in store.tracks()}  # still searchable
    assert store.rhythm_failures()[0][1].startswith("rhythm analysis failed: ValueError")
    assert store.tracks_without_rhythm(RHYTHM_VERSION) == []  # recorded: not retried every run
    store.close()


def test_tempo_estimate_is_librosas_at_step_1_and_close_at_step_4():
    import librosa

    from vml_demo.library import rhythm

    y = click_track(100.0, 40.0, first_s=0.3) + 0.01 * np.random.default_rng(0).standard_normal(40 * SR)
    onset = rhythm._block_features(y.astype(np.float32))[1]
    expected = float(librosa.feature.tempo(onset_envelope=onset, sr=SR, hop_length=rhythm.HOP)[0])
    assert rhythm.estimate_tempo(onset, step=1) == expected
    assert abs(rhythm.estimate_tempo(onset, step=4) - 100.0) <= 4.0  # the 16 ms frame grid's resolution
