"""Loader for labelled evaluation sets: the synthetic one in data/testset/ (scripts/render_testset.py)
and any other folder in the same format (e.g. the real-music set in data/realset/).

Format. labels.json: `categories` {category: [values]}, `clips` [{id, file, split, <category>: value |
[values] | null}, ...] (null = unknown). queries.json: `queries` [{id, text, split, kind, labels {cat: value},
not {cat: value} (optional), relevant [clip ids], ignore [clip ids]}]. `relevant` = clips where every
`labels` constraint holds and no `not` constraint holds; `ignore` = clips that are neither a fair positive
nor a fair negative (unknown value for a constrained category; a constrained instrument heard only in the
accompaniment), which an evaluation drops from that query's ranking. Both are computed by code
(`judge`, scripts/make_queries.py), never typed.

Splits: `dev` is for tuning anything (thresholds, rules, weights, hyper-parameters); `test` is reported and
never tuned on. `load_testset(split=...)` keeps only that split's clips and queries and restricts each
query's `relevant`/`ignore` to them. The synthetic clips are for evaluation only and never enter training.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ..config import REPO_ROOT

DEFAULT_DIR = REPO_ROOT / "data" / "testset"
CATEGORIES = ("genre", "mood", "instrument", "tempo")   # of the synthetic set
SPLITS = ("dev", "test")


@dataclass(frozen=True)
class TestClip:
    __test__ = False                      # not a pytest test class, despite the name
    id: str
    path: Path
    labels: dict[str, list[str]]          # category -> label values; a category is absent when unknown
    instruments: tuple[str, ...] = ()     # all sounding instruments, most notes first (synthetic set)
    bpm: int = 0
    key: str = ""
    split: str = ""
    meta: dict = field(default_factory=dict, compare=False, repr=False)

    def label(self, category: str) -> str:
        return self.labels[category][0]


@dataclass(frozen=True)
class TestQuery:
    __test__ = False
    id: str
    text: str
    labels: dict[str, str]                # constraints: every one must hold
    relevant: tuple[str, ...]             # ids of all clips meeting the constraints (in the loaded split)
    kind: str = ""
    negated: dict[str, str] = field(default_factory=dict)   # the `not` constraints: none may hold
    ignore: tuple[str, ...] = ()          # neither fair positives nor fair negatives: left out of the ranking
    split: str = ""


@dataclass
class TestSet:
    __test__ = False
    folder: Path
    clips: list[TestClip]
    queries: list[TestQuery]
    categories: dict[str, list[str]]      # category -> all label values, in a fixed order
    split: str | None = None

    def __post_init__(self) -> None:
        self._by_id = {c.id: c for c in self.clips}

    def clip(self, clip_id: str) -> TestClip:
        return self._by_id[clip_id]

    def matching(self, labels: dict[str, str]) -> list[str]:
        """Ids of clips whose labels meet every constraint (positive constraints only)."""
        return [c.id for c in self.clips if all(v in c.labels.get(k, ()) for k, v in labels.items())]

    def values(self, category: str) -> list[str]:
        return list(self.categories[category])

    def clip_labels(self) -> list[dict[str, list[str]]]:
        return [c.labels for c in self.clips]


def judge(clip: Mapping[str, list[str] | None], labels: Mapping[str, str], negated: Mapping[str, str] | None = None,
          weak: Mapping[str, set[str]] | None = None) -> str:
    """"relevant", "ignore" or "negative" for one clip and one query.

    `clip` maps category -> values (None or absent = unknown); `weak` maps category -> values present only
    weakly (an instrument heard in the accompaniment). A constraint that surely fails makes a fair negative;
    otherwise an unknown or weak value on a constrained category makes the clip ignored.
    """
    negated, weak = negated or {}, weak or {}
    unsure = False
    for cat, value in labels.items():
        have = clip.get(cat)
        if have is None:
            unsure = True
        elif value not in have:
            if value not in weak.get(cat, ()):
                return "negative"
            unsure = True
    for cat, value in negated.items():
        have = clip.get(cat)
        if have is not None and value in have:
            return "negative"
        if have is None or value in weak.get(cat, ()):
            unsure = True
    return "ignore" if unsure else "relevant"


def clip_values(entry: Mapping, categories) -> dict[str, list[str] | None]:
    """A labels.json clip entry as category -> list of values (None where unknown)."""
    out = {}
    for k in categories:
        v = entry.get(k)
        out[k] = None if v is None else [v] if isinstance(v, str) else list(v)
    return out


def load_testset(folder: str | Path | None = None, split: str | None = None) -> TestSet:
    """Read labels.json and queries.json, optionally only one split ("dev" or "test").

    Raises FileNotFoundError when the files are missing and ValueError for an unknown split.
    A query without a `split` field belongs to every split.
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    root = Path(folder) if folder is not None else DEFAULT_DIR
    labels_doc = json.loads((root / "labels.json").read_text(encoding="utf-8"))
    queries_doc = json.loads((root / "queries.json").read_text(encoding="utf-8"))
    categories = {k: list(v) for k, v in labels_doc["categories"].items()}
    clips = []
    for c in labels_doc["clips"]:
        if split is not None and c.get("split") != split:
            continue
        values = clip_values(c, categories)
        clips.append(TestClip(
            id=c["id"], path=root / c["file"], labels={k: v for k, v in values.items() if v is not None},
            instruments=tuple(c.get("instruments", ())), bpm=int(c.get("bpm", 0)), key=c.get("key", ""),
            split=c.get("split", ""), meta=c))
    kept = {c.id for c in clips}
    queries = []
    for q in queries_doc["queries"]:
        if split is not None and q.get("split", split) != split:
            continue
        ignore = q.get("ignore", q.get("also_sounding", ()))   # older files name it also_sounding
        queries.append(TestQuery(
            id=q["id"], text=q["text"], labels=dict(q["labels"]), kind=q.get("kind", ""),
            negated=dict(q.get("not", {})), split=q.get("split", ""),
            relevant=tuple(i for i in q["relevant"] if i in kept), ignore=tuple(i for i in ignore if i in kept)))
    return TestSet(folder=root, clips=clips, queries=queries, categories=categories, split=split)
