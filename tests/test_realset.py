"""data/realset/ is consistent: files, package split, leak-free, queries derived from the source."""
import importlib.util
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SET = REPO / "data" / "realset"


def _script():
    spec = importlib.util.spec_from_file_location("make_realset", REPO / "scripts" / "make_realset.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def labels():
    return json.loads((SET / "labels.json").read_text())


@pytest.fixture(scope="module")
def queries():
    return json.loads((SET / "queries.json").read_text())["queries"]


def test_every_clip_file_exists_and_ids_are_unique(labels):
    ids = [c["id"] for c in labels["clips"]]
    assert len(ids) == len(set(ids)) and len(ids) >= 80
    for c in labels["clips"]:
        f = SET / c["file"]
        assert f.is_file() and f.stat().st_size > 10_000, c["file"]
        assert f.read_bytes()[:4] == b"OggS"
    on_disk = {p.name for p in SET.glob("rs_*.ogg")}
    assert on_disk == {c["file"] for c in labels["clips"]}
    assert sum(p.stat().st_size for p in SET.glob("rs_*.ogg")) < 20e6


def test_splits_are_disjoint_by_package(labels):
    side = {}
    for c in labels["clips"]:
        assert c["split"] in ("dev", "test")
        assert side.setdefault(c["provenance"]["package"], c["split"]) == c["split"], c["provenance"]["package"]
    n_dev = sum(c["split"] == "dev" for c in labels["clips"])
    assert 0.2 < n_dev / len(labels["clips"]) < 0.45


def test_no_package_of_the_library_or_a_training_run(labels):
    excluded = _script().excluded_packages()
    assert {"naev-data", "warzone2100-music"} <= set(excluded)     # one library, one training package
    leaked = {c["provenance"]["package"] for c in labels["clips"]} & set(excluded)
    assert not leaked


def test_labels_use_the_vocabulary_and_say_where_they_came_from(labels):
    cats = labels["categories"]
    for c in labels["clips"]:
        for g in c["genre"] or []:
            assert g in cats["genre"]
        assert c["vocals"] in cats["vocals"] + [None]
        assert c["energy"] in cats["energy"] + [None]
        for cat in ("genre", "vocals", "energy"):
            if c[cat]:
                assert c["label_sources"].get(cat), (c["id"], cat)
        prov = c["provenance"]
        for key in ("package", "version", "path", "license", "artist", "title", "copyright", "offset_s", "duration_s"):
            assert key in prov, (c["id"], key)
        assert prov["license"]


def test_queries_match_their_source_and_labels(labels, queries):
    source = json.loads((SET / "queries_source.json").read_text())
    assert queries == _script().build_queries(labels, source)


def test_queries_have_relevant_clips_of_their_own_split(labels, queries):
    split = {c["id"]: c["split"] for c in labels["clips"]}
    assert len(queries) >= 80
    for q in queries:
        assert q["relevant"], q["text"]
        assert {split[i] for i in q["relevant"] + q["ignore"]} <= {q["split"]}
        assert not set(q["relevant"]) & set(q["ignore"])
    texts = [q["text"].lower() for q in queries]
    assert len(texts) == len(set(texts))
    templated = [t for t in texts if re.fullmatch(r"[\w-]+ music", t)]
    assert len(templated) <= 0.1 * len(texts)


def test_every_label_combination_has_three_phrasings_split_by_wording():
    groups = json.loads((SET / "queries_source.json").read_text())["groups"]
    for g in groups:
        assert len(g["dev"] + g["test"]) >= 3, g
        if g["dev"] and g["test"]:
            assert len(g["dev"]) < len(g["test"]), g      # about 1/3 dev, 2/3 test
    n_dev = sum(len(g["dev"]) for g in groups)
    assert 0.2 < n_dev / sum(len(g["dev"] + g["test"]) for g in groups) < 0.45


def test_relevance_rule_on_a_small_example():
    mod = _script()
    lab = {"clips": [{"id": "a", "split": "dev", "genre": ["rock"], "vocals": None, "energy": "intense"},
                     {"id": "b", "split": "dev", "genre": ["rock", "metal"], "vocals": None, "energy": "calm"},
                     {"id": "c", "split": "dev", "genre": None, "vocals": None, "energy": "intense"},
                     {"id": "d", "split": "test", "genre": ["rock"], "vocals": None, "energy": "intense"}]}
    src = {"groups": [{"kind": "neg", "labels": {"genre": "rock"}, "not": {"genre": "metal"},
                       "dev": ["rock but not metal"], "test": ["rock, no metal"]}]}
    dev, test = mod.build_queries(lab, src)
    assert dev["relevant"] == ["a"] and dev["ignore"] == ["c"]
    assert test["relevant"] == ["d"] and test["ignore"] == []
