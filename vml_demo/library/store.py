"""SQLite store of a music library: tracks, their 10 s windows, encoder outputs and tags.

One database file (`library.sqlite`) per library folder. Each track is written in one transaction,
so a crash or kill mid-index leaves every track either fully indexed or absent: a rerun resumes.
Vectors live here as float32 blobs (the source of truth); what search reads is derived from them and
kept beside the database (vectors.py): a memory-mapped float32 matrix of every window's features, copied
from these rows in batches, and faiss indexes, each rebuilt when the store changes. Each track's rhythm (rhythm.py) is a row of its own, written
after the track and versioned, so an index made before it existed gets it on the next `index` run.
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LibraryError

DB_FILENAME = "library.sqlite"
SCHEMA_VERSION = "2"
VECTOR_BATCH = 65_536  # rows read from SQLite at a time when streaming window vectors

_RHYTHM_TABLE = """
CREATE TABLE IF NOT EXISTS rhythm (
    track_id INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
    version TEXT NOT NULL,        -- rhythm.RHYTHM_VERSION the row was analysed with
    bpm REAL,                     -- NULL: no steady beat, or the analysis failed (error says which)
    beats BLOB NOT NULL,          -- float32 beat times, s
    downbeats BLOB NOT NULL,      -- float32 bar starts, s
    energy BLOB NOT NULL,         -- float32 RMS dBFS every energy_hop_s
    energy_hop_s REAL NOT NULL,
    sections BLOB NOT NULL,       -- float32 section start times, s
    note TEXT NOT NULL DEFAULT '',
    error TEXT,                   -- the one-line reason when the analysis failed (the track stays searchable)
    analysed_at TEXT NOT NULL
);
"""
# Older schema versions this code upgrades in place: {version: (next version, SQL that brings it there)}.
# 1 -> 2 adds the rhythm table; its rows are filled by the next `index` run (tracks lacking them).
MIGRATIONS: dict[str, tuple[str, str]] = {"1": ("2", _RHYTHM_TABLE)}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS roots (
    id INTEGER PRIMARY KEY,
    given TEXT NOT NULL,          -- the folder as the user named it (paths are reported under it)
    rel_to_db TEXT NOT NULL UNIQUE -- the same folder relative to the db folder (portable)
);
CREATE TABLE IF NOT EXISTS tracks (
    id INTEGER PRIMARY KEY,
    root_id INTEGER NOT NULL REFERENCES roots(id),
    rel_path TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    duration_s REAL NOT NULL,
    title TEXT NOT NULL,
    artist TEXT NOT NULL DEFAULT '',
    license TEXT NOT NULL DEFAULT '',
    attribution TEXT NOT NULL DEFAULT '',
    indexed_at TEXT NOT NULL,
    UNIQUE (root_id, rel_path)
);
CREATE TABLE IF NOT EXISTS windows (
    id INTEGER PRIMARY KEY,
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start_s REAL NOT NULL,
    end_s REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS windows_track ON windows(track_id);
-- kind: 'emb' (embedding) or 'scores' (tag probabilities, columns as in encoders.labels)
CREATE TABLE IF NOT EXISTS window_vectors (
    window_id INTEGER NOT NULL REFERENCES windows(id) ON DELETE CASCADE,
    encoder TEXT NOT NULL,
    kind TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (window_id, encoder, kind)
);
CREATE TABLE IF NOT EXISTS encoders (
    name TEXT PRIMARY KEY,
    vocabulary TEXT NOT NULL,
    labels TEXT NOT NULL,   -- JSON list, column order of 'scores' vectors
    embedding_dim INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (
    root_id INTEGER NOT NULL,
    rel_path TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    message TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (root_id, rel_path)
);
""" + _RHYTHM_TABLE


@dataclass
class Track:
    id: int
    path: str  # as indexed: the root as the user named it, joined with the file's relative path
    abs_path: Path
    duration_s: float
    title: str
    artist: str
    license: str
    attribution: str
    content_hash: str = ""
    name: str = ""  # the file's path relative to its root: what a visitor may be shown


@dataclass
class Window:
    id: int
    track_id: int
    idx: int
    start_s: float
    end_s: float


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class LibraryStore:
    """Read/write access to one library database folder."""

    def __init__(self, db_dir: str | os.PathLike, *, create: bool = False):
        self.db_dir = Path(db_dir)
        path = self.db_dir / DB_FILENAME
        if not path.exists():
            if not create:
                raise LibraryError(
                    f"No music library index in {self.db_dir} (run: python -m vml_demo index FOLDER --db {self.db_dir})"
                )
            self.db_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as err:
            raise LibraryError(f"The library index {path} is unreadable ({err}); delete it and index again") from err
        self._check_schema()

    def _check_schema(self) -> None:
        """A new database gets the current version; an older one is migrated; anything else is refused."""
        version = self.get_meta("schema_version")
        if version is None:
            self.set_meta("schema_version", SCHEMA_VERSION)
            return
        while version in MIGRATIONS:
            next_version, sql = MIGRATIONS[version]
            with self.conn:
                self.conn.executescript(sql)
            self.set_meta("schema_version", next_version)
            version = next_version
        if version != SCHEMA_VERSION:
            self.conn.close()
            raise LibraryError(
                f"The library index in {self.db_dir} has schema version {version}, but this version of "
                f"viml-demo reads version {SCHEMA_VERSION}: index the music again into a new folder "
                "(python -m vml_demo index FOLDER --db NEW_FOLDER)"
            )

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def snapshot(self):
        """Reads inside see one state of the database (a read transaction; WAL lets writers go on meanwhile)."""
        if self.conn.in_transaction:  # already inside one
            yield
            return
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.rollback()

    # -- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def generation(self) -> int:
        """Bumped on every change of tracks; derived files record the generation they were built from."""
        return int(self.get_meta("generation", "0"))

    def _bump_generation(self) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('generation', ?)", (str(self.generation() + 1),)
        )

    # -- roots and encoders -----------------------------------------------------------------
    def root_id(self, folder: str | os.PathLike, given: str | None = None) -> int:
        rel = os.path.relpath(Path(folder).resolve(), self.db_dir.resolve())
        row = self.conn.execute("SELECT id FROM roots WHERE rel_to_db=?", (rel,)).fetchone()
        if row:
            return int(row[0])
        with self.conn:
            cur = self.conn.execute("INSERT INTO roots(given, rel_to_db) VALUES (?, ?)", (given or str(folder), rel))
        return int(cur.lastrowid)

    def root_encoder_set(self, root_id: int) -> str | None:
        """The encoder set this root's tracks were indexed with (older indexes kept one for the whole library)."""
        return self.get_meta(f"encoder_set:{root_id}", self.get_meta("encoder_set"))

    def set_root_encoder_set(self, root_id: int, encoder_set: str) -> None:
        self.set_meta(f"encoder_set:{root_id}", encoder_set)

    def roots_with_other_encoders(self, encoder_set: str) -> list[str]:
        """Roots (as the user named them) whose tracks were indexed with another encoder set."""
        rows = self.conn.execute("SELECT id, given FROM roots").fetchall()
        return [given for rid, given in rows
                if self.root_encoder_set(rid) not in (None, encoder_set)
                and self.conn.execute("SELECT 1 FROM tracks WHERE root_id=? LIMIT 1", (rid,)).fetchone()]

    def clear_root(self, root_id: int) -> int:
        """Drop every track of one root (cascades to windows and vectors); returns how many."""
        with self.conn:
            n = self.conn.execute("DELETE FROM tracks WHERE root_id=?", (root_id,)).rowcount
            if n:
                self._bump_generation()
        return int(n)

    def register_encoder(self, name: str, vocabulary: str, labels: list[str], embedding_dim: int) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO encoders(name, vocabulary, labels, embedding_dim) VALUES (?, ?, ?, ?)",
                (name, vocabulary, json.dumps(labels), embedding_dim),
            )

    def encoders(self) -> dict[str, dict]:
        rows = self.conn.execute("SELECT name, vocabulary, labels, embedding_dim FROM encoders").fetchall()
        return {r[0]: {"vocabulary": r[1], "labels": json.loads(r[2]), "embedding_dim": r[3]} for r in rows}

    # -- tracks -----------------------------------------------------------------------------
    def known_hash(self, root_id: int, rel_path: str) -> str | None:
        row = self.conn.execute(
            "SELECT content_hash FROM tracks WHERE root_id=? AND rel_path=?", (root_id, rel_path)
        ).fetchone()
        return row[0] if row else None

    def known_failure(self, root_id: int, rel_path: str) -> tuple[str, str] | None:
        """(content hash, reason) of an earlier failure of this file, or None."""
        row = self.conn.execute(
            "SELECT content_hash, message FROM failures WHERE root_id=? AND rel_path=?", (root_id, rel_path)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def add_track(
        self,
        root_id: int,
        rel_path: str,
        *,
        content_hash: str,
        size_bytes: int,
        duration_s: float,
        meta: dict,
        windows: list[tuple[float, float]],
        vectors: dict[tuple[str, str], np.ndarray],
    ) -> int:
        """Insert (or replace) one track with its windows and per-window vectors, atomically.

        `vectors[(encoder, kind)]` is a [n_windows, dim] array aligned with `windows`.
        """
        for key, arr in vectors.items():
            if len(arr) != len(windows):
                raise ValueError(f"{key}: {len(arr)} rows for {len(windows)} windows")
        with self.conn:  # one transaction: all or nothing
            self.conn.execute("DELETE FROM tracks WHERE root_id=? AND rel_path=?", (root_id, rel_path))
            self.conn.execute("DELETE FROM failures WHERE root_id=? AND rel_path=?", (root_id, rel_path))
            cur = self.conn.execute(
                "INSERT INTO tracks(root_id, rel_path, content_hash, size_bytes, duration_s, title, artist, license,"
                " attribution, indexed_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    root_id, rel_path, content_hash, size_bytes, duration_s,
                    meta.get("title") or Path(rel_path).stem, meta.get("artist", ""), meta.get("license", ""),
                    meta.get("attribution", ""), _now(),
                ),
            )
            track_id = int(cur.lastrowid)
            for i, (start, end) in enumerate(windows):
                wid = self.conn.execute(
                    "INSERT INTO windows(track_id, idx, start_s, end_s) VALUES (?,?,?,?)", (track_id, i, start, end)
                ).lastrowid
                self.conn.executemany(
                    "INSERT INTO window_vectors(window_id, encoder, kind, vector) VALUES (?,?,?,?)",
                    [(wid, enc, kind, np.asarray(arr[i], np.float32).tobytes()) for (enc, kind), arr in vectors.items()],
                )
            self._bump_generation()
        return track_id

    def record_failure(self, root_id: int, rel_path: str, content_hash: str, message: str) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO failures(root_id, rel_path, content_hash, message, at) VALUES (?,?,?,?,?)",
                (root_id, rel_path, content_hash, message, _now()),
            )

    def remove_missing(self, root_id: int, present: set[str]) -> list[str]:
        """Drop tracks of this root whose files are gone; returns their relative paths."""
        rows = self.conn.execute("SELECT id, rel_path FROM tracks WHERE root_id=?", (root_id,)).fetchall()
        gone = [(tid, rel) for tid, rel in rows if rel not in present]
        if gone:
            with self.conn:
                self.conn.executemany("DELETE FROM tracks WHERE id=?", [(tid,) for tid, _ in gone])
                self._bump_generation()
        return [rel for _, rel in gone]

    def failures(self) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT r.given, f.rel_path, f.message FROM failures f JOIN roots r ON r.id=f.root_id ORDER BY f.rel_path"
        ).fetchall()
        return [(os.path.join(given, rel), msg) for given, rel, msg in rows]

    def tracks(self) -> list[Track]:
        rows = self.conn.execute(
            "SELECT t.id, r.given, r.rel_to_db, t.rel_path, t.duration_s, t.title, t.artist, t.license,"
            " t.attribution, t.content_hash FROM tracks t JOIN roots r ON r.id=t.root_id ORDER BY t.id"
        ).fetchall()
        return [
            Track(
                id=r[0], path=os.path.join(r[1], r[3]), abs_path=(self.db_dir / r[2] / r[3]).resolve(),
                duration_s=r[4], title=r[5], artist=r[6], license=r[7], attribution=r[8],
                content_hash=r[9], name=r[3],
            )
            for r in rows
        ]

    def windows(self) -> list[Window]:
        rows = self.conn.execute("SELECT id, track_id, idx, start_s, end_s FROM windows ORDER BY track_id, idx")
        return [Window(*r) for r in rows.fetchall()]

    def window_arrays(self) -> dict[str, np.ndarray]:
        """Every window as columns (id, track_id, idx, start_s, end_s), in window order (track, then idx):
        arrays rather than Window objects, which at tens of millions of windows would not fit in memory."""
        cur = self.conn.execute("SELECT id, track_id, idx, start_s, end_s FROM windows ORDER BY track_id, idx")
        cols = {"id": [], "track_id": [], "idx": [], "start_s": [], "end_s": []}
        while rows := cur.fetchmany(VECTOR_BATCH):
            for name, values in zip(cols, zip(*rows)):
                cols[name].append(np.array(values, np.float64 if name.endswith("_s") else np.int64))
        return {name: np.concatenate(parts) if parts else np.zeros(0, np.float64 if name.endswith("_s") else np.int64)
                for name, parts in cols.items()}

    def count_window_vectors(self, encoder: str, kind: str) -> tuple[int, int]:
        """(rows, dimension) of one encoder output; (0, 0) when absent."""
        n = self.conn.execute("SELECT COUNT(*) FROM window_vectors WHERE encoder=? AND kind=?", (encoder, kind)).fetchone()[0]
        row = self.conn.execute("SELECT vector FROM window_vectors WHERE encoder=? AND kind=? LIMIT 1",
                                (encoder, kind)).fetchone()
        return int(n), (len(row[0]) // 4 if row else 0)

    def iter_window_vectors(self, encoder: str, kind: str, batch: int | None = None):
        """(window ids, float32 vectors) of one encoder output in window order, `batch` rows at a time, so a
        library larger than memory can be copied into a memory map (library/vectors.py: window_features)."""
        cur = self.conn.execute(
            "SELECT w.id, v.vector FROM windows w JOIN window_vectors v ON v.window_id=w.id"
            " WHERE v.encoder=? AND v.kind=? ORDER BY w.track_id, w.idx",
            (encoder, kind),
        )
        while rows := cur.fetchmany(batch or VECTOR_BATCH):
            yield (np.array([r[0] for r in rows], np.int64),
                   np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), -1))

    def window_matrix(self, encoder: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """(window ids [N], vectors [N, D]) for one encoder output, in window order, in memory (libraries
        of any size: library/vectors.py window_features gives them as a memory map)."""
        parts = list(self.iter_window_vectors(encoder, kind))
        if not parts:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        return np.concatenate([i for i, _ in parts]), np.concatenate([v for _, v in parts])

    def stats(self) -> dict:
        n, secs = self.conn.execute("SELECT COUNT(*), COALESCE(SUM(duration_s), 0) FROM tracks").fetchone()
        n_windows = self.conn.execute("SELECT COUNT(*) FROM windows").fetchone()[0]
        n_fail = self.conn.execute("SELECT COUNT(*) FROM failures").fetchone()[0]
        n_rhythm, n_rhythm_failed = self.conn.execute(
            "SELECT COUNT(*), COUNT(error) FROM rhythm").fetchone()
        return {"tracks": n, "hours": secs / 3600.0, "windows": n_windows, "failures": n_fail,
                "rhythm_analysed": n_rhythm - n_rhythm_failed, "rhythm_failed": n_rhythm_failed}

    # -- rhythm (library/rhythm.py) -------------------------------------------------------
    def put_rhythm(self, track_id: int, version: str, rhythm=None, error: str | None = None) -> None:
        """Store one track's rhythm analysis, or the reason it failed (then the track has no tempo)."""
        def blob(values) -> bytes:
            return np.asarray(values if values is not None else [], np.float32).tobytes()

        r = rhythm
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO rhythm(track_id, version, bpm, beats, downbeats, energy, energy_hop_s,"
                " sections, note, error, analysed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (track_id, version, r.bpm if r else None, blob(r.beats if r else None),
                 blob(r.downbeats if r else None), blob(r.energy if r else None), r.energy_hop_s if r else 0.0,
                 blob(r.sections if r else None), r.note if r else "", error, _now()),
            )

    def tracks_without_rhythm(self, version: str, root_id: int | None = None) -> list[int]:
        """Ids of tracks with no rhythm row of this version (failed ones count as analysed)."""
        sql = ("SELECT t.id FROM tracks t LEFT JOIN rhythm h ON h.track_id=t.id AND h.version=?"
               " WHERE h.track_id IS NULL")
        params: tuple = (version,)
        if root_id is not None:
            sql, params = sql + " AND t.root_id=?", (version, root_id)
        return [int(r[0]) for r in self.conn.execute(sql + " ORDER BY t.id", params).fetchall()]

    def rhythm(self, track_id: int):
        """The track's `Rhythm`, or None when it was not analysed or the analysis failed."""
        from .rhythm import Rhythm

        row = self.conn.execute(
            "SELECT bpm, beats, downbeats, energy, energy_hop_s, sections, note FROM rhythm"
            " WHERE track_id=? AND error IS NULL", (track_id,)).fetchone()
        if row is None:
            return None
        arrays = [np.frombuffer(b, np.float32).astype(np.float64) for b in (row[1], row[2], row[3], row[5])]
        return Rhythm(bpm=row[0], beats=arrays[0], downbeats=arrays[1], energy=arrays[2], energy_hop_s=row[4],
                      sections=arrays[3], note=row[6])

    def track_tempos(self) -> dict[int, float]:
        """Track id -> BPM, for tracks whose analysis found a steady beat (others are missing)."""
        rows = self.conn.execute("SELECT track_id, bpm FROM rhythm WHERE bpm IS NOT NULL AND error IS NULL")
        return {int(tid): float(bpm) for tid, bpm in rows.fetchall()}

    def rhythm_failures(self) -> list[tuple[str, str]]:
        """(track path as indexed, reason) of every track whose rhythm analysis failed."""
        rows = self.conn.execute(
            "SELECT r.given, t.rel_path, h.error FROM rhythm h JOIN tracks t ON t.id=h.track_id"
            " JOIN roots r ON r.id=t.root_id WHERE h.error IS NOT NULL ORDER BY t.rel_path").fetchall()
        return [(os.path.join(given, rel), err) for given, rel, err in rows]
