"""Negation in music descriptions: one cue list, one notion of scope, read two ways.

A cue ("no", "without", "not", "instead of", ...) opens a scope that a clause boundary closes (punctuation,
"but", "with", "just", ...); inside it "or", "nor", "and" and "/" coordinate what is denied.

- `split_negations(text)` works on free text (search queries): the scopes are cut out and returned as
  phrases, so "energetic rock, no vocals or drums" -> ("energetic rock", ["vocals", "drums"]).
- `negated_spans(words, spans)` works on vocabulary-term spans over normalised words (vocabulary.py): a
  scope reaches the first term within two intervening words ("not too sad"), then continues only through
  coordinated terms of the same category ("without drums or bass"); "vocal-free" denies its term.
"""
from __future__ import annotations

import re

NEGATION_CUES = frozenset({
    "no", "not", "non", "without", "never", "neither", "nor", "none", "nothing", "lacking", "minus", "except",
    "excluding", "exclude", "avoid", "avoiding", "zero",
})
NEGATION_CUE_PAIRS = frozenset({("instead", "of"), ("rather", "than"), ("free", "of"), ("nothing", "like")})
NEGATION_SUFFIXES = frozenset({"free"})  # "vocal-free" -> "vocal free"
SCOPE_BREAKERS = frozenset({"but", "with", "featuring", "just", "only", "yet", "though", "although", "while",
                            "instead", "plus"})
COORDINATION = frozenset({"and", "or", "nor", "a", "an", "the", "any"})
PUNCTUATION = frozenset(".,;:!?()[]\"")
MAX_GAP = 2  # words allowed between a cue and the first term it denies (token view)

# ---- free text ---------------------------------------------------------------------------------------------
# Pairs first: at one position the regex takes the first alternative that fits ("nothing like" before "nothing").
_CUE_RE = "|".join([rf"{a}\s+{b}" for a, b in sorted(NEGATION_CUE_PAIRS)]
                   + sorted(NEGATION_CUES, key=lambda w: (-len(w), w)))
# Free text also ends a scope at "and some/a/lots ..." (a new, asserted item), which the token view reads as
# coordination only between terms of one category.
_BOUNDARY = (r"(?:[,.;:!?()]|\b(?:" + "|".join(sorted(SCOPE_BREAKERS)) + r")\b"
             r"|\band\s+(?:some|a|an|lots?|plenty)\b|$)")
_SCOPE = re.compile(rf"(?:\bbut\s+)?\b(?:{_CUE_RE})\b[\s-]+(?P<scope>.*?)(?={_BOUNDARY})", re.IGNORECASE)
_SPLIT = re.compile(r"\s*(?:\bor\b|\bnor\b|\band\b|/|&)\s*", re.IGNORECASE)
_FILLER = re.compile(r"^(?:of\s+)?(?:(?:any|a|an|the|much|more|too\s+much|heavy|loud)\s+)?", re.IGNORECASE)


def split_negations(text: str) -> tuple[str, list[str]]:
    """(text with negated scopes removed, the negated phrases in lower case, as written)."""
    text = " ".join((text or "").split())
    phrases: list[str] = []

    def take(match: re.Match) -> str:
        for part in _SPLIT.split(match.group("scope")):
            part = _FILLER.sub("", part.strip(" -"))
            if part:
                phrases.append(part.lower())
        return " "

    positive = _SCOPE.sub(take, text)
    positive = re.sub(r"\s+([,.;:])", r"\1", re.sub(r"\s{2,}", " ", positive))
    positive = re.sub(r"^[\s,.;:]+|[\s,;:]+$", "", positive)
    positive = re.sub(r"([,;])\s*[,;]+", r"\1", positive)
    return positive, phrases


# ---- term spans --------------------------------------------------------------------------------------------
def is_cue(words: list[str], p: int) -> bool:
    """Whether the normalised word at p ends a negation cue (a cue word, or the last word of a cue pair)."""
    return words[p] in NEGATION_CUES or (p > 0 and (words[p - 1], words[p]) in NEGATION_CUE_PAIRS)


def negated_spans(words: list[str], spans: list[tuple[int, int, str]]) -> list[bool]:
    """For term spans (token start, end, category) in order, whether each falls in a negation scope."""
    negated = [False] * len(spans)
    for k, (start, end, category) in enumerate(spans):
        if end < len(words) and words[end] in NEGATION_SUFFIXES:
            negated[k] = True
            continue
        # Walk back over coordinated terms of the same category to the first term of a chain.
        j, first = k, start
        while j > 0:
            prev_start, prev_end, prev_cat = spans[j - 1]
            between = words[prev_end:first]
            if prev_cat != category or any(w not in COORDINATION for w in between):
                break
            if negated[j - 1]:
                negated[k] = True
                break
            j, first = j - 1, prev_start
        if negated[k]:
            continue
        # Look for a cue right before the chain's first term, at most MAX_GAP other words away.
        gap = 0
        p = first - 1
        while p >= 0 and gap <= MAX_GAP:
            if is_cue(words, p):
                negated[k] = True
                break
            word = words[p]
            if word in PUNCTUATION or word in SCOPE_BREAKERS or any(s <= p < e for s, e, _ in spans):
                break
            gap += 1
            p -= 1
    return negated
