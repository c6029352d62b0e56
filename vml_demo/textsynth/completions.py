"""An on-disk cache of language-model completions, so training and benchmarks never generate a text twice.

Decoding is greedy, so a completion is a function of (model, decoding settings, prompt): the key is the sha256
of those together with the target's tags (the tags are in the prompt; keeping them in the key and the row makes
the cache readable and a tag-format change a miss). One SQLite file under the user cache; safe to share
between processes (SQLite locks), and writes are committed at once, so an interrupted run keeps what it made.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

from vml_demo.settings import get_settings

_SCHEMA = """CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY, model_id TEXT NOT NULL, tags TEXT NOT NULL, prompt TEXT NOT NULL,
    completion TEXT NOT NULL, seconds REAL NOT NULL)"""


def default_cache_path() -> Path:
    return get_settings().cache_home.expanduser() / "vml_demo" / "text_lm" / "completions.sqlite"


def completion_key(model_id: str, decoding: str, prompt: str, tags: str) -> str:
    return hashlib.sha256(json.dumps([model_id, decoding, prompt, tags]).encode("utf-8")).hexdigest()


class CompletionCache:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        with self._lock, self._db:
            self._db.execute(_SCHEMA)

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT completion FROM completions WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put(self, key: str, model_id: str, tags: str, prompt: str, completion: str, seconds: float) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?, ?)",
                             (key, model_id, tags, prompt, completion, float(seconds)))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        self._db.close()
