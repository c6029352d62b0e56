"""Safe to host: what the file route serves, bad input through the API, index roots, uploads, sessions, ratings.

Runs against the shared `python app.py` of app_helpers.api_app (gradio_client and plain HTTP). Every bad input
must come back as a one-line message without a traceback or a server path, leave the server up, and leave
what is stored (the index, the ratings, the libraries) exactly as it was.
"""
from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

import media_factory as mf
from app_helpers import MAX_UPLOADS, MAX_VIDEO_S, api_app, app, client  # noqa: F401 - fixtures
from library_helpers import write_tone
from vml_demo import config
from vml_demo.app import sessions
from vml_demo.app.libraries import BUNDLED, LibraryRegistry, allowed_folder
from vml_demo.errors import LibraryError

VIDEOS = config.SAMPLE_VIDEOS_DIR


def stored_state(app) -> str:
    """A digest of everything the app keeps: every table of every database under the index and libraries."""
    digest = hashlib.sha256()
    for db in sorted([*app.index.rglob("*.sqlite"), *(app.work / "libraries").rglob("*.sqlite")]):
        digest.update(str(db.relative_to(app.work)).encode())
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
                for row in conn.execute(f"SELECT * FROM {table} ORDER BY rowid"):
                    digest.update(repr(row).encode())
        finally:
            conn.close()
    return digest.hexdigest()


def assert_one_clean_line(message: str, app) -> None:
    assert message and "\n" not in message.strip(), message
    assert "Traceback" not in message
    for server_path in (str(app.work), str(config.REPO_ROOT), "/tmp/"):
        assert server_path not in message, f"server path in {message!r}"


def search(client, video=None, text="", library=BUNDLED, k=2, weight=0.5):
    from gradio_client import handle_file

    return client.predict(library, handle_file(str(video)) if video else None, text, [], [], [], weight, k,
                          api_name="/search")


# -- the bad-input matrix ---------------------------------------------------------------------------------
# (case, how to make the request, "error" or "ok", what the one-line message says)

def _media(tmp: Path, case: str) -> Path | None:
    makers = {
        "wrong file type": lambda: mf.png_image(tmp / "photo.png"),
        "renamed non-video": lambda: mf.text_file(tmp / "notes.mp4"),
        "zero bytes": lambda: mf.zero_length(tmp / "empty.mp4"),
        "truncated mp4": lambda: mf.truncated_copy(VIDEOS / "cockatoo.mp4", tmp / "cut.mp4", 0.003),
        "no video stream": lambda: mf.sine_tone(tmp / "tone.m4a", 3.0),
        "1 frame": lambda: mf.one_frame_video(tmp / "single.mp4"),
        "huge resolution": lambda: _huge_video(tmp / "huge.mp4"),
        "longer than the limit": lambda: VIDEOS / "earth_night.mp4",
        "silent audio": lambda: mf.video_with_silent_audio(tmp / "hush.mp4", 3.0),
        "missing audio": lambda: mf.color_bars_video(tmp / "bars.mp4", 3.0),
    }
    return makers[case]() if case in makers else None


def _huge_video(path: Path) -> Path:
    mf.ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=8300x8300:r=1:d=1", "-frames:v", "1", "-c:v", "mjpeg",
              "-q:v", "31", path, timeout_s=120)
    return path


SEARCH_MATRIX = [
    ("wrong file type", {"text": "calm piano"}, "error", "not a video"),
    ("renamed non-video", {"text": "calm piano"}, "error", "is not a video or audio file"),
    ("zero bytes", {"text": "calm piano"}, "error", "empty"),
    ("truncated mp4", {"text": "calm piano"}, "error", "truncated"),
    ("no video stream", {"text": "calm piano"}, "error", "has no picture"),
    ("1 frame", {"text": ""}, "ok", "results"),
    ("huge resolution", {"text": "calm piano"}, "error", "megapixels"),
    ("longer than the limit", {"text": "calm piano"}, "error", f"the limit is 0:{MAX_VIDEO_S}"),
    ("silent audio", {"text": ""}, "ok", "results"),
    ("missing audio", {"text": ""}, "ok", "results"),
    ("unicode text", {"text": "música tranquila 🎹 für Klavier, 静かなピアノ"}, "ok", "música tranquila"),
    ("10k-character text", {"text": "calm piano " * 910}, "error", "too long"),
    ("only negations", {"text": "no drums, no vocals"}, "ok", "Avoiding"),
    ("nothing at all", {"text": ""}, "error", "Give a video, a description of the music, or both"),
    ("unknown library", {"text": "rock", "library": "nope"}, "error", "Unknown library"),
]


@pytest.mark.parametrize("case, request_args, outcome, message", SEARCH_MATRIX, ids=[c[0] for c in SEARCH_MATRIX])
def test_bad_search_input_gets_one_line_and_changes_nothing(client, app, tmp_path, case, request_args, outcome,
                                                            message):
    from gradio_client.exceptions import AppError

    video = _media(tmp_path, case)
    before = stored_state(app)
    if outcome == "error":
        with pytest.raises(AppError) as caught:
            search(client, video=video, **request_args)
        shown = str(caught.value)
    else:
        summary, response = search(client, video=video, **request_args)
        shown = summary.split("\n\n")[0] + " " + summary.replace("\\", "")
        assert response["results"]
    assert message in shown, shown
    assert_one_clean_line(str(caught.value) if outcome == "error" else summary.split("\n\n")[0], app)
    assert app.proc.poll() is None
    assert stored_state(app) == before


def _index_case(app, tmp: Path, case: str):
    """(library name, server folder, uploads) for one bad indexing request."""
    from gradio_client import handle_file

    served = app.served
    if case == "library folder of broken files":
        folder = served / "all_broken"
        folder.mkdir(exist_ok=True)
        mf.text_file(folder / "fake.mp3")
        mf.zero_length(folder / "empty.wav")
        mf.truncated_copy(config.LIBRARY_AUDIO_DIR / "pekka_song01.ogg", folder / "cut.ogg", 0.01)
        return "brokenlib", "served/all_broken", None
    if case == "upload of 0 audio files":
        return "nothing", "", [handle_file(str(mf.text_file(tmp / "notes.txt")))]
    if case == "upload of no files at all":
        return "nothing", "", []
    if case == "too many uploads":
        tones = [write_tone(tmp / f"t{i}.wav", 300.0 + 50 * i, 1.0) for i in range(MAX_UPLOADS + 1)]
        return "many", "", [handle_file(str(t)) for t in tones]
    if case == "folder outside the allowed roots":
        outside = tmp / "music"
        outside.mkdir()
        write_tone(outside / "a.wav", 440.0, 11.0)
        return "outside", str(outside), None
    if case == "traversal":
        return "up", "served/../../..", None
    if case == "url-encoded traversal":
        return "up", urllib.parse.unquote("served/%2e%2e/%2e%2e"), None
    if case == "symlinked folder escaping the root":
        target = tmp / "elsewhere"
        target.mkdir()
        write_tone(target / "a.wav", 440.0, 11.0)
        link = served / "sneaky"
        if not link.is_symlink():
            link.symlink_to(target, target_is_directory=True)
        return "sneaky", "served/sneaky", None
    if case == "symlinked file escaping the root":
        folder = served / "mixed"
        folder.mkdir(exist_ok=True)
        write_tone(folder / "real.wav", 440.0, 11.0)
        secret = write_tone(tmp / "secret.wav", 220.0, 11.0)
        if not (folder / "link.wav").is_symlink():
            (folder / "link.wav").symlink_to(secret)
        return "mixed", "served/mixed", None
    raise AssertionError(case)


INDEX_MATRIX = [
    ("library folder of broken files", "No readable audio in served/all_broken (3 files failed"),
    ("upload of 0 audio files", "Invalid file type. Please upload a file that is one of these formats"),
    ("upload of no files at all", "Upload some audio files, or give a folder on the server"),
    ("too many uploads", f"upload at most {MAX_UPLOADS}"),
    ("folder outside the allowed roots", "Only folders inside served may be indexed here"),
    ("traversal", "must not contain '..'"),
    ("url-encoded traversal", "must not contain '..'"),
    ("symlinked folder escaping the root", "served/sneaky links outside the folders"),
    ("symlinked file escaping the root", "served/mixed/link.wav links outside the folders"),
]


@pytest.mark.parametrize("case, message", INDEX_MATRIX, ids=[c[0] for c in INDEX_MATRIX])
def test_bad_index_request_is_refused_and_changes_nothing(client, app, tmp_path, case, message):
    from gradio_client.exceptions import AppError

    name, folder, uploads = _index_case(app, tmp_path, case)
    before = stored_state(app)
    with pytest.raises(AppError) as caught:
        client.predict(name, folder, uploads, api_name="/index_library")
    assert message in str(caught.value)
    assert_one_clean_line(str(caught.value), app)
    assert stored_state(app) == before
    assert not (app.work / "libraries" / name).exists()  # no half-made library left behind
    assert app.proc.poll() is None


def test_rating_without_a_search_and_export_of_everyone_are_refused(app):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(app.url, verbose=False)  # a new session: it has searched nothing
    before = stored_state(app)
    with pytest.raises(AppError, match="Run a search first") as caught:
        client.predict("great", api_name="/rate_1_up")
    assert_one_clean_line(str(caught.value), app)
    with pytest.raises(AppError, match="Exporting every session's ratings is off here") as caught:
        client.predict(BUNDLED, "all sessions", api_name="/export_ratings")
    assert_one_clean_line(str(caught.value), app)
    assert stored_state(app) == before


def test_concurrent_index_requests_are_queued_and_both_answered(app, tmp_path):
    from gradio_client import Client

    folder = app.served / "pair"
    folder.mkdir()
    write_tone(folder / "hum.wav", 110.0, 11.0)
    answers: list = [None, None]

    def run(i):
        try:
            answers[i] = Client(app.url, verbose=False).predict("pair", "served/pair", None,
                                                                api_name="/index_library")[0]
        except Exception as err:  # noqa: BLE001 - recorded and checked below
            answers[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert all(isinstance(a, str) for a in answers), answers
    assert sorted("1 added" in a for a in answers) == [False, True]  # one indexed it, the other found it unchanged
    assert any("1 unchanged" in a for a in answers)
    assert app.proc.poll() is None


# -- the file route ------------------------------------------------------------------------------------------

def http_status(app, path: str) -> int:
    url = app.url + "gradio_api/file=" + path
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture(scope="module")
def own_files(app):
    """One session's search with a video, through the whole chain (search, excerpts, previews), unfetched."""
    from gradio_client import Client, handle_file

    client = Client(app.url, verbose=False, download_files=False)
    client.predict(BUNDLED, handle_file(str(VIDEOS / "pedestrians.mp4")), "calm piano", [], [], [], 0.5, 1,
                   api_name="/search")
    slots = client.predict("genre", api_name="/results")
    job = client.submit(False, -12, api_name="/previews")
    job.result(timeout=300)
    previews = [v for update in job.outputs() for v in update]  # each preview arrives in its own update
    previews += [f for v in previews if isinstance(v, list) for f in v]  # the export bundles: a list of files
    files = [v for v in (*slots, *previews) if isinstance(v, dict) and v.get("url")]
    return SimpleNamespace(client=client, urls=[f["url"] for f in files], paths=[f["path"] for f in files])


def test_the_file_route_serves_samples_and_the_sessions_own_outputs(app, own_files):
    assert http_status(app, str(VIDEOS / "cockatoo.mp4")) == 200
    names = [Path(p).name for p in own_files.paths]
    assert any(n.endswith(".mp3") for n in names) and any(n.startswith("pedestrians+01_") for n in names)
    assert any(n.startswith("pedestrians+01_") and n.endswith(".zip") for n in names)  # the export bundle
    for url in own_files.urls:
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.status == 200 and len(resp.read()) > 1000


def test_the_file_route_refuses_everything_else(app, own_files, tmp_path):
    # Fill in what a visitor could ask for: the index, ratings (made by an export), UI libraries, logs.
    own_files.client.predict(BUNDLED, "this session", api_name="/export_ratings")
    ratings = app.index / "ratings.sqlite"
    assert ratings.exists()
    library_db = next((app.work / "libraries").glob("*/index/library.sqlite"), None)
    session_files = list((app.work / "tmp" / "vml_demo_sessions").rglob("*.mp*"))
    assert session_files  # the session's own working copies (what Gradio copied into its cache was served)
    cache = app.work / "tmp" / "gradio"
    link = cache / "link-to-ratings.sqlite"
    link.symlink_to(ratings)
    dir_link = cache / "link-to-index"
    dir_link.symlink_to(app.index, target_is_directory=True)
    refused = {
        "bundled index": app.index / "library.sqlite",
        "ratings": ratings,
        "repository index": config.ASSETS_DIR / "index" / "library.sqlite",
        "a checkpoint": next(config.CHECKPOINTS_DIR.rglob("*.pt"), config.CHECKPOINTS_DIR / "x.pt"),
        "server log": app.log_path,
        "session working folder": session_files[0],
        "library audio outside the samples": next(config.LIBRARY_AUDIO_DIR.glob("*.ogg")),
        "system file": Path("/etc/passwd"),
        "symlink in the cache to the ratings": link,
        "file through a symlinked folder in the cache": dir_link / "library.sqlite",
    }
    if library_db:
        refused["a UI library's index"] = library_db
    for what, path in refused.items():
        assert http_status(app, str(path)) == 403, what
    # '..' and its URL-encoded forms from a folder that is served
    dotted = f"{VIDEOS}/../index/library.sqlite"
    assert http_status(app, dotted) == 403
    assert http_status(app, urllib.parse.quote(dotted)) == 403
    assert http_status(app, dotted.replace("..", "%2e%2e")) == 403
    assert http_status(app, dotted.replace("/", "%2F")) in (403, 404)
    assert app.proc.poll() is None


# -- index roots, uploads, sessions, ratings (no server) ---------------------------------------------------

def test_allowed_folder_needs_roots_and_stays_inside(tmp_path, monkeypatch):
    root = tmp_path / "music"
    (root / "jazz").mkdir(parents=True)
    (tmp_path / "private").mkdir()
    (root / "escape").symlink_to(tmp_path / "private", target_is_directory=True)
    monkeypatch.delenv("VML_INDEX_ROOTS", raising=False)
    with pytest.raises(LibraryError, match="off here"):
        allowed_folder(str(root))
    monkeypatch.setenv("VML_INDEX_ROOTS", str(root))
    assert allowed_folder("jazz")[2] == "music/jazz"
    assert allowed_folder("music/jazz")[0] == (root / "jazz").resolve()
    assert allowed_folder(str(root / "jazz"))[2] == "music/jazz"
    for bad, message in (("../private", r"'\.\.'"), (str(tmp_path / "private"), "Only folders inside music"),
                         ("escape", "links outside"), ("nothing", "is not a folder"), ("  ", "Give the folder")):
        with pytest.raises(LibraryError, match=message) as caught:
            allowed_folder(bad)
        assert str(tmp_path) not in str(caught.value)


def test_uploads_with_one_name_never_overwrite_each_other(tmp_path, monkeypatch):
    from library_helpers import BandEnergyEncoder

    monkeypatch.setattr("vml_demo.encoders.profiles.music_encoders", lambda: [BandEnergyEncoder()])
    registry = LibraryRegistry(root=tmp_path / "libs", bundled_db=tmp_path / "bundled")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_tone(tmp_path / "a" / "song.wav", 440.0, 11.0)
    second = write_tone(tmp_path / "b" / "song.wav", 880.0, 11.0)
    registry.index_uploads("mine", [str(first)])
    outcome = registry.index_uploads("mine", [str(second), str(first)])  # same name, other content; same again
    kept = sorted(p.name for p in registry.audio_dir("mine").iterdir())
    assert kept == ["song-2.wav", "song.wav"] and outcome.tracks == 2
    assert (registry.audio_dir("mine") / "song.wav").read_bytes() == first.read_bytes()


def test_previews_in_progress_are_not_deleted_by_newer_searches(tmp_path, monkeypatch):
    monkeypatch.setattr(sessions, "sessions_root", lambda: tmp_path / "sessions")
    busy = sessions.new_search_dir("alice", "first")
    with sessions.in_use(busy):
        for i in range(sessions.KEEP_SEARCHES + 3):
            time.sleep(0.02)
            sessions.new_search_dir("alice", f"later{i}")
        assert busy.exists()
    sessions.new_search_dir("alice", "after")
    assert not busy.exists()  # idle again: old searches go as before
    assert len([p for p in sessions.session_dir("alice").iterdir()]) == sessions.KEEP_SEARCHES


def test_clients_without_a_session_hash_do_not_share_a_folder():
    ids = {sessions.session_hash_of(SimpleNamespace(session_hash=h)) for h in (None, "", None, "__")}
    assert len(ids) == 4 and all(i.startswith("anon-") for i in ids)


def test_a_sessions_files_go_when_it_ends(tmp_path, monkeypatch):
    from vml_demo.app.handlers import Handlers

    monkeypatch.setattr(sessions, "sessions_root", lambda: tmp_path / "sessions")
    folder = sessions.new_search_dir("bob", "s1")
    (folder / "01_track.mp3").write_bytes(b"x")
    other = sessions.new_search_dir("carol", "s1")
    Handlers(registry=None).on_unload(SimpleNamespace(session_hash="bob"))
    assert not (tmp_path / "sessions" / "bob").exists() and other.exists()


def test_ratings_survive_kill_9_mid_write(tmp_path):
    from vml_demo.library.store import LibraryStore

    LibraryStore(tmp_path, create=True).close()
    script = textwrap.dedent(f"""
        import sys
        from vml_demo.app.ratings import RatedSearch, RatingsTable
        results = [{{"rank": r, "track_id": r, "file": f"t{{r}}.ogg", "title": "T", "artist": "A", "score": 0.5,
                     "start_s": 0.0}} for r in range(1, 21)]
        table = RatingsTable({str(tmp_path)!r})
        for i in range(100000):
            search = RatedSearch("s", f"q{{i}}", "calm " * 200, "v.mp4", 0.5, "text", "bridge", "offline",
                                 "minilm", "visual_descriptors", "cpu", results)
            table.rate(search, 1 + i % 20, 1, "comment " * 100)
            print(i + 1, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=str(config.REPO_ROOT))
    committed = 0
    for line in proc.stdout:
        committed = int(line)
        if committed >= 200:
            break
    os.kill(proc.pid, signal.SIGKILL)  # mid-write: no cleanup, no checkpoint
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    conn = sqlite3.connect(tmp_path / "ratings.sqlite")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT COUNT(*) FROM ratings").fetchone()[0]
    finally:
        conn.close()
    assert committed <= rows <= committed + 2  # every reported vote is there; at most the one in flight more


def test_messages_lose_server_paths():
    import tempfile

    from vml_demo.app.formatting import public_text

    libs = Path("/srv/vml/libraries")
    text = (f"No music library index in {config.REPO_ROOT}/assets/index (run: ... --db /opt/x/index); "
            f"{libs}/mine/index/library.sqlite; {tempfile.gettempdir()}/gradio/ab12/clip.mp4; "
            "/root/.cache/huggingface/hub/model.safetensors; text / zero-shot at 1/2 speed, see http://a.b/c/d")
    shown = public_text(text, libs)
    assert "assets/index" in shown and "mine/index/library.sqlite" in shown and "model.safetensors" in shown
    for server_path in (str(config.REPO_ROOT), "/opt/x", str(libs), tempfile.gettempdir() + "/", "/root/"):
        assert server_path not in shown, shown
    assert "text / zero-shot at 1/2 speed" in shown and "http://a.b/c/d" in shown
