"""The music vocabulary: terms per category, how tagger labels map onto them, and term matching in free text.

The data lives in `vml_demo/data/music_vocabulary.json` (its "about" block documents the schema). Three tagger
vocabularies feed it: "mtt" and "msd" (musicnn's 50 MagnaTagATune / Million Song Dataset tags) and "audioset"
(YAMNet's 521 AudioSet classes, given by mid or by display name); a fourth, "rhythm", reads a track's BPM as the
labels slow / medium / fast (tempo_terms.py).

Text matching normalises case, hyphens and plurals, prefers the longest surface form, and knows negation:
"no vocals", "without drums or bass", "not sad", "doesn't sound sad" and "vocal-free" deny their terms, and the
word "instrumental" denies "vocals" (negation scopes: negation.py). Search reuses it to parse queries and to
explain matches.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from vml_demo.config import DATA_DIR

from .negation import PUNCTUATION, negated_spans

VOCABULARY_PATH = DATA_DIR / "music_vocabulary.json"
CATEGORIES = ("genre", "mood", "instrument", "tempo")
TAGGER_VOCABULARIES = ("mtt", "msd", "audioset", "rhythm")  # rhythm: BPM read as tempo labels (tempo_terms.py)

# Words ending in "s" that are not plurals (or whose singular would collide with another word).
_NOT_PLURAL = {"blues", "news", "series", "always", "has", "was", "its", "does", "yes", "perhaps"}
_TOKEN_RE = re.compile(r"[a-z0-9]+(?:[&'][a-z0-9]+)*|[.,;:!?()\[\]\"]")


def _singular(word: str) -> str:
    if len(word) <= 3 or word in _NOT_PLURAL or not word.endswith("s") or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    return word[:-1]


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Normalised tokens with their character spans in `text`: lower case, singular, "n't" split into "not"."""
    # Lower-case character by character so that offsets stay valid for text like "İ" (two chars in lower case).
    lowered = "".join(c if len(c.lower()) != 1 else c.lower() for c in text).replace("\u2019", "'")
    tokens: list[tuple[str, int, int]] = []
    for m in _TOKEN_RE.finditer(lowered):
        word, start, end = m.group(), m.start(), m.end()
        if word.endswith("n't"):
            tokens.append((word[:-3], start, end - 3))
            tokens.append(("not", end - 3, end))
            continue
        if word.endswith("'s"):
            word = word[:-2]
        tokens.append((_singular(word), start, end))
    return tokens


def normalize_phrase(text: str) -> tuple[str, ...]:
    return tuple(t for t, _, _ in tokenize(text) if t not in PUNCTUATION)


@dataclass(frozen=True)
class Term:
    name: str
    category: str
    display: str
    synonyms: tuple[str, ...]
    broader: str | None
    sources: dict  # vocabulary name -> tuple of (label, weight)


@dataclass(frozen=True)
class Mention:
    """One vocabulary term found in text; start/end are character offsets into the original text."""

    term: str
    category: str
    surface: str
    start: int
    end: int
    negated: bool


class TermMatches(list):
    """The positive terms found in a text, in order of first mention (it is a plain list of term names).

    `.negated` lists the denied terms ("no vocals" -> ["vocals"]); `.mentions` holds every mention with offsets.
    A term both asserted and denied appears in both.
    """

    def __init__(self, terms: Iterable[str], negated: Iterable[str], mentions: Sequence[Mention]):
        super().__init__(terms)
        self.negated = list(negated)
        self.mentions = list(mentions)


class Vocabulary:
    """Categories of music terms and their mappings from tagger labels (see module docstring)."""

    def __init__(self, data: dict):
        self._data = data
        self.categories: tuple[str, ...] = tuple(data["categories"])
        self._terms: dict[str, Term] = {}
        for category in self.categories:
            for raw in data["terms"][category]:
                sources = {voc: tuple(_parse_source(s) for s in items) for voc, items in raw["sources"].items()}
                term = Term(raw["name"], category, raw.get("display", raw["name"]), tuple(raw["synonyms"]),
                            raw.get("broader"), sources)
                if term.name in self._terms:
                    raise ValueError(f"music vocabulary: term {term.name!r} is defined twice")
                self._terms[term.name] = term
        self.audioset_classes: dict[str, str] = dict(data.get("audioset_classes", {}))
        self.ignored_labels: dict[str, list[str]] = {k: list(v) for k, v in data.get("ignored_labels", {}).items()}
        self.negative_tags: list[dict] = [dict(n) for n in data.get("negative_tags", [])]
        self._validate()
        self._surface_to_term: dict[tuple[str, ...], str] = {}
        for term in self._terms.values():
            for surface in (term.name, term.display, *term.synonyms):
                key = normalize_phrase(surface)
                owner = self._surface_to_term.setdefault(key, term.name)
                if owner != term.name:
                    raise ValueError(f"music vocabulary: {surface!r} names both {owner!r} and {term.name!r}")
        self._negating_words = {normalize_phrase(w): list(ts) for w, ts in data.get("negating_words", {}).items()}
        self._max_surface_len = max(len(k) for k in [*self._surface_to_term, *self._negating_words])
        self._audioset_mid_by_name = {name.lower(): mid for mid, name in self.audioset_classes.items()}
        self._matrix_cache: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Vocabulary":
        with open(path or VOCABULARY_PATH, encoding="utf-8") as f:
            return cls(json.load(f))

    def _validate(self) -> None:
        for term in self._terms.values():
            if term.broader is not None and self._terms.get(term.broader, term).category != term.category:
                raise ValueError(f"music vocabulary: broader term of {term.name!r} must be a term of its category")
            if not term.sources:
                raise ValueError(f"music vocabulary: {term.name!r} has no tagger source")
            for voc, items in term.sources.items():
                if voc not in TAGGER_VOCABULARIES:
                    raise ValueError(f"music vocabulary: unknown tagger vocabulary {voc!r}")
                for label, weight in items:
                    if not 0.0 < weight <= 1.0:
                        raise ValueError(f"music vocabulary: weight of {label!r} for {term.name!r} not in (0, 1]")
                    if voc == "audioset" and label not in self.audioset_classes:
                        raise ValueError(f"music vocabulary: AudioSet id {label!r} missing from audioset_classes")
        for neg in self.negative_tags:
            unknown = [t for t in neg["negates"] if t not in self._terms]
            if unknown:
                raise ValueError(f"music vocabulary: negative tag {neg['label']!r} negates unknown terms {unknown}")

    # ----- terms -----------------------------------------------------------------------------------------
    def terms(self, category: str | None = None) -> list[str]:
        if category is not None and category not in self.categories:
            raise ValueError(f"unknown category {category!r}; expected one of {self.categories}")
        return [t.name for t in self._terms.values() if category is None or t.category == category]

    def __contains__(self, term: object) -> bool:
        return term in self._terms

    def term(self, name: str) -> Term:
        try:
            return self._terms[name]
        except KeyError:
            raise KeyError(f"{name!r} is not a music vocabulary term") from None

    def category_of(self, term: str) -> str:
        return self.term(term).category

    def display(self, term: str) -> str:
        return self.term(term).display

    def surface_forms(self, term: str) -> list[str]:
        t = self.term(term)
        return list(dict.fromkeys((t.name, t.display, *t.synonyms)))

    def broader(self, term: str) -> str | None:
        return self.term(term).broader

    def narrower(self, term: str) -> list[str]:
        return [t.name for t in self._terms.values() if t.broader == term]

    def threshold(self, category: str) -> float:
        return float(self._data["categories"][category]["threshold"])

    def top_k(self, category: str) -> int:
        return int(self._data["categories"][category]["top_k"])

    # ----- tagger scores -> term scores ------------------------------------------------------------------
    def mapped_labels(self, vocabulary_name: str) -> set[str]:
        """Labels of a tagger vocabulary that feed some term (AudioSet: mids)."""
        return {label for t in self._terms.values() for label, _ in t.sources.get(vocabulary_name, ())}

    def map_scores(self, vocabulary_name: str, labels: Sequence[str], scores: Sequence[float]) -> dict[str, float]:
        """Term scores from one tagger output: max over each term's sources of weight * score.

        Only terms with at least one source among `labels` appear. Negative tags (MTT "no vocals", MSD
        "instrumental") never raise a score; they cap the terms they deny at 1 - their score.
        """
        row = np.asarray(scores, dtype=np.float32).reshape(1, -1)
        names, matrix = self.map_score_matrix(vocabulary_name, labels, row)
        present = self._covered_terms(vocabulary_name, labels)
        return {n: float(matrix[0, i]) for i, n in enumerate(names) if n in present}

    def map_score_matrix(self, vocabulary_name: str, labels: Sequence[str],
                         scores: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Vectorised `map_scores` over rows: scores [W, C] -> (all term names, term scores [W, T])."""
        scores = np.asarray(scores, dtype=np.float32)
        if scores.ndim != 2 or scores.shape[1] != len(labels):
            raise ValueError(f"scores must be [windows, {len(labels)}], got {scores.shape}")
        weights = self._weight_matrix(vocabulary_name, tuple(labels))  # [C, T]
        names = list(self._terms)
        if scores.shape[0] == 0:
            return names, np.zeros((0, len(names)), dtype=np.float32)
        mapped = (scores[:, :, None] * weights[None, :, :]).max(axis=1)
        keys = [self._label_key(vocabulary_name, lab) for lab in labels]
        for neg in self.negative_tags:
            if neg["vocabulary"] != vocabulary_name or neg["label"].lower() not in keys:
                continue
            cap = 1.0 - scores[:, keys.index(neg["label"].lower())]
            for term in neg["negates"]:
                j = names.index(term)
                mapped[:, j] = np.minimum(mapped[:, j], cap)
        return names, mapped

    def _label_key(self, vocabulary_name: str, label: str) -> str:
        if vocabulary_name == "audioset" and not label.startswith("/"):
            return self._audioset_mid_by_name.get(label.lower(), label.lower())
        return label.lower()

    def _weight_matrix(self, vocabulary_name: str, labels: tuple[str, ...]) -> np.ndarray:
        if vocabulary_name not in TAGGER_VOCABULARIES:
            raise ValueError(f"unknown tagger vocabulary {vocabulary_name!r}; expected one of {TAGGER_VOCABULARIES}")
        key = (vocabulary_name, labels)
        if key not in self._matrix_cache:
            index = {self._label_key(vocabulary_name, lab): i for i, lab in enumerate(labels)}
            matrix = np.zeros((len(labels), len(self._terms)), dtype=np.float32)
            for j, term in enumerate(self._terms.values()):
                for label, weight in term.sources.get(vocabulary_name, ()):
                    i = index.get(label.lower())
                    if i is not None:
                        matrix[i, j] = max(matrix[i, j], weight)
            self._matrix_cache[key] = matrix
        return self._matrix_cache[key]

    def _covered_terms(self, vocabulary_name: str, labels: Sequence[str]) -> set[str]:
        weights = self._weight_matrix(vocabulary_name, tuple(labels))
        names = list(self._terms)
        return {names[j] for j in np.flatnonzero(weights.max(axis=0) > 0)} if len(labels) else set()

    # ----- text matching ---------------------------------------------------------------------------------
    def _scan(self, words: list[str]) -> list[tuple[int, int, str, bool]]:
        """Longest-match term spans over normalised words: (start, end, term, denied by the word itself)."""
        found: list[tuple[int, int, str, bool]] = []
        i = 0
        while i < len(words):
            for n in range(min(self._max_surface_len, len(words) - i), 0, -1):
                key = tuple(words[i:i + n])
                if key in self._surface_to_term:
                    found.append((i, i + n, self._surface_to_term[key], False))
                elif key in self._negating_words:
                    found.extend((i, i + n, term, True) for term in self._negating_words[key])
                else:
                    continue
                i += n
                break
            else:
                i += 1
        return found

    def find_mentions(self, text: str) -> list[Mention]:
        """Every term mention in `text` (longest surface form wins), each marked negated or not."""
        tokens = tokenize(text)
        words = [t for t, _, _ in tokens]
        found = self._scan(words)
        in_scope = negated_spans(words, [(s, e, self._terms[t].category) for s, e, t, _ in found])
        mentions = []
        for (s, e, term, denies), negated in zip(found, in_scope):
            start, end = tokens[s][1], tokens[e - 1][2]
            mentions.append(Mention(term, self._terms[term].category, text[start:end], start, end,
                                    negated != denies))
        return mentions

    def match_terms(self, text: str) -> TermMatches:
        """Terms mentioned in `text`: a list of asserted terms, with `.negated` and `.mentions` attached."""
        mentions = self.find_mentions(text)
        positive = dict.fromkeys(m.term for m in mentions if not m.negated)
        negated = dict.fromkeys(m.term for m in mentions if m.negated)
        return TermMatches(positive, negated, mentions)

    def mentions_term(self, text: str, term: str) -> bool:
        """True when `text` asserts `term` through any of its surface forms, even inside a longer phrase
        ("guitar" is found in "electric guitar"); a denied mention ("no guitar") does not count."""
        words = [t for t, _, _ in tokenize(text)]
        forms = {normalize_phrase(s) for s in self.surface_forms(term)}
        hits = {(i, i + len(f)) for f in forms for i in range(len(words) - len(f) + 1)
                if tuple(words[i:i + len(f)]) == f}
        if not hits:
            return False
        # Judge each hit among the text's other mentions, so coordination ("no drums or guitar") carries over.
        spans = {(s, e): (self._terms[t].category, denies) for s, e, t, denies in self._scan(words)}
        category = self._terms[term].category
        for hit in hits:
            spans.setdefault(hit, (category, False))
        order = sorted(spans)
        in_scope = negated_spans(words, [(s, e, spans[(s, e)][0]) for s, e in order])
        return any(not (negated != spans[span][1]) for span, negated in zip(order, in_scope) if span in hits)


def _parse_source(item) -> tuple[str, float]:
    if isinstance(item, str):
        return item, 1.0
    label, weight = item
    return str(label), float(weight)


@lru_cache(maxsize=1)
def load_vocabulary() -> Vocabulary:
    """The package's vocabulary, loaded once."""
    return Vocabulary.load()
