"""Per-session scratch folders, so two browser sessions never see (or delete) each other's files.

Each Gradio session (request.session_hash) gets `<temp>/vml_demo_sessions/<hash>/`; a client that sends no
session hash gets a folder of its own per search ("anon-<random>"), never one shared with other clients.
Each search gets a sub-folder for its excerpts and previews. Only the latest few searches of a session are
kept on disk, but a folder whose files are still being made (`in_use`) is never deleted; the whole session
folder goes when the tab closes (Blocks.unload), and folders left by a crash are swept at startup. The files
a visitor sees are Gradio's copies in its cache (served by content-hashed name), which
`Blocks(delete_cache=...)` cleans separately; these folders themselves are not served.
"""
from __future__ import annotations

import contextlib
import logging
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

log = logging.getLogger(__name__)

KEEP_SEARCHES = 3  # a session's older search folders are deleted when a new search starts
STALE_AFTER_S = 24 * 3600.0
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_-]")
_busy: Counter = Counter()  # search folders with excerpts or previews being made right now
_busy_lock = threading.Lock()


def sessions_root() -> Path:
    return Path(tempfile.gettempdir()) / "vml_demo_sessions"


def safe_name(text: str, default: str = "x", max_len: int = 60) -> str:
    """A file-name-safe version of `text` (letters, digits, _ and -)."""
    cleaned = _SAFE_NAME.sub("_", text.strip()).strip("_")[:max_len]
    return cleaned or default


def session_hash_of(request) -> str:
    """The session id of a Gradio request; a client without one gets a fresh id of its own."""
    given = getattr(request, "session_hash", None) or ""
    return safe_name(given) if given.strip("_ ") else f"anon-{uuid.uuid4().hex[:16]}"


def session_dir(session: str) -> Path:
    path = sessions_root() / safe_name(session)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def in_use(folder: Path):
    """Mark a search folder busy while its files are made, so a newer search does not delete it."""
    key = str(folder)
    with _busy_lock:
        _busy[key] += 1
    try:
        yield folder
    finally:
        with _busy_lock:
            _busy[key] -= 1
            if _busy[key] <= 0:
                del _busy[key]


def new_search_dir(session: str, search_id: str) -> Path:
    """A fresh folder for one search's files; drops this session's older idle search folders beyond KEEP_SEARCHES."""
    root = session_dir(session)
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    with _busy_lock:
        idle = [p for p in folders if str(p) not in _busy]
        for old in idle[: max(0, len(folders) - (KEEP_SEARCHES - 1))]:
            shutil.rmtree(old, ignore_errors=True)
    path = root / safe_name(search_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def search_dir(session: str, search_id: str) -> Path:
    """The folder of an earlier search of this session (recreated if it was swept)."""
    path = session_dir(session) / safe_name(search_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def delete_session(session: str) -> None:
    """Remove a session's folder (called when its tab closes)."""
    path = sessions_root() / safe_name(session)
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
        log.info("removed session folder %s", path.name)


def sweep_stale_sessions(max_age_s: float = STALE_AFTER_S) -> int:
    """Delete session folders untouched for `max_age_s` (left behind by a crash or a lost unload event)."""
    root = sessions_root()
    if not root.exists():
        return 0
    cutoff = time.time() - max_age_s
    removed = 0
    for path in root.iterdir():
        if path.is_dir() and path.stat().st_mtime < cutoff:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed
