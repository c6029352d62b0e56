"""The app's callbacks: thin glue between the UI and SearchEngine, the media layer and the ratings table.

No ranking happens here. Every callback turns VmlError into gr.Error(str(err)) (a one-line message in the UI
and a clean error for API clients), so bad input never shows a traceback and never stops the server.
This module deliberately avoids `from __future__ import annotations`: Gradio reads the `gr.Request`
annotations of callbacks at runtime to inject the request.
"""
import functools
import html
import inspect
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import gradio as gr

from ..settings import get_settings
from ..errors import NoVideoStreamError, QueryError, VmlError
from ..search.filters import LICENSE_CLASSES, SearchFilters, parse_range
from . import formatting, sessions
from .embedding_map import build_figure
from .libraries import BUNDLED, LibraryRegistry, libraries_dir
from .previews import analyse_video, cut_excerpt, excerpt_path, export_zip, make_preview, preview_path
from .ratings import RatedSearch, RatingsTable

log = logging.getLogger(__name__)

MAX_RESULTS = 20
DEFAULT_RESULTS = 5
SLOT_OUTPUTS = ("column", "card", "audio", "video", "rated", "comment")  # per result slot, in this order
ANY = "any"
VOCALS_CHOICES = (ANY, "instrumental", "vocals")
LICENSE_CHOICES = (ANY, *LICENSE_CLASSES)
PREFER_CHOICES = ("auto", "on", "off")  # prefer instrumental: auto = when the video has speech


def search_filters(bpm: Optional[str], vocals: Optional[str], license_class: Optional[str],
                   min_duration: Optional[float], max_duration: Optional[float]) -> SearchFilters:
    """The filter controls' values as SearchFilters ("any", empty fields and lengths of 0 filter nothing)."""
    return SearchFilters(bpm=parse_range(bpm), vocals=None if vocals in (None, "", ANY) else vocals,
                         license=None if license_class in (None, "", ANY) else license_class,
                         min_duration_s=float(min_duration) if min_duration else None,
                         max_duration_s=float(max_duration) if max_duration else None)


def prefer_setting(choice: Optional[str]) -> Optional[bool]:
    if choice not in (None, "", *PREFER_CHOICES):
        raise QueryError(f"prefer instrumental {choice!r}: use {', '.join(PREFER_CHOICES)}")
    return {"on": True, "off": False}.get(choice or "auto")


def _visible(message: str) -> str:
    """A message fit for a visitor: no server paths, HTML escaped (Gradio renders messages as HTML)."""
    return html.escape(formatting.public_text(message, libraries_dir()), quote=False)


def _user_error(err: Exception) -> gr.Error:
    return gr.Error(_visible(str(err)), print_exception=False)


def _warn(message: str) -> None:
    gr.Warning(_visible(message))


def _unexpected(err: Exception) -> gr.Error:
    log.exception("unexpected error in a callback")
    return gr.Error(f"Something went wrong ({type(err).__name__}); the details are in the server log",
                    print_exception=False)


def shows_errors(fn):
    """Turn VmlError into a clean gr.Error; log anything else and report it without a traceback."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except gr.Error:
                raise
            except VmlError as err:
                raise _user_error(err) from None
            except Exception as err:  # noqa: BLE001 - a bug must not kill the session either
                raise _unexpected(err) from None
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except VmlError as err:
            raise _user_error(err) from None
        except Exception as err:  # noqa: BLE001
            raise _unexpected(err) from None
    return wrapper


@dataclass
class SearchRecord:
    """A session's latest search, kept in a gr.State: what previews, the map and ratings need."""

    search_id: str
    session: str  # whose folders the search's files go to (see sessions.session_hash_of)
    library: str
    query_text: str
    video_path: Optional[str]
    video_name: str
    video_duration_s: Optional[float]
    video_weight: float
    response: object  # SearchResponse
    status: dict  # engine.status() when the search ran
    filters: object = None  # the SearchFilters it ran with (a "more like this" from its results keeps them)
    prefer: Optional[bool] = None  # prefer instrumental as asked (None: auto)


def compose_query(text: Optional[str], presets: list) -> str:
    """The free text followed by the clicked preset terms (ones the text already names are not repeated)."""
    text = (text or "").strip()
    lowered = text.lower()
    extra = [p for p in dict.fromkeys(presets or []) if p and p.lower() not in lowered]
    return ", ".join([text, *extra]) if text else ", ".join(extra)


def _progress_adapter(progress):
    return lambda frac, desc: progress(min(max(float(frac), 0.0), 1.0), desc=desc)


class Handlers:
    def __init__(self, registry: LibraryRegistry):
        self.registry = registry

    def engine(self, library: Optional[str], progress=None):
        name = library or BUNDLED
        if progress is not None and not self.registry.is_loaded(name):
            progress(0.0, desc=f"loading library '{name}' and its encoders (first use)")
        return self.registry.engine(name)

    # -- page load, library choice ------------------------------------------------------------
    @shows_errors
    def on_load(self, library: Optional[str], colour_by: str):
        """Fill the status panel and the map, and refresh the list of libraries."""
        choices = self.registry.names()
        name = library if library in choices else BUNDLED
        status_md, figure = self._library_view(name, colour_by)
        return status_md, figure, gr.update(choices=choices, value=name)

    @shows_errors
    def select_library(self, library: str, colour_by: str, progress=gr.Progress()):
        return self._library_view(library, colour_by, progress)

    def _library_view(self, library: str, colour_by: str, progress=None):
        started = time.perf_counter()
        loaded_before = self.registry.is_loaded(library)
        engine = self.engine(library, progress)
        loaded_s = None if loaded_before else time.perf_counter() - started
        status = {**engine.status(), "library_name": library}
        shown = formatting.public_text(formatting.engine_status(status, loaded_s), libraries_dir())
        return shown, build_figure(engine, None, colour_by)

    @shows_errors
    def redraw_map(self, record: Optional[SearchRecord], library: str, colour_by: str):
        if record is not None and record.library == library:
            return build_figure(self.engine(library), record.response, colour_by)
        return build_figure(self.engine(library), None, colour_by)

    # -- search -------------------------------------------------------------------------------
    @shows_errors
    def search(self, library: str, video: Optional[str], text: Optional[str], genres: list, moods: list,
               instruments: list, video_weight: float, k: float, bpm: Optional[str] = "", vocals: str = ANY,
               license_class: str = ANY, min_duration: Optional[float] = None, max_duration: Optional[float] = None,
               prefer: str = "auto", like_clip: Optional[str] = None, request: gr.Request = None,
               progress=gr.Progress()):
        """Run one search; returns (summary Markdown, SearchResponse.to_json(), the record). With `like_clip`
        (an uploaded audio file) the search is "more like this clip", the text refining it; a video given too
        is then only previewed."""
        query = compose_query(text, [*(genres or []), *(moods or []), *(instruments or [])])
        if not query and not video and not like_clip:
            raise QueryError("Give a video, a description of the music, or both")
        filters, prefer_on = search_filters(bpm, vocals, license_class, min_duration, max_duration), prefer_setting(prefer)
        engine = self.engine(library, progress)
        video_duration = None
        if video:
            progress(0.02, desc="checking the video")
            video_duration = self._check_video(video)
        k = int(min(max(int(k or DEFAULT_RESULTS), 1), MAX_RESULTS))
        response = engine.search(text=query or None, video=None if like_clip else (video or None),
                                 video_weight=float(video_weight), k=k, progress=_progress_adapter(progress),
                                 filters=filters, like=like_clip or None, prefer_instrumental=prefer_on)
        record = SearchRecord(
            search_id=uuid.uuid4().hex[:12], session=sessions.session_hash_of(request), library=library or BUNDLED,
            query_text=query, video_path=video or None, video_name=Path(video).name if video else "",
            video_duration_s=video_duration, video_weight=float(video_weight) if video else 0.0,
            response=response, status=engine.status(), filters=filters, prefer=prefer_on,
        )
        return formatting.search_summary(record), response.to_json(), record

    def like(self, slot: int, words: Optional[str], record: Optional[SearchRecord], k: float, request: gr.Request,
             progress=gr.Progress()):
        """More like result `slot` (refined by `words` when given), with the filters of the search it came from;
        the video stays for previews, and prefer instrumental stays on when the video had speech."""
        if record is None or slot >= len(record.response.results):
            raise QueryError("Run a search first, then ask for more like one of its results")
        engine = self.engine(record.library, progress)
        liked = record.response.results[slot]
        prefer = record.prefer
        if prefer is None and record.response.prefer_instrumental:
            prefer = True  # it was on because the video has speech: the video has not changed
        k = int(min(max(int(k or DEFAULT_RESULTS), 1), MAX_RESULTS))
        words = (words or "").strip()
        response = engine.search(text=words or None, like=liked.track_id, k=k, filters=record.filters,
                                 prefer_instrumental=prefer, progress=_progress_adapter(progress))
        new = SearchRecord(
            search_id=uuid.uuid4().hex[:12], session=record.session, library=record.library, query_text=words,
            video_path=record.video_path, video_name=record.video_name, video_duration_s=record.video_duration_s,
            video_weight=0.0, response=response, status=engine.status(), filters=record.filters, prefer=record.prefer,
        )
        return formatting.search_summary(new), response.to_json(), new

    def like_callback(self, slot: int, refine: bool):
        """A callback bound to one result slot: "more like this" (words ignored) or "refine" (words used)."""
        @shows_errors
        def on_like(words: str, record: Optional[SearchRecord], k: float, request: gr.Request,
                    progress=gr.Progress()):
            return self.like(slot, words if refine else "", record, k, request, progress)
        on_like.__name__ = f"{'refine' if refine else 'like'}_{slot + 1}"
        return on_like

    def _check_video(self, video: str) -> float:
        from ..media.probe import probe
        from ..media.video import check_duration

        info = probe(video)
        if not info.has_video:
            raise NoVideoStreamError(f"{info.name} has no picture: upload a video file (mp4, webm, mov, ...)")
        check_duration(info, get_settings().max_video_s)
        return info.duration_s

    @shows_errors
    def show_results(self, record: Optional[SearchRecord], colour_by: str, request: gr.Request,
                     progress=gr.Progress()):
        """The map, the remix button, the preview status (reset, so the last search's "ready" is never read as this
        one's) and one card per result, each with an excerpt from its best-matching offset."""
        if record is None:
            return [gr.skip()] * (3 + MAX_RESULTS * len(SLOT_OUTPUTS))
        folder = sessions.new_search_dir(record.session, record.search_id)
        with sessions.in_use(folder):
            return self._result_slots(record, folder, colour_by, progress)

    def _result_slots(self, record: SearchRecord, folder: Path, colour_by: str, progress) -> list:
        results = record.response.results
        mixing = bool(record.video_path and results)
        outputs = [build_figure(self.engine(record.library), record.response, colour_by),
                   gr.update(visible=mixing), f"Previews: mixing 0 of {len(results)}..." if mixing else ""]
        for slot in range(MAX_RESULTS):
            if slot >= len(results):
                outputs += [gr.update(visible=False), "", None, gr.update(value=None, visible=False), "", ""]
                continue
            result = results[slot]
            progress((slot, len(results)), desc=f"cutting excerpt {slot + 1} of {len(results)}")
            try:
                target = excerpt_path(folder, result.rank, result.title)
                excerpt = str(cut_excerpt(result.abs_path, result.start_s, target, duration_s=result.duration_s))
            except VmlError as err:
                _warn(f"No excerpt for {result.title}: {err}")
                excerpt = None
            video_label = f"{record.video_name} + {result.title}" if record.video_path else ""
            outputs += [gr.update(visible=True), formatting.result_card(result), excerpt,
                        gr.update(value=None, visible=bool(record.video_path), label=video_label), "", ""]
        return outputs

    @shows_errors
    def make_previews(self, record: Optional[SearchRecord], keep_original: bool, original_db: float,
                      request: gr.Request, progress=gr.Progress()):
        """Mux the video with each result in rank order, handing each preview to its slot as soon as it is ready.

        Yields [preview status, video of slot 1, ..., video of slot MAX_RESULTS, export bundles]; unchanged slots
        are skipped so a preview already playing is not reloaded; the export zips come with the last update.
        """
        if record is None or not record.video_path or not record.response.results:
            yield ["", *[gr.skip()] * MAX_RESULTS, gr.skip()]
            return
        folder = sessions.search_dir(record.session, record.search_id)
        with sessions.in_use(folder):  # a newer search of this session must not delete it mid-mux
            yield from self._previews(record, folder, keep_original, original_db, progress)

    def _previews(self, record: SearchRecord, folder: Path, keep_original: bool, original_db: float, progress):
        results = record.response.results
        keep_db = float(original_db) if keep_original else None
        progress((0, len(results)), desc="reading the video's cuts and speech")
        try:
            edit = analyse_video(record.video_path)
        except VmlError as err:
            yield [f"No previews: {err}", *[gr.skip()] * MAX_RESULTS, gr.skip()]
            return
        store = self.engine(record.library).store
        made, fits, bundles = 0, [], []
        for slot, result in enumerate(results):
            progress((slot, len(results)), desc=f"mixing preview {slot + 1} of {len(results)}")
            out = preview_path(folder, record.video_name, result.rank, result.title)
            try:
                plan = make_preview(record.video_path, result.abs_path, result.start_s, result.duration_s,
                                    store.rhythm(result.track_id), out, keep_db, edit=edit)
            except VmlError as err:
                _warn(f"No preview with {result.title}: {err}")
                continue
            made += 1
            fits.append(formatting.fit_line(result.rank, result.title, plan))
            bundles.append(str(export_zip(out, record.video_path, result, plan, edit)))
            update = [gr.skip()] * MAX_RESULTS
            update[slot] = str(out)
            yield [f"Previews: {made} of {len(results)} ready", *update, gr.skip()]
        sound = f"the video's own sound kept at {keep_db:g} dB" if keep_db is not None else "music only"
        about = "; ".join(edit.notes) or f"{len(edit.cuts)} cuts, speech in {len(edit.speech)} passage(s)"
        yield [f"Previews: {made} of {len(results)} ready ({sound}; {about})\n\n" + "\n".join(fits),
               *[gr.skip()] * MAX_RESULTS, bundles or None]

    # -- ratings ------------------------------------------------------------------------------
    def rate(self, slot: int, rating: int, comment: str, record: Optional[SearchRecord], request: gr.Request) -> str:
        if record is None or slot >= len(record.response.results):
            raise gr.Error("Run a search first, then rate its results", print_exception=False)
        status = record.status
        search = RatedSearch(
            session=record.session, search_id=record.search_id, query_text=record.query_text,
            video_name=record.video_name, video_weight=record.video_weight, search_path=record.response.route,
            space=record.response.space, profile=str(status.get("profile", "")),
            text_encoder=str(status.get("text_encoder", "")), video_encoder=str(status.get("video_encoder", "")),
            device=str(status.get("device", "")), results=record.response.to_json()["results"],
        )
        with RatingsTable(self.registry.db_dir(record.library)) as table:
            table.rate(search, slot + 1, rating, comment)
        mark = "👍" if rating > 0 else "👎"
        return f"Saved {mark}" + (" with your comment" if (comment or "").strip() else "")

    def rating_callback(self, slot: int, rating: int):
        """A callback bound to one result slot and one vote (Gradio needs a real function to see gr.Request)."""
        @shows_errors
        def on_rate(comment: str, record: Optional[SearchRecord], request: gr.Request) -> str:
            return self.rate(slot, rating, comment, record, request)
        on_rate.__name__ = f"rate_{slot + 1}_{'up' if rating > 0 else 'down'}"
        return on_rate

    @shows_errors
    def export_ratings(self, library: str, scope: str, request: gr.Request):
        """This session's ratings as CSV; every session's only where the operator allows it."""
        everyone = scope == "all sessions"
        if everyone and not get_settings().export_all_ratings:
            raise QueryError("Exporting every session's ratings is off here: export this session's "
                             "(the operator can allow it with VML_EXPORT_ALL_RATINGS=1)")
        mine = sessions.session_hash_of(request)
        session = None if everyone else mine
        folder = sessions.session_dir(mine)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        with RatingsTable(self.registry.db_dir(library or BUNDLED)) as table:
            path, n = table.export_csv(folder / f"ratings_{sessions.safe_name(library or BUNDLED)}_{stamp}.csv",
                                       session)
        gr.Info(f"{n} rating{'s' if n != 1 else ''} exported")
        return str(path)

    # -- libraries ----------------------------------------------------------------------------
    @shows_errors
    def index_library(self, name: str, server_folder: str, uploads: Optional[list], progress=gr.Progress()):
        """Index uploaded files or a server folder into library `name`; returns (report, dropdown update)."""
        def report(done: int, total: int, current: str) -> None:
            progress((done, max(total, 1)), desc=f"indexing {Path(current).name}")

        started = time.perf_counter()
        paths = [u if isinstance(u, str) else getattr(u, "name", str(u)) for u in (uploads or [])]
        if paths:
            outcome = self.registry.index_uploads(name, paths, report)
        elif (server_folder or "").strip():
            outcome = self.registry.index_folder(name, server_folder, report)
        else:
            raise QueryError("Upload some audio files, or give a folder on the server")
        message = formatting.public_text(formatting.index_report(outcome, time.perf_counter() - started),
                                         libraries_dir())
        return message, gr.update(choices=self.registry.names(), value=outcome.name)

    def on_unload(self, request: gr.Request) -> None:
        sessions.delete_session(sessions.session_hash_of(request))
