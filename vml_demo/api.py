"""The small public API: load a music library once, then search it, tag and embed with it.

    from vml_demo import api

    library = api.load_library()                        # the bundled index, $VML_DB, or a folder you indexed
    response = library.search(text="calm acoustic guitar, no drums", k=5)
    response = library.search(text="calm", filters=api.SearchFilters(vocals="instrumental", license="permissive"))
    response = library.search(like=response.results[0].track_id, text="calmer")   # more like this, refined
    for r in response.results:
        print(r.rank, f"{r.score:+.3f}", r.title, r.path)
    song = library.embed_music("song.ogg")              # [D] unit vector in the library's music-text space
    words = library.embed_text(["jazz", "calm piano"])  # [2, D]; song @ words.T are cosine similarities
    library.tag("song.ogg", labels=["jazz", "metal"])   # zero-shot: [{"label", "score"}], best first
    api.tag("song.ogg")                                 # the taggers' own top tags per vocabulary

`Library` is the search engine of one index (`search`, `status`, `track_embeddings`) plus embedding and
tagging in the same space, so nothing reopens the index per call. The module-level functions use one
shared library, loaded on first use, unless given `library=`. Audio is a file path or mono float samples
(`sample_rate`, default 16 kHz). Bad input raises a `VmlError` subclass with a one-line message.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import LibraryError, QueryError
from .search.engine import SearchEngine
from .search.filters import SearchFilters
from .search.results import SearchResponse

class Library(SearchEngine):
    """One loaded library index: search, plus embedding and zero-shot tagging in its music-text space."""

    def embed_text(self, texts: str | Sequence[str]) -> np.ndarray:
        """Unit rows [N, D] in the music-text space, comparable with `embed_music` by dot product."""
        return self.space.embed_text([texts] if isinstance(texts, str) else list(texts))

    def embed_music(self, audio, sample_rate: int | None = None, per_window: bool = False) -> np.ndarray:
        """One unit vector [D] for the whole clip (mean of its 10 s windows), or [W, D] with per_window."""
        from .encoders.base import l2_normalize
        from .search.zero_shot import analyze_audio

        rows = self.space.window_embeddings(analyze_audio(*_decoded(audio, sample_rate)))
        return rows if per_window else l2_normalize(rows.mean(axis=0))

    def export_preview(self, video: str | os.PathLike, track: str | os.PathLike, out_dir: str | os.PathLike, *,
                       start_s: float | None = None, duck: bool | None = None,
                       keep_original_db: float | None = None, max_s: float | None = None) -> dict:
        """The export bundle (search/export.py) of `video` with `track`: a library file (by its path or its
        name in the library: its metadata and indexed rhythm are used) or any audio file (analysed now).
        start_s: where the match is in the track (default: the track's best window for this video, or 0)."""
        from .search.export import TrackInfo, export_bundle
        from .search.fitted_preview import track_rhythm

        found = self._library_track(track)
        if found is None:
            path = Path(track)
            if not path.is_file():
                raise QueryError(f"{path.name} is neither a file nor a track of this library")
            from .media.probe import probe

            info = TrackInfo(path.name, path.stem, "", "", "", probe(path).duration_s)
            rhythm = track_rhythm(path)
        else:
            path = found.abs_path
            info = TrackInfo(found.name, found.title, found.artist, found.license, found.attribution, found.duration_s)
            rhythm = self.store.rhythm(found.id)
        if start_s is None:
            start_s = self._best_start(video, found.id) if found is not None else 0.0
        return export_bundle(video, path, info, rhythm, start_s, out_dir, duck=duck,
                             keep_original_db=keep_original_db, max_s=max_s)

    def _library_track(self, track):
        wanted = str(track)
        resolved = Path(track).resolve() if Path(track).exists() else None
        for t in self.tracks.values():
            if wanted in (t.name, t.path) or (resolved is not None and t.abs_path == resolved):
                return t
        return None

    def _best_start(self, video, track_id: int) -> float:
        for r in self.search(video=video, video_weight=1.0, k=100).results:
            if r.track_id == track_id:
                return r.start_s
        return 0.0

    def tag(self, audio, labels: Sequence[str] | None = None, top: int = 10,
            sample_rate: int | None = None) -> dict | list[dict]:
        """With labels: zero-shot scores [{"label", "score"}] best first; without: `tag_audio`'s top tags."""
        return _tag(self.space if labels is not None else None, audio, labels, top, sample_rate)


def load_library(db_dir: str | os.PathLike | None = None, *, space: str | None = None,
                 profile: str | None = None) -> Library:
    """Open a library index (default: `VML_DB`, see settings) with its encoders and music-text space.

    space: "auto", "bridge", "trained", "ensemble" or a checkpoint folder (default: VML_SPACE, auto);
    profile: the encoder profile (default: the active one).
    """
    return Library(db_dir, space=space, profile=profile)


@functools.lru_cache(maxsize=1)
def _shared_library() -> Library:
    return load_library()


def search(text: str | None = None, video: str | os.PathLike | None = None, *, video_weight: float = 0.5,
           k: int = 5, filters: SearchFilters | None = None, like=None, prefer_instrumental: bool | None = None,
           library: Library | None = None) -> SearchResponse:
    """Rank the library's tracks for a description, a video, or both, or like a track (`like`: a track id or an
    audio file; text then refines it), within `filters` (see `SearchEngine.search`)."""
    return (library or _shared_library()).search(text=text, video=video, video_weight=video_weight, k=k,
                                                 filters=filters, like=like, prefer_instrumental=prefer_instrumental)


def embed_text(texts: str | Sequence[str], *, library: Library | None = None) -> np.ndarray:
    return (library or _shared_library()).embed_text(texts)


def embed_music(audio, sample_rate: int | None = None, *, per_window: bool = False,
                library: Library | None = None) -> np.ndarray:
    return (library or _shared_library()).embed_music(audio, sample_rate, per_window)


def tag(audio, labels: Sequence[str] | None = None, top: int = 10, sample_rate: int | None = None, *,
        library: Library | None = None, space: str | None = None,
        db_dir: str | os.PathLike | None = None) -> dict | list[dict]:
    """Top tags per vocabulary, or with labels zero-shot scores in the music-text space.

    Zero-shot scoring uses `library`'s space, else that of the library at db_dir (default index) opened
    with `space`; with no index there, the space is built without library statistics.
    """
    if labels is None:
        return _tag(None, audio, None, top, sample_rate)
    if library is None:
        try:
            library = _shared_library() if db_dir is None and space is None else load_library(db_dir, space=space)
        except LibraryError:
            return _tag(_space_without_library(space), audio, labels, top, sample_rate)
    return library.tag(audio, labels, top, sample_rate)


# ---- helpers ------------------------------------------------------------------------------------------------
def _tag(space, audio, labels, top, sample_rate):
    from .library.tagging import tag_audio
    from .search.zero_shot import analyze_audio, zero_shot_tag

    decoded = _decoded(audio, sample_rate)
    if labels is None:
        result = tag_audio(*decoded, top=top)
        return {"path": str(audio), **result} if not isinstance(audio, np.ndarray) else result
    if isinstance(labels, str):
        raise QueryError('Give the labels as a list, e.g. ["jazz", "rock", "calm piano"]')
    return zero_shot_tag(space, analyze_audio(*decoded), list(labels))


def _space_without_library(kind: str | None):
    from .settings import get_settings
    from .encoders.profiles import active_profile
    from .encoders.text import load_text_encoder
    from .search.spaces import choose_space

    return choose_space(kind or get_settings().space, None, load_text_encoder(active_profile().text_encoder))


def _decoded(audio, sample_rate: int | None) -> tuple[float, list[tuple[float, np.ndarray]]]:
    """(duration s, [(block start s, 16 kHz samples)]) of a file, or of mono samples, in the indexer's blocks."""
    from .library.indexer import BLOCK_S, SAMPLE_RATE, decode_track

    if not isinstance(audio, np.ndarray):
        if sample_rate is not None:
            raise QueryError("sample_rate applies to sample arrays; files are decoded at their own rate")
        return decode_track(Path(audio))
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim == 2 and 1 in samples.shape:
        samples = samples.reshape(-1)
    if samples.ndim != 1:
        raise QueryError(f"Audio samples must be mono, one dimension; got shape {tuple(audio.shape)}")
    if not np.isfinite(samples).all():
        raise QueryError("Audio samples contain NaN or infinite values")
    rate = SAMPLE_RATE if sample_rate is None else int(sample_rate)
    if rate <= 0:
        raise QueryError(f"sample_rate must be positive, got {sample_rate}")
    if rate != SAMPLE_RATE:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(rate, SAMPLE_RATE)
        samples = resample_poly(samples, SAMPLE_RATE // g, rate // g).astype(np.float32)
    if len(samples) < SAMPLE_RATE // 20:  # as decode_track: under 0.05 s is no audio
        raise QueryError(f"Audio is too short ({len(samples) / SAMPLE_RATE:.2f} s)")
    step = int(BLOCK_S * SAMPLE_RATE)
    blocks = [(start / SAMPLE_RATE, samples[start:start + step]) for start in range(0, len(samples), step)]
    return len(samples) / SAMPLE_RATE, blocks


__all__ = ["Library", "SearchFilters", "load_library", "search", "embed_text", "embed_music", "tag"]
