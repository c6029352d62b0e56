"""Search filters (tempo, vocals, license class, duration), applied inside ranking before the top k is taken.

- **Tempo**: a track's BPM from the library's rhythm analysis (`LibraryStore.track_tempos()`); a track without
  an analysed tempo does not pass a tempo filter.
- **Vocals**: a track's vocals score is the mean over its windows of the strongest vocal evidence in that
  window: the vocabulary terms vocals / female vocals / male vocals / rap vocals / choir (which already take
  MTT's vocal tags, MSD's vocalist tags and AudioSet's Singing / Vocal music / Choir / Rapping classes, capped by
  MTT "no vocals" and MSD "instrumental", see textsynth/terms.py) and AudioSet's Speech class. A track is
  instrumental below `config.VOCALS_THRESHOLD` (chosen on the synthetic set's dev split, benchmarks/vocals_rule.py).
- **License class**: parsed from the track's license text (`license_class`); a filter for a class accepts that
  class and every freer one (public domain < permissive < attribution < share-alike < non-commercial). Where a
  text offers alternatives ("CC-BY-3.0 (dual GPL-3 or CC-BY-3.0)") the freest one counts. Unknown text passes no
  license filter.
- **Duration**: minimum and maximum length in seconds.

When the filters leave nothing, `FilterError` says which filter removed how many tracks.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .. import config
from ..errors import QueryError
from ..library.features import WindowTable
from ..textsynth.terms import window_term_matrix

LICENSE_CLASSES = ("public-domain", "permissive", "attribution", "share-alike", "non-commercial")
UNKNOWN_LICENSE = "unknown"
VOCAL_TERMS = ("vocals", "female vocals", "male vocals", "rap vocals", "choir")
SPEECH_CLASS = "Speech"  # AudioSet (YAMNet); spoken words in a track clash with a video's dialogue as singing does

# Ordered patterns per class, matched on the lower-cased text of one alternative; the first class that matches wins
# within an alternative (so "CC-BY-NC-SA" is non-commercial, "CC-BY-SA" share-alike, "CC-BY" attribution).
_LICENSE_PATTERNS = (
    ("non-commercial", r"\bnc\b|non-?commercial"),
    ("share-alike", r"\bsa\b|share-?alike|\bgpl|\blgpl|\bagpl|\bmpl|copyleft|free art|\bart libre"),
    ("public-domain", r"public domain|\bcc0|\bpd\b|unlicense|\bwtfpl"),
    ("attribution", r"\bcc[- ]?by\b|creative commons attribution|attribution"),
    ("permissive", r"\bmit\b|expat|\bbsd|\bzlib|\bisc\b|apache|\bx11\b|boost software|permissive"),
)
_ALTERNATIVES = re.compile(r"\bor\b|\s*/\s*|\bdual\b", re.IGNORECASE)


def license_class(text: str) -> str:
    """One of LICENSE_CLASSES for a license text, or "unknown"; the freest of its alternatives."""
    found = []
    for part in _ALTERNATIVES.split(text or ""):
        part = part.lower().replace("_", "-")
        for name, pattern in _LICENSE_PATTERNS:
            if re.search(pattern, part):
                found.append(name)
                break
    return min(found, key=LICENSE_CLASSES.index) if found else UNKNOWN_LICENSE


def license_allows(track_class: str, wanted: str) -> bool:
    return track_class in LICENSE_CLASSES and LICENSE_CLASSES.index(track_class) <= LICENSE_CLASSES.index(wanted)


def track_vocal_scores(table: WindowTable) -> dict[int, float]:
    """track id -> mean over its windows of the strongest vocal evidence (see the module docstring)."""
    if len(table.window_ids) == 0:
        return {}
    terms, scores = window_term_matrix(table)
    cols = [terms.index(t) for t in VOCAL_TERMS if t in terms]
    evidence = scores[:, cols].max(axis=1) if cols else np.zeros(len(table.window_ids), np.float32)
    for enc, labels in table.labels.items():
        if table.vocabularies.get(enc) == "audioset" and SPEECH_CLASS in labels:
            evidence = np.maximum(evidence, table.scores[enc][:, labels.index(SPEECH_CLASS)])
    return {tid: float(evidence[s].mean()) for tid, s in table.track_slices().items()}


class FilterError(QueryError):
    """The filters leave no track; the message says which removed how many."""


def parse_range(text: str | None, what: str = "BPM") -> tuple[float, float] | None:
    """"90-120" -> (90, 120); "90" -> (90, 90); empty -> None."""
    if text is None or not str(text).strip():
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:(?:-|–|\.\.|to)\s*(\d+(?:\.\d+)?))?\s*", str(text))
    if not m:
        raise QueryError(f"{what} range {text!r} is not of the form 90-120")
    lo, hi = float(m.group(1)), float(m.group(2) or m.group(1))
    if lo > hi:
        raise QueryError(f"{what} range {text!r}: the lower end is above the upper one")
    return lo, hi


@dataclass
class SearchFilters:
    bpm: tuple[float, float] | None = None  # inclusive range
    vocals: str | None = None  # "instrumental" or "vocals"
    license: str | None = None  # the least free class accepted (LICENSE_CLASSES)
    min_duration_s: float | None = None
    max_duration_s: float | None = None

    def __post_init__(self):
        if self.vocals not in (None, "instrumental", "vocals"):
            raise QueryError(f"vocals filter {self.vocals!r}: use instrumental or vocals")
        if self.license is not None:
            self.license = self.license.strip().lower().replace(" ", "-").replace("_", "-")
            if self.license not in LICENSE_CLASSES:
                raise QueryError(f"license class {self.license!r} is unknown; use one of {', '.join(LICENSE_CLASSES)}")
        for name in ("min_duration_s", "max_duration_s"):
            value = getattr(self, name)
            if value is not None and (not np.isfinite(value) or value < 0):
                raise QueryError(f"{name.replace('_s', '').replace('_', ' ')} must be a non-negative number of seconds")
        if self.bpm is not None and (self.bpm[0] < 0 or self.bpm[0] > self.bpm[1]):
            raise QueryError("BPM range must be 0 <= low <= high")

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.bpm, self.vocals, self.license, self.min_duration_s,
                                           self.max_duration_s))

    def describe(self) -> list[str]:
        """One phrase per active filter, e.g. "tempo 90-120 BPM"."""
        out = []
        if self.bpm is not None:
            out.append(f"tempo {self.bpm[0]:g}-{self.bpm[1]:g} BPM")
        if self.vocals is not None:
            out.append(self.vocals)
        if self.license is not None:
            out.append(f"license {self.license} or freer")
        if self.min_duration_s is not None:
            out.append(f"at least {self.min_duration_s:g} s")
        if self.max_duration_s is not None:
            out.append(f"at most {self.max_duration_s:g} s")
        return out


@dataclass
class TrackFacts:
    """What the filters read about every track: per-track arrays aligned with the ranker's track order."""

    track_ids: np.ndarray
    durations: np.ndarray
    vocals: np.ndarray  # vocals score
    licenses: list[str]  # license class
    tempos: np.ndarray | None = None  # BPM, NaN where not analysed; None: the index has no tempo data


def filter_mask(filters: SearchFilters, facts: TrackFacts) -> tuple[np.ndarray, list[str]]:
    """(allowed tracks as a bool array, "filter: what it removed" lines); FilterError when none is left."""
    n = len(facts.track_ids)
    allowed = np.ones(n, bool)
    removed = []

    def apply(label: str, keep: np.ndarray) -> None:
        nonlocal allowed
        removed.append(f"{label} removed {int((~keep).sum())} of {n}")
        allowed &= keep

    if filters.bpm is not None:
        if facts.tempos is None:
            raise QueryError("This library's index has no tempo data yet: index it again with this version "
                             "(it analyses each track's rhythm) to filter by BPM")
        with np.errstate(invalid="ignore"):
            apply(f"tempo {filters.bpm[0]:g}-{filters.bpm[1]:g} BPM",
                  (facts.tempos >= filters.bpm[0]) & (facts.tempos <= filters.bpm[1]))
    if filters.vocals is not None:
        instrumental = facts.vocals < config.VOCALS_THRESHOLD
        apply(filters.vocals, instrumental if filters.vocals == "instrumental" else ~instrumental)
    if filters.license is not None:
        apply(f"license {filters.license}", np.array([license_allows(c, filters.license) for c in facts.licenses],
                                                     bool))
    if filters.min_duration_s is not None:
        apply(f"min duration {filters.min_duration_s:g} s", facts.durations >= filters.min_duration_s)
    if filters.max_duration_s is not None:
        apply(f"max duration {filters.max_duration_s:g} s", facts.durations <= filters.max_duration_s)
    if n and not allowed.any():
        raise FilterError("No track passes the filters: " + "; ".join(removed) + " (together they leave none)")
    return allowed, removed

