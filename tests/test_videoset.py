"""The written video judgements (data/videoset) are complete, use the pools' label words, and load by split."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vml_demo import config
from vml_demo.evaluation.testset import DEFAULT_DIR, load_testset
from vml_demo.evaluation.videoset import VideoJudgement, load_video_judgements

REALSET_LABELS = config.REPO_ROOT / "data" / "realset" / "labels.json"
# The real set's categories as its brief fixes them, for when data/realset is not in this checkout.
REALSET_WORDS = {"genre": {"metal", "rock", "electronic", "ambient", "folk", "blues", "orchestral", "jazz",
                           "piano", "chiptune"},
                 "vocals": {"vocals", "instrumental"}, "energy": {"calm", "intense"}}


def _vocabulary():
    words: dict[str, set[str]] = {}
    docs = [json.loads((DEFAULT_DIR / "labels.json").read_text())["categories"]]
    docs.append(json.loads(REALSET_LABELS.read_text())["categories"] if REALSET_LABELS.exists() else REALSET_WORDS)
    for categories in docs:
        for cat, values in categories.items():
            words.setdefault(cat, set()).update(values)
    return words


# Where judged videos live (the app's samples, the larger judged set) and the SOURCES.md with their licences.
VIDEO_DIRS = {config.REPO_ROOT / "assets" / "videos": config.REPO_ROOT / "assets" / "videos" / "SOURCES.md",
              config.REPO_ROOT / "data" / "videoset" / "videos": config.REPO_ROOT / "data" / "videoset" / "SOURCES.md"}
# The first 7 judged videos and the split they were judged into; more videos must not move them.
FIRST_SPLIT = {"bunny_animation": "dev", "city_night": "dev", "underwater": "dev", "rocket_launch": "dev",
               "cockatoo": "test", "pedestrians": "test", "earth_night": "test"}


def test_every_video_on_disk_is_judged_with_pool_words():
    videos = load_video_judgements()
    on_disk = {p for d in VIDEO_DIRS for p in d.glob("*.mp4")}
    assert {v.path for v in videos} == on_disk and len({v.id for v in videos}) == len(videos)
    vocabulary = _vocabulary()
    for v in videos:
        assert v.path.is_file() and len(v.description) > 40 and len(v.notes) > 20, v.id
        for words in (v.fitting, v.misfitting):
            for cat, values in words.items():
                assert values and set(values) <= vocabulary.get(cat, set()), (v.id, cat, values)
        for cat in set(v.fitting) & set(v.misfitting):
            assert not set(v.fitting[cat]) & set(v.misfitting[cat]), (v.id, cat)
        # both pools can score every video: synthetic words and real-set words on each side
        for words in (v.fitting, v.misfitting):
            assert set(words) & {"mood", "instrument", "tempo", "genre"}, v.id
            assert any(set(vs) & REALSET_WORDS.get(c, set()) for c, vs in words.items()), v.id


def test_every_judged_video_is_readable_and_has_a_licence_row():
    from vml_demo.media.probe import probe
    rows: dict[Path, str] = {}   # a folder's video -> its SOURCES.md table row (| file | ... | licence | ...)
    for folder, sources in VIDEO_DIRS.items():
        for line in sources.read_text(encoding="utf-8").splitlines():
            first = line.strip("| ").split("|")[0].strip()
            if line.startswith("|") and first.endswith(".mp4"):
                rows[folder / first] = line
    for v in load_video_judgements():
        info = probe(v.path)
        assert info.has_video and info.duration_s > 1.0, (v.id, info.duration_s)
        assert info.width <= 1280 and info.height <= 720, v.id
        assert v.path in rows, f"{v.path.name} has no row in its folder's SOURCES.md"
        assert any(w in rows[v.path] for w in ("GPL", "BSD", "CC", "Expat", "public domain")), v.id


def test_each_added_video_has_its_cut_command_and_the_set_stays_small():
    folder = config.REPO_ROOT / "data" / "videoset" / "videos"
    text = VIDEO_DIRS[folder].read_text(encoding="utf-8")
    # the exact command that made each file: an ffmpeg line of SOURCES.md that writes it
    made = {line.split()[-1] for line in text.splitlines() if line.startswith("ffmpeg ")}
    files = sorted(folder.glob("*.mp4"))
    assert files and {f.name for f in files} <= made, {f.name for f in files} - made
    # kept in git: small cuts (the brief's budget: < 2 MB each, < 25 MB together)
    assert max(f.stat().st_size for f in files) < 2_000_000
    assert sum(f.stat().st_size for f in files) < 25_000_000


def test_split_halves_keep_the_first_videos_where_they_were():
    dev, test = load_video_judgements(split="dev"), load_video_judgements(split="test")
    assert {v.id for v in dev} | {v.id for v in test} == {v.id for v in load_video_judgements()}
    assert abs(len(dev) - len(test)) <= 2 and len(test) >= 10
    assert {v.id: v.split for v in dev + test if v.id in FIRST_SPLIT} == FIRST_SPLIT
    with pytest.raises(ValueError, match="unknown split"):
        load_video_judgements(split="train")


def test_fit_needs_one_fitting_and_no_misfitting_value():
    v = VideoJudgement("v", config.REPO_ROOT, "dev", "", {"mood": ("calm",), "genre": ("ambient",)},
                       {"tempo": ("fast",), "energy": ("intense",)})
    assert v.fits({"mood": ["calm"], "tempo": ["slow"]})
    assert v.fits({"genre": ["rock", "ambient"], "energy": "calm"})
    assert not v.fits({"mood": ["calm"], "tempo": ["fast"]})        # a clashing word vetoes
    assert not v.fits({"mood": ["sad"], "tempo": ["slow"]})         # nothing fitting
    assert not v.fits({"genre": None, "energy": None})              # unknown labels cannot fit


def test_random_baseline_is_between_none_and_all_of_the_synthetic_pool():
    if not (DEFAULT_DIR / "labels.json").exists():
        pytest.skip("data/testset not rendered")
    clips = load_testset(split="test").clips
    for v in load_video_judgements():
        share = sum(v.fits(c.labels) for c in clips) / len(clips)
        assert 0.05 < share < 0.8, (v.id, share)   # judgements that discriminate, not all or nothing
