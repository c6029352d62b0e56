"""Split a music description into what is wanted and what is not.

"energetic rock with distorted guitar, no vocals" -> positive "energetic rock with distorted guitar",
negated ["vocals"]. The negated words are removed from the text that gets embedded (a sentence
encoder puts "no vocals" close to "vocals") and become penalties in ranking instead.

The negation scopes come from textsynth/negation.py (the same cues the vocabulary uses): a cue (no, without,
not, minus, avoid, except, never, instead of, ...) opens a scope that runs to the next clause boundary
(punctuation, "but", "with", "just", "only", ..., or "and some/a/lots"); inside it, "or", "nor", "and" and
"/" separate the negated phrases: "without drums or bass" negates both.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..textsynth.negation import split_negations


@dataclass
class ParsedQuery:
    text: str
    positive: str  # the text to embed, negated scopes removed
    negated_phrases: list[str] = field(default_factory=list)  # the phrases to avoid, as written
    negated: list[str] = field(default_factory=list)  # vocabulary terms among them (for explanation)
    terms: list[str] = field(default_factory=list)  # vocabulary terms wanted


def parse_query(text: str) -> ParsedQuery:
    text = " ".join((text or "").split())
    positive, phrases = split_negations(text)
    query = ParsedQuery(text=text, positive=positive, negated_phrases=phrases)
    try:
        from ..textsynth.vocabulary import load_vocabulary

        vocab = load_vocabulary()
        query.terms = list(vocab.match_terms(positive))
        query.negated = sorted({t for p in phrases for t in vocab.match_terms(p)})
    except ImportError:  # vocabulary not installed: ranking still works, explanations are thinner
        pass
    return query
