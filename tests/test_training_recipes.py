"""Training recipes end to end on small real data: the music-text tower and ViML on generated music videos."""
from __future__ import annotations

import subprocess
import sys

import pytest

from media_factory import ffmpeg

FAST = {"train": {"epochs": 3, "batch_size": 16, "progress": False}, "model": {"d_model": 64}}


@pytest.fixture(scope="module")
def music_text_run(small_library, tmp_path_factory):
    from vml_demo.train.music_text import train_music_text

    out = tmp_path_factory.mktemp("music_text_run")
    result = train_music_text([small_library], out, methods=("tags", "data2text"), overrides=FAST, progress=False)
    return out, result


def test_music_text_training_writes_checkpoint_with_card(music_text_run):
    out, result = music_text_run
    assert (out / "best" / "checkpoint.pt").is_file() and (out / "last" / "train_state.pt").is_file()
    card = (out / "best" / "model_card.md").read_text()
    assert "windows" in card and "minilm" in card
    assert len(result.history) == 3 and all(h["loss"] > 0 for h in result.history)


def test_trained_tower_serves_search_and_rejects_other_text_encoders(music_text_run, small_library):
    from vml_demo.model.checkpoint import CheckpointMismatchError
    from vml_demo.model.music_text_inference import load_music_tower
    from vml_demo.search.engine import SearchEngine

    out, _ = music_text_run
    engine = SearchEngine(small_library, space=str(out))
    assert engine.space.key.startswith("tower-")
    response = engine.search(text="heavy metal guitar", k=3)
    assert len(response.results) == 3 and response.space == engine.space.key
    with pytest.raises(CheckpointMismatchError, match="text_encoder"):
        load_music_tower(out, "clip")


def test_music_text_training_resumes(music_text_run, small_library):
    from vml_demo.train.music_text import train_music_text

    out, first = music_text_run
    more = {**FAST, "train": {**FAST["train"], "epochs": 4}}
    resumed = train_music_text([small_library], out, methods=("tags", "data2text"), overrides=more, resume=True,
                               progress=False)
    assert [h["epoch"] for h in resumed.history] == [0, 1, 2, 3]  # epochs 0-2 restored, 3 trained
    assert resumed.history[:3] == first.history


def test_weak_text_reads_catalog_fields_descriptions_and_game_tags():
    from vml_demo.train.weak_text import track_texts

    meta = {"package": "x-data", "title": "Calm Waters", "artist": "Ann", "genre": "Ambient",
            "path": "/usr/share/games/x/music/DarkForest_02.ogg"}
    package = {"description": "Data files for x", "tags": ["game::arcade", "role::app-data"],
               "long_description": "X is a relaxing underwater game with a soothing soundtrack.\n"
                                   "This package contains the data files.",
               "related": [{"description": "underwater arcade game", "tags": ["game::arcade", "game::TODO"],
                            "long_description": ""}]}
    texts = track_texts(meta, package)
    assert texts == ["Calm Waters by Ann", "ambient music", "dark forest", "Data files for x",
                     "X is a relaxing underwater game with a soothing soundtrack.", "arcade game",
                     "underwater arcade game"]  # packaging sentences and non-game tags left out, repeats once
    assert track_texts({**meta, "title": "", "genre": "Other", "path": "bgm2.ogg"}, None) == []


def test_real_text_training_splits_by_package_and_mixes_texts(small_library, tmp_path):
    from vml_demo.encoders.text import load_text_encoder
    from vml_demo.library.features import load_window_table
    from vml_demo.library.store import LibraryStore
    from vml_demo.train.music_text import build_examples, split_by_group, to_paired, train_music_text, weak_texts_for
    from vml_demo.train.weak_text import WeakTextSource

    weak = weak_texts_for(small_library, WeakTextSource())  # the bundled tracks' real Debian metadata
    store = LibraryStore(small_library)
    table = load_window_table(store)
    store.close()
    assert len(weak) == 6 and all(t.texts for t in weak.values())
    examples = build_examples([("db", table)], ("tags",), 1, 0, weak={"db": weak})
    train, val = split_by_group(examples.split_keys, 0.3, 0)
    assert val and {examples.split_keys[i] for i in train}.isdisjoint(examples.split_keys[i] for i in val)
    assert all(k.startswith("package:") for k in examples.split_keys)
    paired = to_paired(examples, load_text_encoder("minilm"), train, real_text_ratio=0.5)
    assert paired.mix == {"text_emb": ("real_text_emb", 0.5)} and "real_text_emb" in paired.mix_sources
    over = {**FAST, "text": {"real_text_ratio": 0.5}}
    result = train_music_text([small_library], tmp_path, methods=("tags",), overrides=over, progress=False)
    card = (tmp_path / "best" / "model_card.md").read_text()
    assert "real_text_ratio 0.5" in card and "6 of 6 tracks" in card and len(result.history) == 3


def _music_video(path, pattern: str, freq: float, seconds: int = 25):
    ffmpeg("-f", "lavfi", "-i", f"{pattern}=size=160x120:rate=12:duration={seconds}",
           "-f", "lavfi", "-i", f"sine=frequency={freq}:duration={seconds}",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path))
    return path


def test_viml_train_and_evaluate_cli(tmp_path, small_library, monkeypatch):
    videos = tmp_path / "music_videos"
    videos.mkdir()
    for i, (pattern, freq) in enumerate([("testsrc2", 220), ("smptebars", 660), ("rgbtestsrc", 1320),
                                         ("testsrc", 440)]):
        _music_video(videos / f"clip{i}.mp4", pattern, freq)
    (videos / "silent.mp4").write_bytes(b"")  # unusable: skipped and reported, not fatal
    out = tmp_path / "viml"
    cmd = [sys.executable, "-m", "vml_demo", "train", "viml", "--videos", str(videos), "--out", str(out),
           "--epochs", "2", "--fusion", "mlp"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (out / "best" / "checkpoint.pt").is_file()
    assert "silent.mp4 is empty" in (out / "best" / "model_card.md").read_text()
    run = subprocess.run([sys.executable, "-m", "vml_demo", "evaluate", "viml", "--videos", str(videos),
                          "--checkpoint", str(out), "--pool", "all", "--cache", str(out / "feature_cache")],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "video+text" in run.stdout and "R@1" in run.stdout and "mlp" in run.stdout

    # The trained checkpoint fits the active encoders, so video search takes the learned ViML path.
    from vml_demo.search.engine import SearchEngine

    monkeypatch.setenv("VML_VIML_CHECKPOINT", str(out))
    engine = SearchEngine(small_library, space="bridge")
    assert engine.status()["video_model"].startswith("ViML path")
    response = engine.search(text="calm", video=videos / "clip0.mp4", k=3)
    assert response.route == "viml" and len(response.results) == 3
    assert response.to_json()["route"] == "viml" and "video_features" in response.timings
    # On the learned path the video-text weight blends scores (viml_path.blend_weights) and negations apply.
    def scores(**kw):
        return {r.track_id: r.score for r in engine.search(video=videos / "clip0.mp4", k=100, **kw).results}

    assert scores(text="calm", video_weight=0.2) != pytest.approx(scores(text="calm", video_weight=0.9))
    plain, negated = scores(text="calm"), scores(text="calm, no drums")
    assert all(negated[t] <= plain[t] + 1e-6 for t in plain) and negated != pytest.approx(plain)
    assert "ViML video+text" in engine.search(text="calm", video=videos / "clip0.mp4", k=1).score_blend
    monkeypatch.setenv("VML_VIML_CHECKPOINT", str(tmp_path / "nowhere"))
    fallback = SearchEngine(small_library, space="bridge")
    assert fallback.search(video=videos / "clip0.mp4", k=2).route == "zero-shot-video"
