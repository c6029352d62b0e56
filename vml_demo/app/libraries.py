"""Music libraries the app knows: the bundled one plus those indexed from the UI, and one engine per library.

A library made in the UI lives in `<libraries dir>/<name>/`: `index/` holds its database (LibraryStore) and
`audio/` the files uploaded for it (a library indexed from a server folder reads the files in place).
The libraries dir is $VML_LIBRARIES_DIR, else ~/.cache/vml_demo/libraries. Engines are loaded once and
shared by all sessions; indexing a library drops its cached engine so the next search sees the new tracks.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import config
from ..errors import LibraryError, VmlError
from ..library.store import DB_FILENAME

log = logging.getLogger(__name__)

BUNDLED = "bundled"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

IndexProgress = Callable[[int, int, str], None]


def libraries_dir() -> Path:
    return Path(config.env_str("VML_LIBRARIES_DIR", str(Path.home() / ".cache" / "vml_demo" / "libraries")))


def on_hosted_space() -> bool:
    """On a Hugging Face Space (SPACE_ID set), the server's folders are not the visitor's to index."""
    return bool(config.env_str("SPACE_ID", ""))


def check_library_name(name: str) -> str:
    name = (name or "").strip().lower()
    if name == BUNDLED:
        raise LibraryError(f"'{BUNDLED}' is the name of the bundled library: choose another name")
    if not _NAME_RE.match(name):
        raise LibraryError("A library name is 1-40 characters: lower-case letters, digits, '-' or '_' "
                           "(starting with a letter or digit)")
    return name


@dataclass
class IndexOutcome:
    name: str
    summary: str  # IndexReport.summary()
    tracks: int  # tracks in the library after indexing
    failed: list[tuple[str, str]]  # (file, one-line reason)


class LibraryRegistry:
    """Which libraries exist, where their index is, and a cache of loaded SearchEngines."""

    def __init__(self, root: Path | None = None, bundled_db: Path | None = None):
        self.root = Path(root) if root is not None else libraries_dir()
        self.bundled_db = Path(bundled_db) if bundled_db is not None else config.default_db_dir()
        self._engines: dict[str, object] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    # -- naming -------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """The bundled library first, then UI-made libraries that hold an index, by name."""
        found = []
        if self.root.is_dir():
            found = sorted(p.name for p in self.root.iterdir() if (p / "index" / DB_FILENAME).exists()
                           and _NAME_RE.match(p.name))
        return [BUNDLED, *found]

    def db_dir(self, name: str) -> Path:
        if name == BUNDLED:
            return self.bundled_db
        if not _NAME_RE.match(name or ""):
            raise LibraryError(f"Unknown library {name!r}")
        return self.root / name / "index"

    def audio_dir(self, name: str) -> Path:
        return self.root / check_library_name(name) / "audio"

    # -- engines ------------------------------------------------------------------------------
    def _lock_for(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def engine(self, name: str):
        """The loaded `api.Library` (a SearchEngine) of a library, on first use (one load at a time per library)."""
        if name in self._engines:
            return self._engines[name]
        with self._lock_for(name):
            if name not in self._engines:
                if name not in self.names():
                    raise LibraryError(f"Unknown library {name!r} (known: {', '.join(self.names())})")
                from ..api import load_library

                log.info("loading library %s from %s", name, self.db_dir(name))
                self._engines[name] = load_library(self.db_dir(name))
            return self._engines[name]

    def is_loaded(self, name: str) -> bool:
        return name in self._engines

    def forget(self, name: str) -> None:
        self._engines.pop(name, None)

    # -- indexing -----------------------------------------------------------------------------
    def index_folder(self, name: str, folder: str | os.PathLike, progress: IndexProgress | None = None) -> IndexOutcome:
        """Index (or update) library `name` from a folder of audio files on this server."""
        from ..library.indexer import find_audio_files, index_folder

        name = check_library_name(name)
        given = str(folder).strip()
        if not given:
            raise LibraryError("Give the folder on the server that holds the music")
        folder = Path(os.path.expanduser(given))
        if not folder.is_dir():
            raise LibraryError(f"{given} is not a folder on this server")
        if not find_audio_files(folder):
            raise LibraryError(f"{folder} has no audio files (looked for ogg, opus, mp3, wav, flac, m4a, ...)")
        db = self.db_dir(name)
        is_new = not (db / DB_FILENAME).exists()
        with self._lock_for(name):
            try:
                report = index_folder(folder, db, progress=progress)
            except VmlError:
                if is_new:
                    self._remove(name)
                raise
            self.forget(name)
            tracks = self._track_count(db)
            if tracks == 0:
                if is_new:
                    self._remove(name)
                first = f": {report.failed[0][0]}: {report.failed[0][1]}" if report.failed else ""
                raise LibraryError(f"No readable audio in {folder} ({len(report.failed)} files failed{first})")
        return IndexOutcome(name, report.summary(), tracks, list(report.failed))

    def index_uploads(self, name: str, files: list[str], progress: IndexProgress | None = None) -> IndexOutcome:
        """Copy uploaded audio files into the library's own folder, then index that folder."""
        from ..library.indexer import AUDIO_EXTENSIONS

        name = check_library_name(name)
        if not files:
            raise LibraryError("Upload some audio files, or give a folder on the server")
        usable = [Path(f) for f in files if Path(f).suffix.lower() in AUDIO_EXTENSIONS]
        if not usable:
            raise LibraryError("None of the uploaded files is audio (expected ogg, opus, mp3, wav, flac, m4a, ...)")
        target = self.audio_dir(name)
        target.mkdir(parents=True, exist_ok=True)
        for src in usable:
            stem = re.sub(r"[^\w.-]", "_", src.stem)[:80] or "track"
            shutil.copyfile(src, target / f"{stem}{src.suffix.lower()}")
        return self.index_folder(name, target, progress)

    def _track_count(self, db: Path) -> int:
        from ..library.store import LibraryStore

        store = LibraryStore(db)
        try:
            return int(store.stats()["tracks"])
        finally:
            store.close()

    def _remove(self, name: str) -> None:
        """Drop a new library that indexing left empty (with any files uploaded for it)."""
        shutil.rmtree(self.root / name, ignore_errors=True)
