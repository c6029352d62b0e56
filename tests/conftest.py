"""Shared fixtures. Tests run offline and on the CPU."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("VML_DEVICE", "cpu")
# No language model unless a test asks for one: with the packaged Gemma installed, prompt2text would otherwise
# load it (a minute) and generate (seconds a text) wherever a test trains with the default methods.
os.environ["VML_TEXT_LM"] = "none"

import shutil  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from vml_demo import config  # noqa: E402


@pytest.fixture(scope="session")
def library_dir() -> Path:
    return config.LIBRARY_AUDIO_DIR


@pytest.fixture(scope="session")
def videos_dir() -> Path:
    return config.SAMPLE_VIDEOS_DIR


SMALL_LIBRARY_TRACKS = {  # (file, what its source calls it): metal with guitar, calm ambient, orchestral with flute, chiptune
    "fretsonfire_metal_madness.ogg": "metal",
    "openclonk_theskylands.ogg": "rock",
    "naev_ambient2_5.ogg": "ambient",
    "unknown_peer_gynt_suite_no_1_op_46_i_morning.ogg": "classical",
    "pekka_song01.ogg": "chiptune",
    "marsshooter_01_ezer_ev.ogg": "metal with female vocals",
}


@pytest.fixture(scope="session")
def small_library(tmp_path_factory, library_dir):
    """The first 30 s of six bundled tracks, indexed with the real encoders."""
    from vml_demo.library.indexer import index_folder
    from vml_demo.media.ffmpeg import ffmpeg_exe

    folder = tmp_path_factory.mktemp("small_library")
    shutil.copy(library_dir / "library.json", folder / "library.json")  # titles, licenses, attribution
    for name in SMALL_LIBRARY_TRACKS:
        subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(library_dir / name), "-t", "30", "-c", "copy",
                        str(folder / name)], check=True, timeout=60)
    db = tmp_path_factory.mktemp("small_index")
    report = index_folder(folder, db)
    assert len(report.added) == len(SMALL_LIBRARY_TRACKS) and not report.failed
    return db
