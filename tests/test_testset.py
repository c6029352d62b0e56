"""The labelled test set (data/testset) and the Debian training provenance are consistent."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
from collections import Counter

import numpy as np
import pytest

from vml_demo import config
from vml_demo.evaluation.testset import CATEGORIES, DEFAULT_DIR, judge, load_testset

PROVENANCE = config.REPO_ROOT / "data" / "debian_train" / "PROVENANCE.json"
LIBRARY_JSON = config.LIBRARY_AUDIO_DIR / "library.json"


@pytest.fixture(scope="module")
def ts():
    if not (DEFAULT_DIR / "labels.json").exists():
        pytest.skip("data/testset not rendered (python scripts/render_testset.py)")
    return load_testset()


def test_labels_match_files_on_disk(ts):
    ids = [c.id for c in ts.clips]
    assert len(ids) == len(set(ids)) and len(ids) >= 100
    assert all(c.path.is_file() and c.path.stat().st_size > 10_000 for c in ts.clips)
    on_disk = {p.name for p in ts.folder.glob("*.ogg")}
    assert on_disk == {c.path.name for c in ts.clips}
    # file names carry no label words, so nothing can be read off a path
    assert all(re.fullmatch(r"ts_\d{3}\.ogg", c.path.name) for c in ts.clips)
    assert sum(c.path.stat().st_size for c in ts.clips) < 16e6


def test_every_label_value_has_several_clips(ts):
    assert set(ts.categories) == set(CATEGORIES)
    for cat in CATEGORIES:
        counts = Counter(c.label(cat) for c in ts.clips)
        assert set(counts) == set(ts.values(cat)), cat
        assert min(counts.values()) >= 5, (cat, counts)
    for c in ts.clips:
        assert c.label("instrument") in c.instruments  # the lead really sounds (read from MIDI)
        lo, hi = json.loads((ts.folder / "labels.json").read_text())["tempo_bpm"][c.label("tempo")]
        assert lo <= c.bpm <= hi


def _script(name):
    spec = importlib.util.spec_from_file_location(name, config.REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _plain(text, vocabulary):
    """A query of the form "<one term> music" (one word or one label value)."""
    m = re.fullmatch(r"(.+) music", text.lower().strip(" .!?"))
    return bool(m) and (m.group(1) in vocabulary or re.fullmatch(r"[\w-]+", m.group(1)) is not None)


def test_queries_json_is_up_to_date_with_its_hand_written_source(ts):
    current = (ts.folder / "queries.json").read_text(encoding="utf-8")
    assert current == _script("make_queries").render(ts.folder), "run python scripts/make_queries.py"


def test_queries_are_many_varied_and_split_by_wording(ts):
    queries = ts.queries
    assert len(queries) >= 300
    texts = [q.text.lower() for q in queries]
    assert len(set(texts)) == len(texts)
    vocabulary = {v for values in ts.categories.values() for v in values}
    assert sum(_plain(t, vocabulary) for t in texts) <= 0.10 * len(queries)
    assert _plain("jazz music", vocabulary) and _plain("hip hop music", vocabulary)
    assert not _plain("electronic dance music", vocabulary)
    groups = {}
    for q in queries:
        groups.setdefault((tuple(sorted(q.labels.items())), tuple(sorted(q.negated.items()))), []).append(q)
    for key, members in groups.items():
        assert len(members) >= 3, key
        n_dev = sum(q.split == "dev" for q in members)
        assert 1 <= n_dev <= len(members) - 1 and abs(n_dev - len(members) / 3) <= 1, key
    singles = {(k, v) for (labels, negated) in groups if len(labels) == 1 and not negated for k, v in labels}
    assert singles == {(cat, v) for cat in CATEGORIES for v in ts.values(cat)}  # every label value alone
    assert sum(len(labels) >= 2 for labels, _ in groups) >= 40                   # and many combinations
    assert sum(bool(q.negated) for q in queries) >= 30


def test_query_relevance_is_computed_from_the_labels(ts):
    make_queries = _script("make_queries")
    for q in ts.queries:
        assert all(v in ts.values(k) for k, v in (*q.labels.items(), *q.negated.items())), q.id
        assert not set(q.ignore) & set(q.relevant), q.id
        for c in ts.clips:
            verdict = judge(c.labels, q.labels, q.negated, make_queries.weak_values(c.meta))
            assert (c.id in q.relevant) == (verdict == "relevant"), (q.id, c.id)
            assert (c.id in q.ignore) == (verdict == "ignore"), (q.id, c.id)
        # positives hold every label and none of the negated ones
        assert set(q.relevant) <= set(ts.matching(q.labels)), q.id
        assert not set(q.relevant) & {c.id for c in ts.clips
                                      if any(v in c.labels[k] for k, v in q.negated.items())}, q.id
    for split in ("dev", "test"):  # every query has positives among its own split's clips
        assert all(q.relevant for q in load_testset(split=split).queries), split


def test_split_is_fixed_and_balanced(ts):
    doc = json.loads((ts.folder / "labels.json").read_text())
    assert all(c["split"] in ("dev", "test") for c in doc["clips"])
    dev = [c for c in ts.clips if c.split == "dev"]
    assert Counter(c.label("genre") for c in dev) == Counter({g: 4 for g in ts.values("genre")})
    for cat in CATEGORIES:  # every value on both sides, near the dev share of 4/11
        total, got = Counter(c.label(cat) for c in ts.clips), Counter(c.label(cat) for c in dev)
        for v, n in total.items():
            assert 1 <= got[v] < n and abs(got[v] - n * 4 / 11) <= 2, (cat, v, got[v], n)


@pytest.mark.slow
def test_split_is_what_the_seeded_script_writes(ts):
    split_testset = _script("split_testset")
    doc = json.loads((ts.folder / "labels.json").read_text())
    dev = split_testset.choose_dev(doc["clips"])
    assert {c.id for c in ts.clips if c.split == "dev"} == dev
    assert json.dumps(split_testset.with_split(doc, dev), indent=1) + "\n" == (ts.folder / "labels.json").read_text()


def test_loading_one_split_restricts_clips_and_queries(ts):
    for split in ("dev", "test"):
        part = load_testset(split=split)
        ids = {c.id for c in part.clips}
        assert ids == {c.id for c in ts.clips if c.split == split}
        assert part.queries and all(q.split in (split, "") for q in part.queries)
        full = {q.id: q for q in ts.queries}
        for q in part.queries:
            assert set(q.relevant) == set(full[q.id].relevant) & ids
            assert set(q.ignore) == set(full[q.id].ignore) & ids
    with pytest.raises(ValueError, match="unknown split"):
        load_testset(split="train")


def test_judge_relevant_ignore_negative():
    clip = {"genre": ["rock"], "instrument": ["piano"], "mood": None}
    weak = {"instrument": {"organ"}}
    assert judge(clip, {"genre": "rock"}) == "relevant"
    assert judge(clip, {"genre": "jazz"}) == "negative"
    assert judge(clip, {"genre": "rock", "mood": "sad"}) == "ignore"            # unknown mood
    assert judge(clip, {"genre": "jazz", "mood": "sad"}) == "negative"          # surely fails anyway
    assert judge(clip, {"instrument": "organ"}, weak=weak) == "ignore"          # organ only accompanies
    assert judge(clip, {"genre": "rock"}, {"instrument": "piano"}) == "negative"
    assert judge(clip, {"genre": "rock"}, {"instrument": "violin"}) == "relevant"
    assert judge(clip, {"genre": "rock"}, {"instrument": "organ"}, weak) == "ignore"
    assert judge(clip, {"genre": "rock"}, {"mood": "sad"}) == "ignore"


def test_generic_format_with_unknown_values_and_old_key(tmp_path):
    categories = {"genre": ["rock", "folk"], "vocals": ["vocals", "instrumental"]}
    (tmp_path / "labels.json").write_text(json.dumps({"categories": categories, "clips": [
        {"id": "a", "file": "a.ogg", "split": "dev", "genre": ["rock", "folk"], "vocals": None},
        {"id": "b", "file": "b.ogg", "split": "test", "genre": "folk", "vocals": "vocals"}]}))
    (tmp_path / "queries.json").write_text(json.dumps({"queries": [
        {"id": "q", "text": "folk songs", "labels": {"genre": "folk"}, "relevant": ["a", "b"],
         "also_sounding": ["a"]}]}))
    full = load_testset(tmp_path)
    assert full.clip("a").labels == {"genre": ["rock", "folk"]} and full.clip("b").label("vocals") == "vocals"
    assert full.queries[0].ignore == ("a",) and full.queries[0].negated == {}
    test = load_testset(tmp_path, split="test")
    assert [c.id for c in test.clips] == ["b"] and test.queries[0].relevant == ("b",) and test.queries[0].ignore == ()


def _decode(path):
    import imageio_ffmpeg

    raw = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-ac", "1", "-ar",
                          "16000", "-f", "f32le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<f4")


def test_clips_decode_and_are_not_silent(ts):
    for clip in (ts.clips[0], ts.clips[len(ts.clips) // 2]):
        x = _decode(clip.path)
        assert abs(len(x) / 16000 - clip.meta["duration_s"]) < 0.2
        rms_db = 20 * np.log10(np.sqrt(np.mean(x ** 2)) + 1e-12)
        assert -30 < rms_db < -8, (clip.id, rms_db)
        # sound all through, not only at the start (first and last seconds before the fade)
        for seg in (x[:16000], x[-3 * 16000:-16000]):
            assert np.sqrt(np.mean(seg ** 2)) > 1e-3


def test_debian_provenance_complete():
    if not PROVENANCE.exists():
        pytest.skip("no data/debian_train/PROVENANCE.json (python scripts/fetch_debian_music.py)")
    doc = json.loads(PROVENANCE.read_text())
    files = doc["files"]
    assert files and doc["summary"]["tracks"] == len(files)
    keys = ("file", "package", "version", "path", "license", "lic_class", "duration_s", "sha256",
            "source_sha256", "fetched")
    for e in files:
        assert all(e.get(k) not in (None, "") for k in keys), e
        assert re.fullmatch(r"[0-9a-f]{64}", e["sha256"]) and e["duration_s"] > 1
        assert e["lic_class"] in {"public-domain", "permissive", "share-alike", "gpl"}
    assert len({e["file"] for e in files}) == len(files)
    assert len({e["source_sha256"] for e in files}) == len(files)
    first = PROVENANCE.parent / "audio" / files[0]["file"]
    if first.exists():  # the audio is git-ignored: check one file when it is there
        assert hashlib.sha256(first.read_bytes()).hexdigest() == files[0]["sha256"]
    if LIBRARY_JSON.exists():  # evaluation music must never be training music
        library = {(t["source_package"], t["source_path"]) for t in json.loads(LIBRARY_JSON.read_text())}
        assert not library & {(e["package"], e["path"]) for e in files}
