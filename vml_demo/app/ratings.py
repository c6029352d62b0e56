"""Thumbs up/down ratings from qualitative evaluation sessions, kept with the active library.

The `ratings` table lives in an SQLite database in the library's index folder (`ratings.sqlite`, beside
`library.sqlite`), so ratings travel with the library they judge, while the index itself is never written by
the app: the bundled index is a tracked file that a rating session must not modify. Each row records the query (text, video file
name, video weight), the search path and music space, the encoders, profile and device, the rated track and
the whole ranked list the rater saw. Rating the same result of the same search again replaces the earlier
vote, so a change of mind is one row, not two. The app exports a session's own ratings; every session's only
where the operator sets VML_EXPORT_ALL_RATINGS.
"""
from __future__ import annotations

import csv
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

RATINGS_FILENAME = "ratings.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ratings (
    id INTEGER PRIMARY KEY,
    rated_at TEXT NOT NULL,
    session TEXT NOT NULL,
    search_id TEXT NOT NULL,
    query_text TEXT NOT NULL,
    video_name TEXT NOT NULL,
    video_weight REAL NOT NULL,
    search_path TEXT NOT NULL,
    space TEXT NOT NULL,
    profile TEXT NOT NULL,
    text_encoder TEXT NOT NULL,
    video_encoder TEXT NOT NULL,
    device TEXT NOT NULL,
    rank INTEGER NOT NULL,
    track_id INTEGER NOT NULL,
    track_path TEXT NOT NULL,
    title TEXT NOT NULL,
    artist TEXT NOT NULL,
    score REAL NOT NULL,
    start_s REAL NOT NULL,
    rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    comment TEXT NOT NULL DEFAULT '',
    results_json TEXT NOT NULL,
    UNIQUE (session, search_id, track_id)
);
"""

CSV_COLUMNS = [
    "rated_at", "session", "search_id", "query_text", "video_name", "video_weight", "search_path", "space",
    "profile", "text_encoder", "video_encoder", "device", "rank", "track_id", "track_path", "title", "artist",
    "score", "start_s", "rating", "comment", "results_json",
]
MAX_COMMENT_CHARS = 2000


@dataclass
class RatedSearch:
    """What a rating needs to know about the search it belongs to."""

    session: str
    search_id: str
    query_text: str
    video_name: str
    video_weight: float
    search_path: str
    space: str
    profile: str
    text_encoder: str
    video_encoder: str
    device: str
    results: list[dict]  # SearchResponse.to_json()["results"]


class RatingsTable:
    def __init__(self, db_dir: str | Path):
        path = Path(db_dir) / RATINGS_FILENAME
        self.conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
        # Each vote is one transaction in SQLite's write-ahead log: a crash (even kill -9) mid-write loses at most
        # that vote, never the table; synchronous=FULL makes a committed vote survive a power cut too.
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "RatingsTable":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def rate(self, search: RatedSearch, rank: int, rating: int, comment: str = "") -> None:
        """Save (or replace) the vote on result `rank` (1-based) of `search`."""
        if rating not in (-1, 1):
            raise ValueError(f"rating must be -1 or 1, got {rating}")
        result = next((r for r in search.results if r["rank"] == rank), None)
        if result is None:
            raise ValueError(f"the search has no result of rank {rank}")
        slim = [{k: r[k] for k in ("rank", "track_id", "title", "artist", "score", "start_s")} for r in search.results]
        row = {
            "rated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "session": search.session, "search_id": search.search_id, "query_text": search.query_text,
            "video_name": search.video_name, "video_weight": float(search.video_weight),
            "search_path": search.search_path, "space": search.space, "profile": search.profile,
            "text_encoder": search.text_encoder, "video_encoder": search.video_encoder, "device": search.device,
            "rank": rank, "track_id": int(result["track_id"]), "track_path": result["file"],
            "title": result["title"], "artist": result["artist"], "score": float(result["score"]),
            "start_s": float(result["start_s"]), "rating": rating,
            "comment": (comment or "").strip()[:MAX_COMMENT_CHARS], "results_json": json.dumps(slim),
        }
        columns = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        update = ", ".join(f"{k}=excluded.{k}" for k in ("rated_at", "rank", "rating", "comment"))
        with self.conn:
            self.conn.execute(
                f"INSERT INTO ratings ({columns}) VALUES ({marks}) "
                f"ON CONFLICT (session, search_id, track_id) DO UPDATE SET {update}", row)

    def rows(self, session: str | None = None) -> list[dict]:
        """Ratings in the order given, all of them or one session's."""
        sql = f"SELECT {', '.join(CSV_COLUMNS)} FROM ratings"
        args: tuple = ()
        if session is not None:
            sql += " WHERE session=?"
            args = (session,)
        cursor = self.conn.execute(sql + " ORDER BY id", args)
        return [dict(zip(CSV_COLUMNS, r)) for r in cursor.fetchall()]

    def export_csv(self, out_path: str | Path, session: str | None = None) -> tuple[Path, int]:
        """Write the ratings to a CSV file; returns (path, number of rows)."""
        rows = self.rows(session)
        out_path = Path(out_path)
        with open(out_path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        return out_path, len(rows)
