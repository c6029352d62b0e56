"""Start `python app.py` for a test, isolated from the repository and /tmp: a writable copy of the
bundled index, its own port, libraries folder and temp dir; stopped when the block ends.

`api_app` is one such server shared by the API test modules (import the fixture by name): a lowered video
limit (a bundled sample then stands in for a too-long upload), one allowed index root (`served/`) and a small
upload limit."""
from __future__ import annotations

import contextlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from vml_demo.settings import get_settings


@contextlib.contextmanager
def isolated_app(work: Path, extra_env: dict[str, str] | None = None):
    from vml_demo.app.server import free_port, start_app, stop_app, wait_until_up, writable_index_copy

    if not (get_settings().db_dir / "library.sqlite").exists():
        pytest.skip(f"no bundled index at {get_settings().db_dir}")
    index = writable_index_copy(get_settings().db_dir, work / "index")
    port = free_port()
    (work / "tmp").mkdir()  # the server's temp dir (session folders, Gradio's cache) goes with the test's
    env = {"VML_DB": str(index), "VML_LIBRARIES_DIR": str(work / "libraries"), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "TMPDIR": str(work / "tmp"), **(extra_env or {})}
    proc = start_app(port, env=env, log_path=work / "app.log")
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, proc, timeout_s=120)
        yield SimpleNamespace(url=url, proc=proc, work=work, index=index, log_path=work / "app.log")
    finally:
        stop_app(proc)


MAX_VIDEO_S = 16  # earth_night.mp4 (20 s) is then too long; the other samples are shorter
MAX_UPLOADS = 5


@pytest.fixture(scope="session")
def api_app(tmp_path_factory):
    work = tmp_path_factory.mktemp("api-app")
    (work / "served").mkdir()
    env = {"VML_MAX_VIDEO_S": str(MAX_VIDEO_S), "VML_INDEX_ROOTS": str(work / "served"),
           "VML_MAX_UPLOADS": str(MAX_UPLOADS)}
    with isolated_app(work, env) as running:
        running.served = work / "served"
        yield running


@pytest.fixture(scope="module")
def app(api_app):
    return api_app


@pytest.fixture(scope="module")
def client(app):
    """A gradio_client Client on the shared API app."""
    from gradio_client import Client

    return Client(app.url, verbose=False)
