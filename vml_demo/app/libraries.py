"""Music libraries the app knows: the bundled one plus those indexed from the UI, and one engine per library.

A library made in the UI lives in `<libraries dir>/<name>/`: `index/` holds its database (LibraryStore) and
`audio/` the files uploaded for it (a library indexed from a server folder reads the files in place; only
folders inside $VML_INDEX_ROOTS may be indexed, and none when it is unset).
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

from ..settings import get_settings
from ..errors import LibraryError, VmlError
from ..library.store import DB_FILENAME

log = logging.getLogger(__name__)

BUNDLED = "bundled"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

IndexProgress = Callable[[int, int, str], None]


def libraries_dir() -> Path:
    return get_settings().libraries_dir


def allowed_folder(given: str) -> tuple[Path, Path, str]:
    """(folder, the allowed root holding it, its name under that root) for a folder a visitor asked to index.

    Off unless the operator lists roots in VML_INDEX_ROOTS. A relative name is looked up under each root
    (or starts with a root's own name); '..' is refused, and so is a folder whose real path (symlinks
    followed) leaves the roots. Messages name folders relative to the roots, never by their server path.
    """
    roots = get_settings().index_roots
    if not roots:
        raise LibraryError("Indexing folders on the server is off here: upload your audio files instead "
                           "(the operator can allow folders with VML_INDEX_ROOTS)")
    given = (given or "").strip()
    if not given:
        raise LibraryError("Give the folder on the server that holds the music")
    if ".." in Path(given).parts:
        raise LibraryError("A folder name must not contain '..': name a folder inside the allowed folders")
    allowed = ", ".join(r.name for r in roots)
    candidates = []
    for root in roots:
        if Path(given).is_absolute():
            candidates.append((Path(given), root))
        else:
            candidates += [(root / given, root), (root.parent / given, root)]
    inside = [(c, r, Path(r.name, c.relative_to(r)).as_posix()) for c, r in candidates if c.is_relative_to(r)]
    for candidate, root, shown in inside:
        if not os.path.lexists(candidate):
            continue
        if not candidate.resolve().is_relative_to(root):
            raise LibraryError(f"{shown} links outside the folders this server allows indexing ({allowed})")
        if candidate.is_dir():
            return candidate.resolve(), root, shown
        raise LibraryError(f"{shown} is not a folder on this server")
    if inside:
        raise LibraryError(f"{inside[0][2]} is not a folder on this server")
    raise LibraryError(f"Only folders inside {allowed} may be indexed here: give one of those or a folder in it")


def _copy_without_overwriting(src: Path, target: Path, digest_of) -> Path:
    """Copy an upload into `target`; a different file of the same name gets '-2', '-3'... (same content: kept once)."""
    stem, suffix = re.sub(r"[^\w.-]", "_", src.stem)[:80] or "track", src.suffix.lower()
    digest = digest_of(src)
    dest, n = target / f"{stem}{suffix}", 2
    while dest.exists():
        if digest_of(dest) == digest:
            return dest
        dest, n = target / f"{stem}-{n}{suffix}", n + 1
    shutil.copyfile(src, dest)
    return dest


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
        self.bundled_db = Path(bundled_db) if bundled_db is not None else get_settings().db_dir
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
        """Index (or update) library `name` from a folder on this server inside one of VML_INDEX_ROOTS."""
        from ..library.indexer import find_audio_files

        name = check_library_name(name)
        path, root, shown = allowed_folder(str(folder))
        files = find_audio_files(path)
        if not files:
            raise LibraryError(f"{shown} has no audio files (looked for ogg, opus, mp3, wav, flac, m4a, ...)")
        escaping = next((rel for rel in files if not (path / rel).resolve().is_relative_to(root)), None)
        if escaping:
            raise LibraryError(f"{shown}/{escaping} links outside the folders this server allows indexing: "
                               "remove the link or copy the file in")
        with self._lock_for(name):
            return self._index(name, path, shown, progress)

    def index_uploads(self, name: str, files: list[str], progress: IndexProgress | None = None) -> IndexOutcome:
        """Copy uploaded audio files into the library's own folder (never over another file), then index it."""
        from ..library.indexer import AUDIO_EXTENSIONS
        from ..media.hashing import file_sha256

        name = check_library_name(name)
        if not files:
            raise LibraryError("Upload some audio files, or give a folder on the server")
        if len(files) > get_settings().max_uploads:
            raise LibraryError(f"{len(files)} files at once is too many: upload at most {get_settings().max_uploads}")
        usable = [Path(f) for f in files if Path(f).suffix.lower() in AUDIO_EXTENSIONS]
        if not usable:
            raise LibraryError("None of the uploaded files is audio (expected ogg, opus, mp3, wav, flac, m4a, ...)")
        limit = get_settings().max_upload_mb * 1024 * 1024
        too_big = next((f for f in usable if f.stat().st_size > limit), None)
        if too_big:
            raise LibraryError(f"{too_big.name} is over the {get_settings().max_upload_mb} MB upload limit")
        target = self.audio_dir(name)
        with self._lock_for(name):
            target.mkdir(parents=True, exist_ok=True)
            for src in usable:
                _copy_without_overwriting(src, target, file_sha256)
            return self._index(name, target, name, progress)

    def _index(self, name: str, folder: Path, shown: str, progress: IndexProgress | None) -> IndexOutcome:
        """Index `folder` into library `name` (caller holds the library's lock); `shown` names it in reports."""
        from ..library.indexer import index_folder

        db = self.db_dir(name)
        is_new = not (db / DB_FILENAME).exists()
        try:
            report = index_folder(folder, db, progress=progress, given=shown)
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
            raise LibraryError(f"No readable audio in {shown} ({len(report.failed)} files failed{first})")
        return IndexOutcome(name, report.summary(), tracks, list(report.failed))

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
