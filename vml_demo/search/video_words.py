"""Describe a video in music words, from what it looks like and what it sounds like (zero-shot path).

The rules live in vml_demo/data/video_to_music.json (documented there). Each fired rule adds words and
a reason, so the app can say why a video got e.g. "slow, calm, ambient" music.
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


def mean_descriptors(rows: list[np.ndarray], names: list[str]) -> dict[str, float]:
    return dict(zip(names, (float(v) for v in np.mean(np.stack(rows), axis=0))))
