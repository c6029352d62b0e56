"""The search engine of one library (what `api.load_library` returns builds on): loaded once, queried many times.

    engine = SearchEngine("assets/index")
    response = engine.search(text="calm acoustic guitar", video="clip.mp4", video_weight=0.5, k=5)

Ranking (ranking.py) scores every window exactly up to a size where that is cheap and is two-stage above;
the space (spaces.py) decides how music and text meet; video queries go through video_query.py, or through
viml_path.py when a trained ViML checkpoint fits.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..encoders.base import l2_normalize
from ..errors import QueryError, VmlError
from ..library.features import load_window_table
from ..library.store import LibraryStore
from ..settings import get_settings
from .explain import track_terms, why_matched
from .query import parse_query
from .ranking import Ranker
from .results import QueryPoints, SearchResponse, TrackResult
from .spaces import MusicSpace, choose_space

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


class SearchEngine:
    def __init__(self, db_dir: str | Path | None = None, *, space: str | None = None, profile: str | None = None):
        from ..encoders.profiles import active_profile
        from ..encoders.text import load_text_encoder

        import torch

        settings = get_settings()
        torch.set_num_threads(settings.query_threads)
        self.db_dir = Path(db_dir or settings.db_dir)
        self.store = LibraryStore(self.db_dir)
        self.table = load_window_table(self.store)
        self.tracks = {t.id: t for t in self.store.tracks()}
        self.profile = active_profile(profile)
        self.text_encoder = load_text_encoder(self.profile.text_encoder)
        self.space: MusicSpace = choose_space(space or settings.space, self.table, self.text_encoder)
        self.window_emb = self.space.window_embeddings(self.table)  # [N, D] normalised
        slices = self.table.track_slices()
        self.ranker = Ranker(self.window_emb, np.array(sorted(slices), np.int64), slices)
        self.terms = track_terms(self.table)  # track id -> its strongest vocabulary terms
        self.viml, self.viml_note = self._load_viml()

    def _load_viml(self):
        """The learned ViML path when a checkpoint fits the active encoders, else (None, why not)."""
        from .viml_path import VimlPath, default_viml_checkpoint

        ckpt = default_viml_checkpoint(self.profile)
        if not ckpt.exists():
            return None, (f"zero-shot video path: no trained ViML checkpoint at {ckpt.name} for these encoders "
                          "(train one on music videos with `python -m vml_demo train viml`)")
        try:
            viml = VimlPath(ckpt, self.table, self.profile, self.text_encoder, self.window_emb)
        except VmlError as err:
            return None, f"zero-shot video path: ViML checkpoint {ckpt.name} not used ({err})"
        return viml, f"ViML path: {viml.describe()}"

    # -- status -----------------------------------------------------------------------------
    def status(self) -> dict:
        stats = self.store.stats()
        return {
            "library": str(self.db_dir),
            "tracks": stats["tracks"],
            "hours": round(stats["hours"], 2),
            "profile": self.profile.name,
            "device": self.profile.device,
            "text_encoder": self.profile.text_encoder,
            "video_encoder": self.profile.video_encoder,
            "music_space": self.space.describe(),
            "video_model": self.viml_note,
            "notes": list(self.profile.reasons) + list(self.space.notes),
        }

    # -- search -----------------------------------------------------------------------------
    def search(
        self,
        text: str | None = None,
        video: str | Path | None = None,
        *,
        video_weight: float = 0.5,
        k: int = 5,
        progress: Progress | None = None,
    ) -> SearchResponse:
        text = (text or "").strip()
        if len(text) > 2000:
            raise QueryError("The description is too long (over 2000 characters); shorten it")
        if not text and video is None:
            raise QueryError("Give a video, a description of the music, or both")
        if not 0.0 <= video_weight <= 1.0:
            raise QueryError("The video weight must be between 0 (text only) and 1 (video only)")
        k = max(1, min(int(k), 100))
        report = progress or (lambda frac, desc: None)
        timings: dict[str, float] = {}
        query = parse_query(text)
        points = QueryPoints()
        path, description, vq = "text", "", None

        t0 = time.perf_counter()
        text_vec, neg_vecs = self.space.embed_query(query)
        timings["text_encoding"] = time.perf_counter() - t0
        if video is not None and video_weight > 0.0 and self.viml is not None:
            # The learned path: the weight blends ViML's video-only, its fused video+text and the text
            # space's scores (viml_path.blend_weights); negations penalise windows as on the text path.
            report(0.05, "encoding the video with the ViML model")
            video_only, fused_q, vt = self.viml.encode_query(video, query.positive if video_weight < 1.0 else "",
                                                             report)
            timings.update(vt)
            vec, weights = self.viml.query_vector(video_only, fused_q, text_vec if query.positive else None,
                                                  video_weight)
            report(0.9, "ranking the library")
            t1 = time.perf_counter()
            hits = self.viml.ranker.rank(vec, k, neg_vecs)
            timings["search"] = time.perf_counter() - t1
            report(1.0, "done")
            from .viml_path import describe_blend

            return SearchResponse(route="viml", results=self._results(hits, query), query_text=text,
                                  score_blend=describe_blend(weights), negated=query.negated,
                                  space=f"viml:{self.viml.source.name}", points=QueryPoints(), timings=timings)
        if video is not None and video_weight > 0.0:
            from .video_query import encode_video_query

            vq = encode_video_query(self, video, report)
            timings.update(vq.timings)
            path, description, video_vec = vq.path, vq.description, vq.vector
            points.video = video_vec
            if text_vec is None or video_weight >= 1.0:
                fused = video_vec
            else:  # ViML's `add` fusion, weighted by the user
                fused = l2_normalize(video_weight * video_vec + (1.0 - video_weight) * text_vec)
        else:
            if text_vec is None:
                raise QueryError("The video weight is 0 but there is no description: give one, or raise the weight")
            fused = text_vec
        points.text, points.fused = text_vec, fused

        report(0.9, "ranking the library")
        t1 = time.perf_counter()
        results = self._rank(fused, neg_vecs, k, query)
        timings["search"] = time.perf_counter() - t1
        report(1.0, "done")
        return SearchResponse(
            route=path, results=results, query_text=text, video_description=description, negated=query.negated,
            space=self.space.key, points=points, timings=timings,
            **({} if vq is None else {"video_reasons": vq.reasons, "video_seen": vq.seen, "heard_music": vq.heard_music,
                                      "own_music_weight": vq.own_music_weight}),
        )

    def _rank(self, query_vec: np.ndarray, neg_vecs: np.ndarray | None, k: int, query) -> list[TrackResult]:
        return self._results(self.ranker.rank(query_vec, k, neg_vecs), query)

    def _results(self, hits, query) -> list[TrackResult]:
        out = []
        for rank, hit in enumerate(hits, start=1):
            t = self.tracks[hit.track_id]
            terms = self.terms.get(hit.track_id, [])
            out.append(TrackResult(
                rank=rank, track_id=hit.track_id, path=t.path, abs_path=str(t.abs_path), file=t.name, title=t.title,
                artist=t.artist, license=t.license, attribution=t.attribution, score=hit.score,
                start_s=float(self.table.starts[hit.row]), duration_s=t.duration_s, tags=terms[:6],
                why=why_matched(query, terms),
            ))
        return out

    # -- the embedding map ----------------------------------------------------------------
    def track_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """(track ids, one normalised vector per track in the music space)."""
        return self.ranker.track_ids, self.ranker.track_vecs
