"""What a search returns: ranked tracks with the reason for each, and the query's points for the map.

`SearchResponse.to_json()` is the stable shape printed by `search --json` and returned by the app's API:
a top-level `route` ("text", "zero-shot-video", "viml" or "like") beside a `results` list whose items hold at
least file, title, artist, license, score, start_s, bpm (null when the track has no tempo), tags and `fit`
(why it ranked: search/breakdown.py); the active `filters`, what each removed (`filter_report`), `like` / `refine` and `prefer_instrumental` say how
the query was narrowed and changed. No key is called `path` (gradio_client takes any dict
with a `path` string for a file to download) and no server path appears: `file` is relative to the library.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


_SERVER_ONLY = ("path", "abs_path")  # where the server keeps the file: never sent to clients


@dataclass
class TrackResult:
    rank: int
    track_id: int
    path: str  # as indexed (the folder as the user named it + the file's relative path)
    abs_path: str  # where the file is on this machine (for players and muxing)
    title: str
    artist: str
    license: str
    attribution: str
    score: float  # cosine similarity of the query and the best window, after negation penalties
    start_s: float  # best start offset in the track (the best-matching window)
    duration_s: float
    tags: list[str]  # the track's own strongest vocabulary terms
    why: list[str]  # query words this track matches (vocabulary terms found in both)
    file: str = ""  # the file relative to its library folder: what API clients and visitors are shown
    bpm: float | None = None  # the track's tempo from its rhythm analysis; None when it has none
    fit: dict = field(default_factory=dict)  # the breakdown of why it ranked (search/breakdown.py)


@dataclass
class QueryPoints:
    """Query embeddings in the music space (for the embedding map); None where a modality was absent."""

    video: np.ndarray | None = None
    text: np.ndarray | None = None
    fused: np.ndarray | None = None


@dataclass
class SearchResponse:
    route: str  # which search route ran: "text", "zero-shot-video", "viml" or "like"
    results: list[TrackResult]
    query_text: str = ""
    video_description: str = ""  # the words the zero-shot path derived from the video, if any
    negated: list[str] = field(default_factory=list)  # vocabulary terms the query asked to avoid
    space: str = ""  # the music-text space used ("tag-bridge" or a checkpoint name)
    points: QueryPoints = field(default_factory=QueryPoints)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    score_blend: str = ""  # ViML path: how the video-text weight blended the scores (viml_path.blend_weights)
    filters: list[str] = field(default_factory=list)  # the active filters, e.g. "tempo 90-120 BPM"
    filter_report: list[str] = field(default_factory=list)  # what each filter removed
    like: dict | None = None  # more like this: {"kind": "track" | "clip", "title", "track_id"}
    refine: str = ""  # the refine arithmetic when words refined a "like" query
    prefer_instrumental: bool = False  # whether tracks were lowered by their vocals score
    speech_score: float | None = None  # the query video's speech (mean YAMNet Speech score), None without one
    # Zero-shot video path: why the video got its words, what EfficientNet-Lite0 saw per segment (top
    # classes, the words they gave), the soundtrack's YAMNet "Music" score and the share its own music took.
    video_reasons: list[str] = field(default_factory=list)
    video_seen: list[dict] = field(default_factory=list)
    heard_music: float | None = None
    own_music_weight: float = 0.0

    def video_lines(self) -> list[str]:
        """Plain sentences on what the zero-shot path saw and heard, for the app and the CLI."""
        lines = []
        for s in self.video_seen:
            seen = ", ".join(f"{c} {p:.0%}" for c, p in s["classes"]) or "nothing it knows"
            gave = f"; words: {', '.join(s['words'])}" if s["words"] else ""
            lines.append(f"at {s['start_s']:.0f} s it saw: {seen}{gave}")
        if self.heard_music is not None:
            heard = "music heard" if self.own_music_weight > 0 else "no music worth following heard"
            share = f", {self.own_music_weight:.0%} of the video query is that music" if self.own_music_weight else ""
            lines.append(f"soundtrack: {heard} (YAMNet Music {self.heard_music:.2f}){share}")
        lines += [f"because {r}" for r in self.video_reasons]
        return lines

    def to_json(self) -> dict:
        return {
            "route": self.route,
            "space": self.space,
            "query_text": self.query_text,
            "video_description": self.video_description,
            "negated": self.negated,
            "score_blend": self.score_blend,
            "filters": self.filters,
            "filter_report": self.filter_report,
            "like": self.like,
            "refine": self.refine,
            "prefer_instrumental": self.prefer_instrumental,
            "speech_score": None if self.speech_score is None else round(self.speech_score, 4),
            "video_reasons": self.video_reasons,
            "video_seen": [{"start_s": s["start_s"], "classes": [{"label": c, "prob": p} for c, p in s["classes"]],
                            "words": s["words"]} for s in self.video_seen],
            "heard_music": None if self.heard_music is None else round(self.heard_music, 3),
            "own_music_weight": self.own_music_weight,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "results": [{**{k: v for k, v in asdict(r).items() if k not in _SERVER_ONLY}, "score": round(r.score, 4),
                         "start_s": round(r.start_s, 2)} for r in self.results],
        }
