"""The search engine of one library (what `api.load_library` returns builds on): loaded once, queried many times.

    engine = SearchEngine("assets/index")
    response = engine.search(text="calm acoustic guitar", video="clip.mp4", video_weight=0.5, k=5)

Ranking (ranking.py) scores every window exactly up to a size where that is cheap and is two-stage above;
the space (spaces.py) decides how music and text meet; video queries go through video_query.py, or through
viml_path.py when a trained ViML checkpoint fits.
"""
from __future__ import annotations

import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .. import config
from ..encoders.base import l2_normalize
from ..errors import QueryError, VmlError
from ..library.features import load_window_table
from ..library.store import LibraryStore
from ..settings import get_settings
from ..textsynth.terms import window_term_matrix
from .breakdown import FitInputs, fit_breakdown
from .explain import track_terms, why_matched
from .filters import FilterError, SearchFilters, TrackFacts, filter_mask, license_class, track_vocal_scores
from .like import describe_refine, refine, resolve_like
from .query import parse_query
from .ranking import Ranker
from .results import QueryPoints, SearchResponse, TrackResult
from .spaces import MusicSpace, choose_space

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


def limit_torch_threads() -> None:
    """VML_QUERY_THREADS torch threads per query, when torch is in use: a text search never imports it (the
    MiniLM query encoder runs through onnxruntime), and importing it only to cap its threads costs a second.
    A torch still being imported by another thread (a video query's soundtrack, the app's warm-up) is left to
    the next call: its module is only partly there."""
    torch = sys.modules.get("torch")
    if torch is None or getattr(getattr(torch, "__spec__", None), "_initializing", False):
        return
    threads = get_settings().query_threads
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


class SearchEngine:
    def __init__(self, db_dir: str | Path | None = None, *, space: str | None = None, profile: str | None = None):
        from ..encoders.profiles import active_profile
        from ..encoders.text import load_text_encoder

        settings = get_settings()
        self.db_dir = Path(db_dir or settings.db_dir)
        self.store = LibraryStore(self.db_dir)
        self.table = load_window_table(self.store)
        window_term_matrix(self.table, self.store)  # from the library's derived cache when it is current
        self.tracks = {t.id: t for t in self.store.tracks()}
        self.tempos = self.store.track_tempos()  # track id -> BPM (library/rhythm.py)
        self.table.derived["track_tempos"] = self.tempos  # the tag bridge's tempo terms may read BPM
        self.profile = active_profile(profile)
        self.text_encoder = load_text_encoder(self.profile.text_encoder)
        self.space: MusicSpace = choose_space(space or settings.space, self.table, self.text_encoder)
        self.window_emb = self.space.library_window_embeddings(self.table, self.store)  # [N, D] normalised
        slices = self.table.track_slices()
        self.ranker = Ranker(self.window_emb, np.array(sorted(slices), np.int64), slices,
                             window_penalty=self.space.window_penalty(self.window_emb))
        self.terms = track_terms(self.table)  # track id -> its strongest vocabulary terms
        self.vocal_scores = track_vocal_scores(self.table)  # track id -> vocals score (filters.py)
        self._static_facts: TrackFacts | None = None  # track_facts() without tempos, built on first use
        self.viml, self.viml_note = self._load_viml()
        limit_torch_threads()


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
    def track_facts(self) -> TrackFacts:
        """What the filters read, per track in ranking order; tempos come from the index's rhythm analysis."""
        ids = self.ranker.track_ids
        if self._static_facts is None:  # what does not change while the engine is loaded, once
            self._static_facts = TrackFacts(
                track_ids=ids, durations=np.array([self.tracks[int(t)].duration_s for t in ids], np.float64),
                vocals=np.array([self.vocal_scores.get(int(t), 0.0) for t in ids], np.float64),
                licenses=[license_class(self.tracks[int(t)].license) for t in ids])
        tempos = self.store.track_tempos()  # read each time: an index run may have added rhythm since loading
        return dataclasses.replace(
            self._static_facts,
            tempos=np.array([tempos.get(int(t), np.nan) for t in ids], np.float64) if tempos else None)

    def search(
        self,
        text: str | None = None,
        video: str | Path | None = None,
        *,
        video_weight: float = 0.5,
        k: int = 5,
        progress: Progress | None = None,
        filters: SearchFilters | None = None,
        like=None,
        prefer_instrumental: bool | None = None,
    ) -> SearchResponse:
        """Rank tracks for text and/or a video, or like a track (`like`: a track id or an audio file) refined by
        the text. `filters` narrow the ranking before the top k; `prefer_instrumental` lowers tracks by their
        vocals score (None: on when the query video has speech)."""
        text = (text or "").strip()
        if len(text) > 2000:
            raise QueryError("The description is too long (over 2000 characters); shorten it")
        if like is not None and video is not None:
            raise QueryError("Search either like a track or for a video, not both (previews still use your video)")
        if not text and video is None and like is None:
            raise QueryError("Give a video, a description of the music, or both")
        if not 0.0 <= video_weight <= 1.0:
            raise QueryError("The video weight must be between 0 (text only) and 1 (video only)")
        k = max(1, min(int(k), 100))
        limit_torch_threads()  # a video query may have imported torch since the last call
        report = progress or (lambda frac, desc: None)
        filters = filters or SearchFilters()
        facts = self.track_facts()
        allowed, filter_report = filter_mask(filters, facts) if filters.active else (None, [])
        timings: dict[str, float] = {}
        query = parse_query(text)
        points = QueryPoints()
        path, description, vq = "text", "", None
        extra: dict = {"filters": filters.describe(), "filter_report": filter_report}

        t0 = time.perf_counter()
        text_vec, neg_vecs = self.space.embed_query(query)
        timings["text_encoding"] = time.perf_counter() - t0
        positive_vec = text_vec if query.positive else None
        fit = FitInputs(window_emb=self.window_emb, text_vec=positive_vec, filters=extra["filters"])
        if like is not None:
            report(0.1, "listening to the track to search like")
            t1 = time.perf_counter()
            liked = resolve_like(self, like)
            timings["like_encoding"] = time.perf_counter() - t1
            if liked.track_id is not None:  # the track itself is not returned
                allowed = (np.ones(len(facts.track_ids), bool) if allowed is None else allowed.copy())
                allowed[facts.track_ids == liked.track_id] = False
                if not allowed.any():
                    raise FilterError(("No other track passes the filters: " + "; ".join(filter_report))
                                      if filter_report else "The library has no other track to search like it")
            fused = refine(liked.vector, positive_vec)
            path, fit.like_vec = "like", liked.vector
            extra.update(like={"kind": liked.kind, "title": liked.label, "track_id": liked.track_id},
                         refine=describe_refine() if positive_vec is not None else "")
            points.text, points.fused = positive_vec, fused
            speech = None
        elif video is not None and video_weight > 0.0 and self.viml is not None:
            # The learned path: the weight blends ViML's video-only, its fused video+text and the text
            # space's scores (viml_path.blend_weights); negations penalise windows as on the text path.
            report(0.05, "encoding the video with the ViML model")
            video_only, fused_q, vt = self.viml.encode_query(video, query.positive if video_weight < 1.0 else "",
                                                             report)
            timings.update(vt)
            vec, weights = self.viml.query_vector(video_only, fused_q, text_vec if query.positive else None,
                                                  video_weight)
            speech = None
            if prefer_instrumental is None:
                from .video_query import video_speech_score

                t1 = time.perf_counter()
                speech = video_speech_score(video)
                timings["soundtrack"] = time.perf_counter() - t1
            adjust, extra["prefer_instrumental"] = self._instrumental_bonus(prefer_instrumental, speech)
            report(0.9, "ranking the library")
            t1 = time.perf_counter()
            hits = self.viml.ranker.rank(vec, k, neg_vecs, allowed=allowed, bonus=adjust)
            timings["search"] = time.perf_counter() - t1
            report(1.0, "done")
            from .viml_path import describe_blend

            fit.video_vec, fit.video_emb = video_only, self.viml.window_emb
            return SearchResponse(route="viml", results=self._results(hits, query, fit, facts, adjust),
                                  query_text=text, score_blend=describe_blend(weights), negated=query.negated,
                                  space=f"viml:{self.viml.source.name}", points=QueryPoints(), timings=timings,
                                  speech_score=speech, **extra)
        elif video is not None and video_weight > 0.0:
            from .video_query import encode_video_query

            vq = encode_video_query(self, video, report)
            timings.update(vq.timings)
            path, description, video_vec = vq.path, vq.description, vq.vector
            points.video = fit.video_vec = video_vec
            speech = vq.speech_score
            if text_vec is None or video_weight >= 1.0:
                fused = video_vec
            else:  # ViML's `add` fusion, weighted by the user
                fused = l2_normalize(video_weight * video_vec + (1.0 - video_weight) * text_vec)
            points.text, points.fused = text_vec, fused
        else:
            if text_vec is None:
                raise QueryError("The video weight is 0 but there is no description: give one, or raise the weight")
            fused, speech = text_vec, None
            points.text, points.fused = text_vec, fused

        adjust, extra["prefer_instrumental"] = self._instrumental_bonus(prefer_instrumental, speech)
        report(0.9, "ranking the library")
        t1 = time.perf_counter()
        hits = self.ranker.rank(fused, k, neg_vecs, allowed=allowed, bonus=adjust)
        timings["search"] = time.perf_counter() - t1
        report(1.0, "done")
        return SearchResponse(
            route=path, results=self._results(hits, query, fit, facts, adjust), query_text=text,
            video_description=description, negated=query.negated, space=self.space.key, points=points,
            timings=timings, speech_score=speech, **extra,
            **({} if vq is None else {"video_reasons": vq.reasons, "video_seen": vq.seen, "heard_music": vq.heard_music,
                                      "own_music_weight": vq.own_music_weight}),
        )

    def _instrumental_bonus(self, prefer: bool | None, speech: float | None) -> tuple[np.ndarray | None, bool]:
        """(per-track score change, whether "prefer instrumental" is on): on when asked, or by default when the
        query video has speech (its mean Speech score reaches config.SPEECH_MIN_SCORE)."""
        on = prefer if prefer is not None else (speech is not None and speech >= config.SPEECH_MIN_SCORE)
        if not on:
            return None, False
        vocals = np.array([self.vocal_scores.get(int(t), 0.0) for t in self.ranker.track_ids], np.float32)
        return -config.PREFER_INSTRUMENTAL_WEIGHT * vocals, True

    def _results(self, hits, query, fit: FitInputs, facts: TrackFacts, adjust) -> list[TrackResult]:
        position = {int(t): i for i, t in enumerate(facts.track_ids)}
        out = []
        for rank, hit in enumerate(hits, start=1):
            t = self.tracks[hit.track_id]
            terms = self.terms.get(hit.track_id, [])
            i = position[hit.track_id]
            out.append(TrackResult(
                rank=rank, track_id=hit.track_id, path=t.path, abs_path=str(t.abs_path), file=t.name, title=t.title,
                artist=t.artist, license=t.license, attribution=t.attribution, score=hit.score,
                start_s=float(self.table.starts[hit.row]), duration_s=t.duration_s, tags=terms[:6],
                why=why_matched(query, terms), bpm=self.tempos.get(hit.track_id),
                fit=fit_breakdown(fit, hit.row, facts, i, 0.0 if adjust is None else float(adjust[i])),
            ))
        return out

    # -- the embedding map ----------------------------------------------------------------
    def track_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """(track ids, one normalised vector per track in the music space)."""
        return self.ranker.track_ids, self.ranker.track_vecs
