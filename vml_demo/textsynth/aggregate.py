"""From tagger outputs over 10 s windows to a `TagSet`: the confident terms of a clip or a track.

Blend (documented choice): each tagger's window scores are mapped onto vocabulary terms (max over a term's
sources, see `Vocabulary.map_scores`), averaged over the clip's windows, and then the taggers are combined by
taking, per term, the max over taggers. Max lets the specialised tagger speak for its own terms (YAMNet knows
"banjo", musicnn does not) without being diluted by taggers that cannot see the term at all. A term is kept when
its confidence reaches its category's threshold; each category keeps its top-k. A broader term ("guitar") is
dropped when a narrower one ("acoustic guitar") of it is kept, so descriptions do not repeat themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from vml_demo.textsynth.vocabulary import CATEGORIES, Vocabulary, load_vocabulary


@dataclass(frozen=True)
class TagSet:
    """Confident terms per category as (term, score), highest score first."""

    genre: tuple[tuple[str, float], ...] = ()
    mood: tuple[tuple[str, float], ...] = ()
    instrument: tuple[tuple[str, float], ...] = ()
    tempo: tuple[tuple[str, float], ...] = ()

    def category(self, name: str) -> tuple[tuple[str, float], ...]:
        if name not in CATEGORIES:
            raise ValueError(f"unknown category {name!r}; expected one of {CATEGORIES}")
        return getattr(self, name)

    def terms(self, category: str | None = None) -> list[str]:
        """Term names (all categories in genre, mood, instrument, tempo order, or one category)."""
        cats = CATEGORIES if category is None else (category,)
        return [term for cat in cats for term, _ in self.category(cat)]

    def is_empty(self) -> bool:
        return not self.terms()

    def __len__(self) -> int:
        return len(self.terms())

    @classmethod
    def from_terms(cls, terms: Iterable[str], vocabulary: Vocabulary | None = None, score: float = 1.0) -> "TagSet":
        """Group plain term names by category (order kept), each with the same score."""
        vocab = vocabulary or load_vocabulary()
        grouped: dict[str, list[tuple[str, float]]] = {cat: [] for cat in CATEGORIES}
        for term in dict.fromkeys(terms):
            grouped[vocab.category_of(term)].append((term, float(score)))
        return cls(**{cat: tuple(items) for cat, items in grouped.items()})


@dataclass
class TaggerWindows:
    """One tagger's scores over a track's windows: scores[w, c] for label c in window w."""

    vocabulary: str  # "mtt", "msd" or "audioset"
    labels: list[str]
    scores: np.ndarray  # [W, C] probabilities in [0, 1]

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, dtype=np.float32)
        if self.scores.ndim != 2 or self.scores.shape[1] != len(self.labels):
            raise ValueError(f"{self.vocabulary} scores must be [windows, {len(self.labels)}], "
                             f"got {self.scores.shape}")

    @classmethod
    def from_dicts(cls, vocabulary: str, windows: Sequence[Mapping[str, float]]) -> "TaggerWindows":
        """Build from per-window {label: score} dicts; a label absent from a window scores 0 there."""
        labels = list(dict.fromkeys(label for window in windows for label in window))
        scores = np.array([[window.get(label, 0.0) for label in labels] for window in windows], dtype=np.float32)
        return cls(vocabulary, labels, scores.reshape(len(windows), len(labels)))

    @property
    def n_windows(self) -> int:
        return int(self.scores.shape[0])


@dataclass
class TagPolicy:
    """Per-category confidence thresholds and top-k; defaults come from the vocabulary file."""

    thresholds: dict[str, float] = field(default_factory=dict)
    top_k: dict[str, int] = field(default_factory=dict)

    @classmethod
    def default(cls, vocabulary: Vocabulary | None = None) -> "TagPolicy":
        vocab = vocabulary or load_vocabulary()
        return cls({c: vocab.threshold(c) for c in vocab.categories}, {c: vocab.top_k(c) for c in vocab.categories})


def window_term_scores(taggers: Sequence[TaggerWindows], vocabulary: Vocabulary | None = None
                       ) -> tuple[list[str], np.ndarray]:
    """Per-window term scores [W, T] (max over taggers), with the term names in column order."""
    vocab = vocabulary or load_vocabulary()
    if not taggers:
        raise ValueError("at least one tagger output is needed")
    n_windows = {t.n_windows for t in taggers}
    if len(n_windows) != 1:
        raise ValueError(f"taggers disagree on the number of windows: {sorted(n_windows)}")
    names, combined = None, None
    for tagger in taggers:
        names, mapped = vocab.map_score_matrix(tagger.vocabulary, tagger.labels, tagger.scores)
        combined = mapped if combined is None else np.maximum(combined, mapped)
    return names, combined


def term_confidences(taggers: Sequence[TaggerWindows], vocabulary: Vocabulary | None = None,
                     windows: slice | Sequence[int] | None = None) -> dict[str, float]:
    """Clip-level confidence per term: mean over the selected windows per tagger, then max over taggers."""
    vocab = vocabulary or load_vocabulary()
    if not taggers:
        raise ValueError("at least one tagger output is needed")
    if len({t.n_windows for t in taggers}) != 1:
        raise ValueError(f"taggers disagree on the number of windows: {sorted({t.n_windows for t in taggers})}")
    best: np.ndarray | None = None
    names: list[str] = []
    for tagger in taggers:
        scores = tagger.scores if windows is None else tagger.scores[windows]
        if len(scores) == 0:
            raise ValueError("no windows selected")
        names, mapped = vocab.map_score_matrix(tagger.vocabulary, tagger.labels, scores)
        mean = mapped.mean(axis=0)
        best = mean if best is None else np.maximum(best, mean)
    return {n: float(s) for n, s in zip(names, best) if s > 0}


def select_tags(confidences: Mapping[str, float], vocabulary: Vocabulary | None = None,
                policy: TagPolicy | None = None) -> TagSet:
    """Keep terms at or above their category threshold, drop broader terms covered by a kept narrower one,
    and keep the top-k per category."""
    vocab = vocabulary or load_vocabulary()
    policy = policy or TagPolicy.default(vocab)
    per_category: dict[str, list[tuple[str, float]]] = {c: [] for c in CATEGORIES}
    for term, score in confidences.items():
        category = vocab.category_of(term)
        threshold = policy.thresholds.get(category, vocab.threshold(category))
        if score >= threshold:
            per_category[category].append((term, float(score)))
    kept = {}
    for category, items in per_category.items():
        items.sort(key=lambda ts: (-ts[1], ts[0]))
        kept[category] = tuple(_top_k_specific(items, vocab, policy.top_k.get(category, vocab.top_k(category))))
    return TagSet(**kept)


def _top_k_specific(items: list[tuple[str, float]], vocab: Vocabulary, k: int) -> list[tuple[str, float]]:
    """Top-k of score-sorted items where a narrower term replaces its broader one ("acoustic guitar" over
    "guitar") instead of taking a second slot."""
    chosen: list[tuple[str, float]] = []
    for term, score in items:
        names = [t for t, _ in chosen]
        broader = vocab.broader(term)
        if broader in names:
            chosen[names.index(broader)] = (term, score)
        elif any(n in names for n in vocab.narrower(term)):
            continue
        elif len(chosen) < k:
            chosen.append((term, score))
    return sorted(chosen, key=lambda ts: (-ts[1], ts[0]))


def track_tagset(taggers: Sequence[TaggerWindows], vocabulary: Vocabulary | None = None,
                 policy: TagPolicy | None = None) -> TagSet:
    """Tags of a whole track (all windows)."""
    vocab = vocabulary or load_vocabulary()
    return select_tags(term_confidences(taggers, vocab), vocab, policy)


def clip_tagsets(taggers: Sequence[TaggerWindows], vocabulary: Vocabulary | None = None,
                 policy: TagPolicy | None = None, windows_per_clip: int = 1) -> list[TagSet]:
    """Tags of consecutive clips of `windows_per_clip` windows each (the last clip may be shorter)."""
    if windows_per_clip < 1:
        raise ValueError("windows_per_clip must be at least 1")
    vocab = vocabulary or load_vocabulary()
    n = taggers[0].n_windows if taggers else 0
    if any(t.n_windows != n for t in taggers):
        raise ValueError("taggers disagree on the number of windows")
    return [select_tags(term_confidences(taggers, vocab, slice(i, i + windows_per_clip)), vocab, policy)
            for i in range(0, n, windows_per_clip)]
