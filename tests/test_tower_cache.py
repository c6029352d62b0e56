"""The shipped tower without torch on the search path: checkpoint info beside checkpoint.pt, window vectors cached
beside the library, identical rankings, and a cold text search that imports no torch (issue 13)."""
from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from vml_demo import config
from vml_demo.media.hashing import file_sha256
from vml_demo.model.checkpoint_info import INFO_FILE, CheckpointMismatchError, checkpoint_info

SHIPPED = config.CHECKPOINTS_DIR / "music_text_minilm_realtext"
OTHER = config.CHECKPOINTS_DIR / "music_text_minilm_synthtext"


def test_checkpoint_info_is_derived_once_and_follows_the_weights(tmp_path, monkeypatch):
    from vml_demo.model import checkpoint
    from vml_demo.model.music_text_inference import load_music_tower

    ck = tmp_path / "old"
    ck.mkdir()
    shutil.copy(SHIPPED / "checkpoint.pt", ck / "checkpoint.pt")  # a checkpoint saved before checkpoint.json
    info = checkpoint_info(ck)
    assert info["sha256"] == file_sha256(ck / "checkpoint.pt") and (ck / INFO_FILE).is_file()
    assert info["config"]["features"]["text_encoder"] == "minilm"

    def no_torch(*_):
        raise AssertionError("checkpoint.pt read although checkpoint.json is current")

    monkeypatch.setattr(checkpoint, "_read_payload", no_torch)
    assert checkpoint_info(ck) == info
    with pytest.raises(CheckpointMismatchError, match="text_encoder"):  # the fit check, from checkpoint.json
        load_music_tower(ck, "clip")
    tower = load_music_tower(ck, "minilm")
    assert tower._model is None and tower.fingerprint == info["sha256"][:12]
    monkeypatch.undo()

    shutil.copy(OTHER / "checkpoint.pt", ck / "checkpoint.pt")  # replaced weights: the stale info is not trusted
    assert checkpoint_info(ck)["sha256"] == file_sha256(OTHER / "checkpoint.pt")


def test_shipped_checkpoints_carry_current_info():
    for folder in (SHIPPED, OTHER, config.CHECKPOINTS_DIR / "music_text_minilm"):
        assert checkpoint_info(folder)["sha256"] == file_sha256(folder / "checkpoint.pt")


def test_cached_tower_vectors_rank_as_computed_ones(tmp_path):
    from vml_demo.search.engine import SearchEngine
    from vml_demo.search.spaces import TrainedSpace

    db = tmp_path / "index"
    db.mkdir()
    shutil.copy(config.REPO_ROOT / "assets" / "index" / "library.sqlite", db / "library.sqlite")
    first = SearchEngine(db, space="auto")  # the shipped default: an ensemble with the tower
    tower = getattr(first.space, "tower", first.space)
    assert isinstance(tower, TrainedSpace)
    assert list((db / "faiss").glob(f"window_emb-{tower.key}-*.npz"))
    second = SearchEngine(db, space="auto")
    music_tower = getattr(second.space, "tower", second.space).tower
    assert music_tower._model is None  # read from the cache, no torch model
    second.space.warm_up()  # what the app loads ahead for a video's own music
    assert music_tower._encode is not None and music_tower.runtime == "onnxruntime"  # on the CPU
    computed = second.space.window_embeddings(second.table)  # the tower run now, without the cache
    assert np.array_equal(second.window_emb, computed) and np.array_equal(first.window_emb, computed)
    for text in ("calm piano", "energetic rock with distorted guitar, no vocals", "dark ambient"):
        a, b = first.search(text=text, k=10), second.search(text=text, k=10)
        assert [(r.track_id, r.score) for r in a.results] == [(r.track_id, r.score) for r in b.results]


def _cold_cli_imports() -> str:
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "vml_demo", "search", "--text", "calm piano"],
                         capture_output=True, text=True, timeout=300, cwd=config.REPO_ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stderr


def test_cold_cli_text_search_imports_no_torch_once_cached():
    _cold_cli_imports()  # the first search after indexing may run the tower and cache its vectors
    imported = {line.rsplit("|", 1)[-1].strip() for line in _cold_cli_imports().splitlines() if "|" in line}
    assert "vml_demo.search.engine" in imported
    assert not {m for m in imported if m.split(".")[0] in ("torch", "transformers", "sentence_transformers")}


def test_onnx_tower_matches_torch_on_library_windows():
    """The exported music encoder against the torch model, on real windows in context (short tracks' padded
    sequences included): within 1e-5, so cached window vectors do not depend on which built them."""
    from vml_demo.library.features import load_window_table
    from vml_demo.library.store import LibraryStore
    from vml_demo.model.music_text_inference import (embed_in_context, load_music_tower, table_sequences,
                                                     torch_encoder)

    table = load_window_table(LibraryStore(config.REPO_ROOT / "assets" / "index"))
    tower = load_music_tower(SHIPPED, "minilm", table)
    sequences = table_sequences(table)[:600]
    sequences += [[0], [0, 1]]  # one- and two-window contexts (a short clip): padded to the graph's length
    feats = tower._inputs(table.features)
    onnx = embed_in_context(tower.encode_music, feats, sequences, 384)
    assert tower.runtime == "onnxruntime" and tower.onnx_path().is_file()
    reference = embed_in_context(torch_encoder(tower.model.encode_music), feats, sequences, 384)
    assert np.abs(onnx - reference).max() < 1e-5


def test_fresh_library_tower_vectors_import_no_torch_once_exported(tmp_path):
    """A fresh clone's library (no cached window vectors) builds them in onnxruntime once the graph is exported."""
    from vml_demo.model.music_text_inference import load_music_tower

    load_music_tower(SHIPPED, "minilm").encode_music  # noqa: B018 - exports the graph if this machine has none
    db = tmp_path / "index"
    db.mkdir()
    shutil.copy(config.REPO_ROOT / "assets" / "index" / "library.sqlite", db / "library.sqlite")
    code = ("import sys; from vml_demo.search.engine import SearchEngine; e = SearchEngine(sys.argv[1], space='auto'); "
            "assert e.search(text='calm piano', k=3).results; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers'}))")
    out = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, timeout=300,
                         cwd=config.REPO_ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert list((db / "faiss").glob("window_emb-tower-*.npz"))
