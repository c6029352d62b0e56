"""Describe a video in music words, from what is in it, what it looks like and what it sounds like (zero-shot path).

The rules live in vml_demo/data/video_to_music.json (documented there). Each fired rule adds words and
a reason, so the app can say why a video got e.g. "slow, calm, ambient" music. Scene rules read
EfficientNet-Lite0's ImageNet classes per segment; `seen` keeps each segment's top classes and the words
they became, for the search response.
"""
from __future__ import annotations

import functools
import json
import operator
from dataclasses import dataclass, field

import numpy as np

from ..config import DATA_DIR

_OPS = {">=": operator.ge, ">": operator.gt, "<": operator.lt, "<=": operator.le}


@functools.lru_cache(maxsize=1)
def load_rules() -> dict:
    return json.loads((DATA_DIR / "video_to_music.json").read_text(encoding="utf-8"))


@dataclass
class VideoWords:
    words: list[str] = field(default_factory=list)  # in order of first appearance, no repeats
    reasons: list[str] = field(default_factory=list)  # "slow, calm: little motion, long shots"
    speech_score: float | None = None  # how much of the soundtrack is speech (video_query.speech_score)
    seen: list[dict] = field(default_factory=list)  # per segment: start_s, top ImageNet classes, the words they gave
    heard_music: float | None = None  # the soundtrack's mean YAMNet "Music" score; None without a soundtrack

    def add(self, words: list[str], because: str) -> None:
        new = [w for w in words if w not in self.words]
        self.words.extend(new)
        self.reasons.append(f"{', '.join(words)}: {because}")

    @property
    def text(self) -> str:
        return f"{', '.join(self.words)} music" if self.words else ""


def visual_words(descriptors: dict[str, float], out: VideoWords | None = None) -> VideoWords:
    out = out or VideoWords()
    for rule in load_rules()["visual_rules"]:
        if all(_OPS[op](descriptors[name], value) for name, op, value in rule["all"]):
            out.add(rule["words"], rule["because"])
    return out


def sound_words(class_scores: dict[str, float], out: VideoWords | None = None) -> VideoWords:
    """class_scores: AudioSet display name -> mean YAMNet score over the soundtrack."""
    out = out or VideoWords()
    rules = load_rules()
    for rule in rules["sound_rules"]:
        if max((class_scores.get(c, 0.0) for c in rule["classes"]), default=0.0) >= rule["min_score"]:
            out.add(rule["words"], rule["because"])
    own = rules["own_music"]
    if class_scores.get(own["music_class"], 0.0) >= own["min_score"]:
        from ..textsynth.vocabulary import load_vocabulary

        labels = list(class_scores)
        mapped = load_vocabulary().map_scores("audioset", labels, [class_scores[c] for c in labels])
        top = [t for t, s in sorted(mapped.items(), key=lambda ts: -ts[1]) if s >= 0.05][: own["max_terms"]]
        if top:
            out.add(top, own["because"])
    return out


def _class_ids(spec: list) -> list[int]:
    """[[a, b], c, ...] -> a..b (inclusive), c, ...: ImageNet index runs as the rules file writes them."""
    ids: list[int] = []
    for item in spec:
        ids.extend(range(item[0], item[1] + 1) if isinstance(item, list) else [item])
    return ids


@functools.lru_cache(maxsize=1)
def scene_groups() -> tuple[tuple[dict, np.ndarray], ...]:
    return tuple((g, np.array(_class_ids(g["classes"]), np.int64)) for g in load_rules()["scenes"]["groups"])


def _segment_words(probs: np.ndarray) -> list[str]:
    """The scene and instrument words one segment's class probabilities [1000] give on their own."""
    rules = load_rules()["scenes"]
    words = [w for g, ids in scene_groups() if probs[ids].sum() >= rules["min_score"] for w in g["words"]]
    inst = rules["instruments"]
    words += [w for c, w in inst["words_per_class"].items() if probs[int(c)] >= inst["min_score"]]
    return list(dict.fromkeys(words))


def scene_words(segment_probs: np.ndarray, labels, starts, out: VideoWords | None = None) -> VideoWords:
    """segment_probs: [S, 1000] mean ImageNet class probabilities per segment; labels: the 1000 class names."""
    out = out or VideoWords()
    rules = load_rules()["scenes"]
    if len(segment_probs) == 0:
        return out
    for start, probs in zip(starts, segment_probs):
        top = [(labels[i], round(float(probs[i]), 3)) for i in np.argsort(-probs)[: rules["top_classes"]]
               if probs[i] >= rules["min_class_prob"]]
        out.seen.append({"start_s": round(float(start), 2), "classes": top, "words": _segment_words(probs)})
    mean = segment_probs.mean(axis=0)
    for group, ids in scene_groups():
        score = float(mean[ids].sum())
        if score >= rules["min_score"]:
            named = [labels[i] for i in ids[np.argsort(-mean[ids])][:2] if mean[i] >= rules["min_class_prob"]]
            out.add(group["words"], f"{group['because']} ({', '.join(named) or group['name']}: {score:.2f})")
    inst = rules["instruments"]
    for c, word in inst["words_per_class"].items():
        if mean[int(c)] >= inst["min_score"]:
            out.add([word], f"{inst['because']} ({labels[int(c)]}: {mean[int(c)]:.2f})")
    return out


def mean_descriptors(rows: list[np.ndarray], names: list[str]) -> dict[str, float]:
    return dict(zip(names, (float(v) for v in np.mean(np.stack(rows), axis=0))))
