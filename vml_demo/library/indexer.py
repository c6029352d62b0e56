"""`index FOLDER`: decode each track, run the music encoders, pool into 10 s windows, store.

Incremental: a file whose content hash (and the encoder set: names, output versions and weight hashes)
is unchanged is skipped; a file that
failed before with the same content is skipped too, and reported again. Resumable and atomic: each
track is one SQLite transaction. The encoder set is kept per root: changing encoders re-indexes only the
root being indexed (other roots are named in the report, to be indexed again). Vector indexes are built by
the search layer from the store when it loads, so indexing writes none. A broken file is recorded with its
one-line reason and never stops the run.
"""
from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..encoders.base import AudioEncoder
from ..errors import LibraryError, MediaError
from ..media.hashing import file_sha256
from .metadata import load_sidecar, track_metadata
from .store import LibraryStore
from .windows import concat_frames, pool_into_windows, window_spans

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = {".ogg", ".oga", ".opus", ".mp3", ".wav", ".flac", ".m4a", ".aac", ".wma", ".aif", ".aiff"}
SAMPLE_RATE = 16000  # every music encoder here runs at 16 kHz: decode once per track
BLOCK_S = 300.0  # long files are analysed in 5-minute blocks (a multiple of musicnn's 3 s and YAMNet's 0.48 s hop)

ProgressFn = Callable[[int, int, str], None]  # (done, total, current file)


@dataclass
class IndexReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)
    audio_seconds: float = 0.0
    stale_roots: list[str] = field(default_factory=list)  # other roots indexed with other encoders

    def summary(self) -> str:
        text = (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed, {len(self.failed)} failed"
        )
        if self.stale_roots:
            text += f"; indexed with other encoders, index again: {', '.join(self.stale_roots)}"
        return text


def find_audio_files(folder: Path) -> list[str]:
    """Relative paths of audio files under folder, sorted (hidden files and folders skipped)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_EXTENSIONS:
                found.append(os.path.relpath(Path(dirpath) / name, folder))
    return sorted(found)


def decode_track(path: Path) -> tuple[float, list[tuple[float, np.ndarray]]]:
    """(duration in s, [(block start s, samples)]) at 16 kHz mono, in 5-minute blocks."""
    from ..media.audio import stream_audio

    blocks, offset = [], 0.0
    for block in stream_audio(path, SAMPLE_RATE, block_s=BLOCK_S):
        if len(block):
            blocks.append((offset, block))
            offset += len(block) / SAMPLE_RATE
    if not blocks or offset <= 0.05:
        from ..errors import EmptyMediaError

        raise EmptyMediaError(f"{path.name} has no decodable audio")
    return offset, blocks


def analyze_track(blocks: list[tuple[float, np.ndarray]], duration_s: float, encoders: Iterable[AudioEncoder],
                  spans: list[tuple[float, float]] | None = None):
    """Windows and per-window vectors {(encoder, 'emb'|'scores'): [W, D]} for one decoded track.

    spans: the windows to pool into (default: the library's overlapping 10 s windows).
    """
    spans = window_spans(duration_s) if spans is None else spans
    vectors: dict[tuple[str, str], np.ndarray] = {}
    for enc in encoders:
        frames = concat_frames([(offset, enc.analyze(samples)) for offset, samples in blocks])
        emb, scores = pool_into_windows(frames, spans)
        vectors[(enc.name, "emb")] = emb
        vectors[(enc.name, "scores")] = scores
    return spans, vectors


def index_folder(
    folder: str | os.PathLike,
    db_dir: str | os.PathLike,
    *,
    encoders: list[AudioEncoder] | None = None,
    progress: ProgressFn | None = None,
    show_progress: bool = False,
    prune: bool = True,
    given: str | None = None,
) -> IndexReport:
    """Index `folder` into the library at `db_dir`. `given`: the name reports use for the folder (default: as
    passed), so an app can report files without showing where they are on the server."""
    folder_path = Path(folder)
    if not folder_path.is_dir():
        raise LibraryError(f"{given or folder} is not a folder")
    if encoders is None:
        from ..encoders.profiles import music_encoders

        encoders = music_encoders()
    store = LibraryStore(db_dir, create=True)
    try:
        return _index(store, folder_path, given or str(folder), encoders, progress, show_progress, prune)
    finally:
        store.close()


def _index(store, folder, given, encoders, progress, show_progress, prune) -> IndexReport:
    report = IndexReport()
    root_id = store.root_id(folder, given)
    # Keyed on each encoder's fingerprint (name, output version, weights), not its name alone: an index
    # built by older encoder code is indexed again rather than read as if it were current.
    encoder_set = json.dumps(sorted(e.fingerprint() for e in encoders))
    if store.root_encoder_set(root_id) not in (None, encoder_set):
        log.info("encoder set changed: the tracks of %s are indexed again", given)
        store.clear_root(root_id)
    store.set_root_encoder_set(root_id, encoder_set)
    for enc in encoders:
        store.register_encoder(enc.name, enc.vocabulary, list(enc.labels), int(enc.embedding_dim))

    files = find_audio_files(folder)
    sidecar = load_sidecar(folder)
    todo = []
    for rel in files:
        digest = file_sha256(folder / rel)
        known = store.known_hash(root_id, rel)
        failure = store.known_failure(root_id, rel)
        if known == digest:
            report.unchanged.append(os.path.join(given, rel))
        elif failure and failure[0] == digest:  # same broken content: report it again, don't re-decode
            report.failed.append((os.path.join(given, rel), failure[1]))
        else:
            todo.append((rel, digest, known is not None))

    bar = None
    if show_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="track", desc="indexing")

    def decode(rel):
        try:
            return decode_track(folder / rel)
        except MediaError as err:
            return err

    # Decode the next file in a thread while the encoders work on the current one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(decode, todo[0][0]) if todo else None
        for i, (rel, digest, existed) in enumerate(todo):
            decoded = pending.result()
            pending = pool.submit(decode, todo[i + 1][0]) if i + 1 < len(todo) else None
            shown = os.path.join(given, rel)
            if progress:
                progress(i, len(todo), shown)
            try:
                if isinstance(decoded, MediaError):
                    raise decoded
                duration_s, blocks = decoded
                spans, vectors = analyze_track(blocks, duration_s, encoders)
                store.add_track(
                    root_id, rel, content_hash=digest, size_bytes=(folder / rel).stat().st_size,
                    duration_s=duration_s, meta=track_metadata(folder, rel, sidecar), windows=spans, vectors=vectors,
                )
                report.audio_seconds += duration_s
                (report.updated if existed else report.added).append(shown)
            except MediaError as err:
                log.warning("skipped %s: %s", shown, err)
                store.record_failure(root_id, rel, digest, str(err))
                report.failed.append((shown, str(err)))
            if bar:
                bar.update(1)
    if bar:
        bar.close()
    if prune:
        report.removed = [os.path.join(given, r) for r in store.remove_missing(root_id, set(files))]
    report.stale_roots = [r for r in store.roots_with_other_encoders(encoder_set) if r != given]
    if progress:
        progress(len(todo), len(todo), "done")
    return report
