"""The app through its API (gradio_client against `python app.py`), plus unit tests of the app's own modules.

The server (app_helpers.api_app) runs on a writable copy of the bundled index (ratings and UI-made libraries go
to temp folders), with VML_MAX_VIDEO_S lowered so a bundled sample video can stand in for a too-long upload.
Bad input, the file route and sessions are tested in test_app_safety.py.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import time
from types import SimpleNamespace

import numpy as np
import pytest

from vml_demo import config
from app_helpers import MAX_VIDEO_S, api_app, app, client  # noqa: F401 - fixtures
from vml_demo.app import formatting, sessions
from vml_demo.app.embedding_map import build_figure, fit_projection
from vml_demo.app.handlers import compose_query
from vml_demo.app.libraries import BUNDLED, LibraryRegistry, check_library_name
from vml_demo.app.ratings import RatedSearch, RatingsTable
from vml_demo.errors import LibraryError
from vml_demo.search.results import QueryPoints

from library_helpers import write_tone  # noqa: E402 - tests/ is on sys.path (rootdir conftest)

VIDEOS = config.SAMPLE_VIDEOS_DIR

# -- the running app -----------------------------------------------------------------------------

def search(client, *, video=None, text="", genres=(), moods=(), instruments=(), weight=0.5, k=5, library=BUNDLED):
    from gradio_client import handle_file

    summary, response = client.predict(library, handle_file(str(video)) if video else None, text, list(genres),
                                       list(moods), list(instruments), weight, k, api_name="/search")
    assert isinstance(response, dict)  # real JSON: no key gradio_client would take for a file
    return summary, response


def test_text_search_returns_ranked_results(client):
    summary, response = search(client, text="calm piano", moods=["peaceful"], k=4)
    assert response["route"] == "text"
    assert response["query_text"] == "calm piano, peaceful"
    results = response["results"]
    assert len(results) == 4
    for r in results:
        assert {"title", "artist", "license", "score", "start_s", "tags", "why", "file"} <= set(r)
        assert not {"path", "abs_path"} & set(r) and not os.path.isabs(r["file"])
        assert 0.0 <= r["start_s"] <= r["duration_s"]
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert [r["rank"] for r in results] == [1, 2, 3, 4]
    assert "4 results" in summary and "calm piano" in summary


def test_video_only_search_on_a_silent_video(client):
    summary, response = search(client, video=VIDEOS / "bunny_animation.mp4", weight=1.0, k=2)
    assert response["route"] in {"zero-shot-video", "viml"}
    assert len(response["results"]) == 2
    assert "bunny_animation.mp4" in summary.replace("\\", "")  # the Markdown escapes "_"


def test_video_and_text_weight_changes_the_query(client):
    _, text_only = search(client, video=VIDEOS / "city_night.mp4", text="dark electronic", weight=0.0, k=5)
    _, video_only = search(client, video=VIDEOS / "city_night.mp4", text="dark electronic", weight=1.0, k=5)
    assert text_only["route"] == "text"  # weight 0: the video is ignored
    assert video_only["route"] in {"zero-shot-video", "viml"}
    assert [r["score"] for r in text_only["results"]] != [r["score"] for r in video_only["results"]]


@pytest.mark.parametrize("case, message", [
    ("empty", "Give a video, a description of the music, or both"),
    ("text_file", "is not a video or audio file"),
    ("audio_only", "has no picture"),
    ("too_long", f"the limit is 0:{MAX_VIDEO_S}"),
    ("truncated", "truncated"),
])
def test_bad_input_gets_a_clear_message(client, tmp_path, case, message):
    from gradio_client.exceptions import AppError

    video = None
    if case == "text_file":
        video = tmp_path / "notes.mp4"
        video.write_text("this is not a video\n" * 50)
    elif case == "audio_only":
        video = next(config.LIBRARY_AUDIO_DIR.glob("*.ogg"))
    elif case == "too_long":
        video = VIDEOS / "earth_night.mp4"
    elif case == "truncated":
        video = tmp_path / "broken.mp4"
        video.write_bytes((VIDEOS / "cockatoo.mp4").read_bytes()[:3000])
    with pytest.raises(AppError) as caught:
        search(client, video=video, text="" if case == "empty" else "calm piano")
    assert message in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_search_with_filters_and_a_like_clip(client, tmp_path):
    """The filter inputs and a clip to search like, through /search; a filter that leaves nothing says so."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError
    from media_factory import ffmpeg

    source = config.LIBRARY_AUDIO_DIR / "naev_ambient2_5.ogg"
    clip = tmp_path / "reference.wav"
    ffmpeg("-ss", "10", "-t", "20", "-i", source, "-ac", "1", clip)
    _, response = client.predict(BUNDLED, None, "calm", [], [], [], 0.5, 3, "", "instrumental", "permissive", 60, 0,
                                 "off", handle_file(str(clip)), api_name="/search")
    assert response["route"] == "like" and response["like"]["kind"] == "clip"
    assert response["filters"] == ["instrumental", "license permissive or freer", "at least 60 s"]
    for r in response["results"]:
        assert r["fit"]["instrumental"] and r["fit"]["license_class"] in ("public-domain", "permissive")
        assert r["duration_s"] >= 60 and r["fit"]["like_fit"] is not None and r["fit"]["text_fit"] is not None
    with pytest.raises(AppError) as caught:
        client.predict(BUNDLED, None, "calm", [], [], [], 0.5, 3, "", "any", "public-domain", 500, 0, "auto", None,
                       api_name="/search")
    assert "No track passes the filters: license public-domain removed" in str(caught.value)
    assert "min duration 500 s removed" in str(caught.value)


def test_server_survives_bad_input(client, app, tmp_path):
    from gradio_client.exceptions import AppError

    junk = tmp_path / "junk.webm"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(AppError):
        search(client, video=junk, text="rock")
    assert app.proc.poll() is None
    _, response = search(client, text="energetic rock", k=1)
    assert len(response["results"]) == 1


def test_concurrent_sessions_get_their_own_answers(app):
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    queries = [("sad piano", 2), ("energetic rock drums", 3), ("dreamy ambient synthesizer", 4)]
    clients = [Client(app.url, verbose=False) for _ in queries]
    with ThreadPoolExecutor(len(queries)) as pool:
        answers = list(pool.map(lambda job: search(job[0], text=job[1][0], k=job[1][1]), zip(clients, queries)))
    for (text, k), (_, response) in zip(queries, answers):
        assert response["query_text"] == text and len(response["results"]) == k


def test_index_a_server_folder_and_search_it(client, app):
    from gradio_client.exceptions import AppError

    tmp_path = app.served  # the one folder this server allows indexing (VML_INDEX_ROOTS)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no music here")
    with pytest.raises(AppError, match="has no audio files"):
        client.predict("mine", "served/empty", None, api_name="/index_library")

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "fake.mp3").write_text("not audio at all")
    with pytest.raises(AppError, match="No readable audio"):
        client.predict("broken", "broken", None, api_name="/index_library")

    folder = tmp_path / "tones"
    folder.mkdir()
    write_tone(folder / "low_hum.wav", 110.0, 12.0)
    (folder / "bad.ogg").write_bytes(b"OggS" + b"\x00" * 200)  # damaged: reported, not fatal
    report, dropdown = client.predict("tones", str(folder), None, api_name="/index_library")  # absolute works too
    assert dropdown["value"] == "tones"  # the library list is updated and the new library chosen
    assert ["tones", "tones"] in dropdown["choices"]
    assert "1 added" in report and "1 failed" in report and "served/tones/bad.ogg" in report
    assert str(tmp_path) not in report
    _, response = search(client, text="quiet drone", library="tones", k=3)
    assert [r["title"] for r in response["results"]] == ["low_hum"]


def test_index_uploaded_files_into_a_library_folder(client, app, tmp_path):
    from gradio_client import handle_file

    tones = [write_tone(tmp_path / "high_beep.wav", 880.0, 11.0), write_tone(tmp_path / "mid_tone.wav", 440.0, 11.0)]
    report, dropdown = client.predict("uploaded", "", [handle_file(str(t)) for t in tones],
                                      api_name="/index_library")
    assert dropdown["value"] == "uploaded" and "2 added" in report
    kept = sorted(p.name for p in (app.work / "libraries" / "uploaded" / "audio").iterdir())
    assert kept == ["high_beep.wav", "mid_tone.wav"]
    _, response = search(client, text="electronic beeps", library="uploaded", k=5)
    assert sorted(r["title"] for r in response["results"]) == ["high_beep", "mid_tone"]


def test_export_ratings_csv(client):
    path = client.predict(BUNDLED, "this session", api_name="/export_ratings")
    with open(path, newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert "query_text" in header and "rating" in header and "results_json" in header


# -- the app's modules ---------------------------------------------------------------------------

def test_compose_query_appends_presets_once():
    assert compose_query("calm piano", ["calm", "jazz", "jazz"]) == "calm piano, jazz"
    assert compose_query("  ", ["happy", "guitar"]) == "happy, guitar"
    assert compose_query(None, []) == ""


def test_pca_projection_keeps_the_main_direction():
    rng = np.random.default_rng(0)
    direction = rng.normal(size=16)
    direction /= np.linalg.norm(direction)
    coords = rng.normal(size=(40, 1)) * 5.0
    vectors = coords * direction + rng.normal(scale=0.01, size=(40, 16))
    fit = fit_projection(np.arange(40), vectors)
    assert fit.explained[0] > 0.99
    assert abs(np.corrcoef(fit.xy[:, 0], coords[:, 0])[0, 1]) > 0.999
    np.testing.assert_allclose(fit.project(vectors), fit.xy, atol=1e-4)
    # Tiny libraries still give a drawable map.
    assert fit_projection(np.arange(1), vectors[:1]).xy.shape == (1, 2)
    assert fit_projection(np.arange(0), np.zeros((0, 16))).xy.shape == (0, 2)


class SmallEngine:
    """What the map reads from a SearchEngine: per-track vectors, tracks and their terms (12 random tracks)."""

    def __init__(self, n: int = 12, dim: int = 8):
        rng = np.random.default_rng(1)
        vectors = rng.normal(size=(n, dim)).astype(np.float32)
        self.vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        genres = ["jazz", "rock", "ambient"]
        self.tracks = {i: SimpleNamespace(title=f"track {i}", artist="someone") for i in range(n)}
        self.terms = {i: [genres[i % 3], "calm", "piano"] for i in range(n)}

    def track_embeddings(self):
        return np.arange(len(self.vectors)), self.vectors


def test_map_shows_tracks_by_genre_the_query_and_results():
    engine = SmallEngine()
    vectors = engine.vectors
    fig = build_figure(engine, None, "genre")
    names = {t.name for t in fig.data}
    assert {"jazz", "rock", "ambient"} <= names
    assert sum(len(t.x) for t in fig.data) == len(vectors)

    fused = vectors[0] + vectors[1]
    response = SimpleNamespace(
        results=[SimpleNamespace(track_id=3, rank=1, title="track 3", score=0.9)],
        points=QueryPoints(video=vectors[0], text=vectors[1], fused=fused / np.linalg.norm(fused)),
    )
    fig = build_figure(engine, response, "mood")
    names = [t.name for t in fig.data]
    assert "calm" in names and "results" in names
    assert {"query: video", "query: text", "query: fused"} <= set(names)
    result_trace = next(t for t in fig.data if t.name == "results")
    calm = next(t for t in fig.data if t.name == "calm")
    track_3 = list(calm.text).index("track 3 — someone")
    assert (result_trace.x[0], result_trace.y[0]) == pytest.approx((calm.x[track_3], calm.y[track_3]))


def test_ratings_are_saved_replaced_and_exported(tmp_path):
    from vml_demo.library.store import LibraryStore

    LibraryStore(tmp_path, create=True).close()
    results = [{"rank": i, "track_id": 10 + i, "file": f"t{i}.ogg", "title": f"T{i}", "artist": "A",
                "score": 0.9 - i / 10, "start_s": 5.0 * i} for i in (1, 2)]
    search_one = RatedSearch("s1", "q1", "calm piano", "clip.mp4", 0.5, "viml", "bridge-minilm", "offline",
                             "minilm", "visual_descriptors", "cpu", results)
    with RatingsTable(tmp_path) as table:
        table.rate(search_one, 1, 1, "nice")
        table.rate(search_one, 1, -1, "on second thought, no")  # same result again: replaces
        table.rate(search_one, 2, 1)
        table.rate(RatedSearch(**{**search_one.__dict__, "session": "s2"}), 2, -1)
        with pytest.raises(ValueError):
            table.rate(search_one, 7, 1)
        assert len(table.rows()) == 3
        mine = table.rows("s1")
        assert [(r["rank"], r["rating"], r["comment"]) for r in mine] == [(1, -1, "on second thought, no"),
                                                                           (2, 1, "")]
        assert mine[0]["video_name"] == "clip.mp4" and mine[0]["profile"] == "offline"
        assert [r["title"] for r in json.loads(mine[0]["results_json"])] == ["T1", "T2"]
        path, n = table.export_csv(tmp_path / "r.csv", "s1")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert n == 2 and [r["title"] for r in rows] == ["T1", "T2"]


def test_library_registry_names_and_errors(tmp_path):
    registry = LibraryRegistry(root=tmp_path / "libs", bundled_db=tmp_path / "bundled")
    assert registry.names() == [BUNDLED]
    for bad in ("", "Bundled", "has space", "../up", "x" * 41):
        with pytest.raises(LibraryError):
            check_library_name(bad)
    assert check_library_name("My-Music_2") == "my-music_2"
    with pytest.raises(LibraryError, match="Unknown library"):
        registry.engine("nothing-here")
    with pytest.raises(LibraryError, match="Indexing folders on the server is off"):
        registry.index_folder("mine", tmp_path)
    with pytest.raises(LibraryError, match="None of the uploaded files is audio"):
        registry.index_uploads("mine", [str(tmp_path / "notes.txt")])
    assert registry.names() == [BUNDLED]  # failed attempts leave no library behind


def test_session_folders_are_separate_and_cleaned(tmp_path, monkeypatch):
    monkeypatch.setattr(sessions, "sessions_root", lambda: tmp_path / "sessions")
    alice, bob = "alice", sessions.session_hash_of(SimpleNamespace(session_hash="bob/../x"))
    made = []
    for i in range(sessions.KEEP_SEARCHES + 2):
        made.append(sessions.new_search_dir(alice, f"search{i}"))
        time.sleep(0.02)  # folders are ordered by modification time
    kept = sorted(p.name for p in sessions.session_dir(alice).iterdir())
    assert kept == [p.name for p in made[-sessions.KEEP_SEARCHES:]]
    bob_dir = sessions.new_search_dir(bob, "search0")
    assert bob_dir.parent != made[0].parent and bob_dir.parent.parent == tmp_path / "sessions"
    sessions.delete_session(alice)
    assert not (tmp_path / "sessions" / "alice").exists() and bob_dir.exists()
    shutil.rmtree(tmp_path / "sessions")


def test_markdown_escapes_user_text():
    escaped = formatting.md_escape("<b>*bold*</b> [link](x)")
    assert "<b>" not in escaped and "\\*bold\\*" in escaped and "\\[link\\]" in escaped
