"""`index FOLDER`: decode each track, run the music encoders, pool into 10 s windows, store.

Incremental: a file whose content hash (and the encoder set: names, output versions and weight hashes)
is unchanged is skipped; a file that
failed before with the same content is skipped too, and reported again. Resumable and atomic: each
track is one SQLite transaction. The encoder set is kept per root: changing encoders re-indexes only the
root being indexed (other roots are named in the report, to be indexed again). Vector indexes are built by
the search layer from the store when it loads, so indexing writes none. A broken file is recorded with its
one-line reason and never stops the run. Each track's rhythm (tempo, beats, bars, energy, sections: rhythm.py)
is analysed from the same decoded samples, in a thread of its own while the encoders run on the next track;
unchanged tracks that lack it (an index made before it, or by an
older RHYTHM_VERSION) are decoded and analysed too. A failed rhythm analysis is recorded and reported; the
track stays searchable.
"""
from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..encoders.base import AudioEncoder
from ..errors import LibraryError, MediaError
from ..media.hashing import file_sha256
from .metadata import load_sidecar, track_metadata
from .rhythm import RHYTHM_VERSION, analyze_rhythm
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
    rhythm_analysed: int = 0
    rhythm_failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): still searchable
    rhythm_seconds: float = 0.0  # time spent in rhythm analysis (not decoding)

    def summary(self) -> str:
        text = (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed, {len(self.failed)} failed"
        )
        if self.stale_roots:
            text += f"; indexed with other encoders, index again: {', '.join(self.stale_roots)}"
        if self.rhythm_analysed or self.rhythm_failed:
            text += f"; rhythm analysed for {self.rhythm_analysed} tracks ({len(self.rhythm_failed)} failed)"
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


def analyze_blocks(blocks: list[tuple[float, np.ndarray]], encoders: list[AudioEncoder],
                   pool: ThreadPoolExecutor | None = None) -> list:
    """Each encoder's AudioFrames over a track's blocks, the encoders running side by side.

    A front end shared by several encoders (both musicnn models read one log-mel) is computed once per block;
    the models then run in one thread each (onnxruntime and torch release the GIL), which on 2 cores used
    less CPU than one model at a time on both cores, and overlaps the small single-threaded ops.
    pool: threads to run them in (one per encoder; default: made for this call).
    """
    if pool is None:
        with ThreadPoolExecutor(max_workers=max(1, len(encoders))) as own:
            return analyze_blocks(blocks, encoders, own)
    per_block = []
    for offset, samples in blocks:
        fronts: dict = {}
        for enc in encoders:
            key = enc.front_end or id(enc)
            if key not in fronts:
                fronts[key] = enc.front(samples)
        jobs = [pool.submit(enc.analyze_front, fronts[enc.front_end or id(enc)]) for enc in encoders]
        per_block.append((offset, [job.result() for job in jobs]))
    return [concat_frames([(offset, outs[i]) for offset, outs in per_block]) for i in range(len(encoders))]


def analyze_track(blocks: list[tuple[float, np.ndarray]], duration_s: float, encoders: Iterable[AudioEncoder],
                  spans: list[tuple[float, float]] | None = None, pool: ThreadPoolExecutor | None = None):
    """Windows and per-window vectors {(encoder, 'emb'|'scores'): [W, D]} for one decoded track.

    spans: the windows to pool into (default: the library's overlapping 10 s windows).
    """
    spans = window_spans(duration_s) if spans is None else spans
    vectors: dict[tuple[str, str], np.ndarray] = {}
    encoders = list(encoders)
    for enc, frames in zip(encoders, analyze_blocks(blocks, encoders, pool)):
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


@dataclass
class IndexPlan:
    """What one run has to do: the files to (re)index as (relative path, content hash, already indexed)."""
    report: IndexReport
    root_id: int
    encoder_set: str
    files: list[str]
    sidecar: dict
    todo: list[tuple[str, str, bool]]


def plan_index(store: LibraryStore, folder: Path, given: str,
               encoders: list[tuple[str, str, list[str], int, str]]) -> IndexPlan:
    """Register the root and encoders ((name, vocabulary, labels, embedding dim, fingerprint)); sort files into
    unchanged, known failures and to do. A changed encoder set clears the root first."""
    report = IndexReport()
    root_id = store.root_id(folder, given)
    # Keyed on each encoder's fingerprint (name, output version, weights), not its name alone: an index
    # built by older encoder code is indexed again rather than read as if it were current.
    encoder_set = json.dumps(sorted(fingerprint for *_, fingerprint in encoders))
    if store.root_encoder_set(root_id) not in (None, encoder_set):
        log.info("encoder set changed: the tracks of %s are indexed again", given)
        store.clear_root(root_id)
    store.set_root_encoder_set(root_id, encoder_set)
    for name, vocabulary, labels, dim, _ in encoders:
        store.register_encoder(name, vocabulary, list(labels), int(dim))
    files = find_audio_files(folder)
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
    return IndexPlan(report, root_id, encoder_set, files, load_sidecar(folder), todo)


def encoder_descriptions(encoders: Iterable[AudioEncoder]) -> list[tuple[str, str, list[str], int, str]]:
    return [(e.name, e.vocabulary, list(e.labels), int(e.embedding_dim), e.fingerprint()) for e in encoders]


def store_track(store: LibraryStore, plan: IndexPlan, folder: Path, given: str, item: tuple[str, str, bool],
                result) -> int | None:
    """Write one analysed track (duration, spans, vectors) or its failure (a MediaError) in one transaction."""
    rel, digest, existed = item
    shown = os.path.join(given, rel)
    if isinstance(result, MediaError):
        log.warning("skipped %s: %s", shown, result)
        store.record_failure(plan.root_id, rel, digest, str(result))
        plan.report.failed.append((shown, str(result)))
        return
    duration_s, spans, vectors = result
    track_id = store.add_track(
        plan.root_id, rel, content_hash=digest, size_bytes=(folder / rel).stat().st_size,
        duration_s=duration_s, meta=track_metadata(folder, rel, plan.sidecar), windows=spans, vectors=vectors,
    )
    plan.report.audio_seconds += duration_s
    (plan.report.updated if existed else plan.report.added).append(shown)
    return track_id


def finish_index(store: LibraryStore, plan: IndexPlan, given: str, prune: bool,
                 progress: ProgressFn | None = None) -> IndexReport:
    report = plan.report
    # Rhythm for tracks that lack it (indexed before it existed, or stored by the Ray indexer's merge).
    _analyse_missing_rhythm(store, plan.root_id, given, report, progress)
    if prune:
        report.removed = [os.path.join(given, r) for r in store.remove_missing(plan.root_id, set(plan.files))]
    report.stale_roots = [r for r in store.roots_with_other_encoders(plan.encoder_set) if r != given]
    return report


def _index(store, folder, given, encoders, progress, show_progress, prune) -> IndexReport:
    plan = plan_index(store, folder, given, encoder_descriptions(encoders))
    todo = plan.todo

    bar = None
    if show_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="track", desc="indexing")

    def decode(rel):
        try:
            return decode_track(folder / rel)
        except MediaError as err:
            return err

    # Three stages overlap: the next file decodes in a thread, the encoders work on this one, and the
    # previous one's rhythm is analysed in a thread of its own (it used to run between tracks, while the
    # encoders waited and a core stood idle). The store is written from this thread only (SQLite).
    with ThreadPoolExecutor(max_workers=1) as pool, ThreadPoolExecutor(max_workers=1) as rhythm_pool, \
            ThreadPoolExecutor(max_workers=max(1, len(encoders))) as encoder_pool:
        pending = pool.submit(decode, todo[0][0]) if todo else None
        rhythm_job = None  # (track id, shown name, future of _rhythm_outcome) of the previous track
        for i, item in enumerate(todo):
            decoded = pending.result()
            pending = pool.submit(decode, todo[i + 1][0]) if i + 1 < len(todo) else None
            if progress:
                progress(i, len(todo), os.path.join(given, item[0]))
            try:
                if isinstance(decoded, MediaError):
                    raise decoded
                duration_s, blocks = decoded
                spans, vectors = analyze_track(blocks, duration_s, encoders, pool=encoder_pool)
                result = (duration_s, spans, vectors)
            except MediaError as err:
                result = err
            track_id = store_track(store, plan, folder, given, item, result)
            if rhythm_job:
                _put_rhythm(store, *rhythm_job, plan.report)
                rhythm_job = None
            if track_id is not None:
                future = rhythm_pool.submit(_rhythm_outcome, decoded[1], result[0])
                rhythm_job = (track_id, os.path.join(given, item[0]), future)
            if bar:
                bar.update(1)
        if rhythm_job:
            _put_rhythm(store, *rhythm_job, plan.report)
    if bar:
        bar.close()
    finish_index(store, plan, given, prune, progress)
    if progress:
        progress(len(todo), len(todo), "done")
    return plan.report


def _rhythm_outcome(blocks, duration_s: float) -> tuple[object, float]:
    """(Rhythm, or the one-line reason it failed; seconds spent): safe to run in a worker thread."""
    started = time.perf_counter()
    try:
        outcome = analyze_rhythm(blocks, duration_s)
    except Exception as err:  # noqa: BLE001 - any analysis failure is recorded; the track stays searchable
        outcome = f"rhythm analysis failed: {type(err).__name__}: {err}".splitlines()[0]
    return outcome, time.perf_counter() - started


def _put_rhythm(store: LibraryStore, track_id: int, shown: str, job, report: IndexReport) -> None:
    """Store one track's rhythm outcome (`job`: a finished or pending future of _rhythm_outcome, or its result)."""
    outcome, seconds = job.result() if hasattr(job, "result") else job
    if isinstance(outcome, str):
        log.warning("%s: %s", shown, outcome)
        store.put_rhythm(track_id, RHYTHM_VERSION, error=outcome)
        report.rhythm_failed.append((shown, outcome))
    else:
        store.put_rhythm(track_id, RHYTHM_VERSION, outcome)
        report.rhythm_analysed += 1
    report.rhythm_seconds += seconds


def _analyse_missing_rhythm(store: LibraryStore, root_id: int, given: str, report: IndexReport,
                            progress: ProgressFn | None) -> None:
    """Rhythm for this root's tracks that have none of the current version (e.g. indexed before it existed)."""
    todo = store.tracks_without_rhythm(RHYTHM_VERSION, root_id)
    if not todo:
        return
    tracks = {t.id: t for t in store.tracks()}
    for i, track_id in enumerate(todo):
        track = tracks[track_id]
        shown = os.path.join(given, track.name)
        if progress:
            progress(i, len(todo), f"rhythm: {shown}")
        try:
            duration_s, blocks = decode_track(track.abs_path)
        except MediaError as err:
            store.put_rhythm(track_id, RHYTHM_VERSION, error=f"rhythm analysis failed: {err}")
            report.rhythm_failed.append((shown, str(err)))
            continue
        _put_rhythm(store, track_id, shown, _rhythm_outcome(blocks, duration_s), report)
