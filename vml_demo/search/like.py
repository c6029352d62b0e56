"""More like this, and refine: a track (from the library or an uploaded clip) as the query, optionally nudged by words.

- **Like a library track**: the query is the track's vector in the music space, the normalised mean of its
  window vectors (the same vector the map and stage-1 ranking use). The track itself is never returned.
- **Like a clip**: the clip goes through the library's music encoders (musicnn MTT + MSD, YAMNet, 10 s windows)
  and the music space, and the mean of its window vectors is the query. A clip whose bytes are a library
  track's is that track (and is not returned).
- **Refine** ("like #2 but calmer"): query = normalise(like + w * text), with like and text unit vectors in the
  music space and w = config.REFINE_TEXT_WEIGHT; negated phrases in the words ("but no drums") are penalties
  in ranking as on the text path.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import config
from ..encoders.base import l2_normalize
from ..errors import QueryError


@dataclass
class LikeQuery:
    vector: np.ndarray  # unit vector in the music space
    label: str  # what the query is like, for people: the track's title or the clip's file name
    track_id: int | None = None  # the library track it is (excluded from the results), if any
    kind: str = "track"  # "track" (a library track) or "clip" (an audio file)


def refine(like_vec: np.ndarray, text_vec: np.ndarray | None, weight: float = config.REFINE_TEXT_WEIGHT) -> np.ndarray:
    """normalise(like + weight * text): the refine arithmetic (module docstring)."""
    if text_vec is None:
        return like_vec
    return l2_normalize(np.asarray(like_vec, np.float32) + float(weight) * np.asarray(text_vec, np.float32))


def describe_refine(weight: float = config.REFINE_TEXT_WEIGHT) -> str:
    return f"query = normalise(track + {weight:g} x text)"


def like_track(engine, track_id: int) -> LikeQuery:
    """The query for a library track, by id."""
    track = engine.tracks.get(int(track_id))
    positions = np.flatnonzero(engine.ranker.track_ids == int(track_id))
    if track is None or not len(positions):
        raise QueryError(f"Track {track_id} is not in this library: pick one from the results")
    return LikeQuery(engine.ranker.track_vecs[positions[0]], track.title, int(track_id), "track")


def library_track_for(engine, like: str | Path) -> int | None:
    """The library track that `like` names (its file as results show it, or its indexed path), if any."""
    text = str(like)
    for track in engine.tracks.values():
        if text in (track.name, track.path, str(track.abs_path)):
            return track.id
    return None


def like_clip(engine, path: str | Path) -> LikeQuery:
    """The query for an audio file: a library track when it is one (by name or by content), else the clip itself."""
    from ..library.indexer import decode_track
    from ..media.hashing import file_sha256
    from .zero_shot import analyze_audio

    known = library_track_for(engine, path)
    if known is not None:
        return like_track(engine, known)
    path = Path(path)
    if not path.is_file():
        raise QueryError(f"{path.name}: no such audio file or library track")
    digest = file_sha256(path)
    same = [t.id for t in engine.tracks.values() if t.content_hash == digest]
    if same:
        return like_track(engine, same[0])
    rows = engine.space.window_embeddings(analyze_audio(*decode_track(path)))
    return LikeQuery(l2_normalize(rows.mean(axis=0)), path.name, None, "clip")


def resolve_like(engine, like) -> LikeQuery:
    """`like` as a library track id (int) or an audio file / a library file as results name it."""
    if isinstance(like, (int, np.integer)):
        return like_track(engine, int(like))
    if not str(like).strip():
        raise QueryError("Give a library track or an audio file to search like")
    return like_clip(engine, str(like).strip())
