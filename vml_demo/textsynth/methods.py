"""ViML's three music text synthesis methods behind one call (paper section 3.1).

- "tags": the confident tags, shuffled and comma-joined ("piano, calm, ambient").
- "data2text": templated sentences, ordered, aggregated and compressed into one description (data2text.py).
- "prompt2text": few-shot analogy prompt completed by a local causal LM (prompt2text.py); when no LM is available
  or its text drops tags it falls back to data2text, and `SynthesizedText.method_used` / `.label` say so.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vml_demo.config import P2T_EXEMPLARS
from vml_demo.textsynth.aggregate import TagSet
from vml_demo.textsynth.data2text import Data2Text
from vml_demo.textsynth.prompt2text import Prompt2Text
from vml_demo.textsynth.vocabulary import Vocabulary, load_vocabulary

METHODS = ("tags", "data2text", "prompt2text")
EMPTY_TAGS_TEXT = "music"


@dataclass(frozen=True)
class SynthesizedText:
    text: str
    method_used: str  # the method that produced `text` (data2text when prompt2text had to fall back)
    method_requested: str

    @property
    def label(self) -> str:
        """What produced the text, for counting in model cards: "data2text (prompt2text fallback)" when
        prompt2text was asked for but no LM answered or its texts dropped tags, else the method itself."""
        if self.method_used == self.method_requested:
            return self.method_used
        return f"{self.method_used} ({self.method_requested} fallback)"


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def tags_text(tagset: TagSet, rng: np.random.Generator) -> str:
    """ViML's "tags" text: the tags in random order, comma-joined."""
    terms = tagset.terms()
    if not terms:
        return EMPTY_TAGS_TEXT
    return ", ".join(terms[i] for i in rng.permutation(len(terms)))


class TextSynthesizer:
    """Holds the loaded vocabulary, templates and exemplars; `synthesize` is the convenience wrapper."""

    def __init__(self, vocabulary: Vocabulary | None = None, k_exemplars: int = P2T_EXEMPLARS,
                 prompt2text: Prompt2Text | None = None):
        self.vocabulary = vocabulary or load_vocabulary()
        self.data2text = Data2Text(self.vocabulary)
        self.prompt2text = prompt2text or Prompt2Text(self.vocabulary, k=k_exemplars)

    def synthesize(self, tagset: TagSet, method: str, rng: np.random.Generator | int | None = None
                   ) -> SynthesizedText:
        if method not in METHODS:
            raise ValueError(f"unknown text synthesis method {method!r}; expected one of {METHODS}")
        gen = as_generator(rng)
        if method == "tags":
            return SynthesizedText(tags_text(tagset, gen), "tags", method)
        if method == "prompt2text":
            text = self.prompt2text.describe(tagset, gen)
            if text is not None:
                return SynthesizedText(text, "prompt2text", method)
        return SynthesizedText(self.data2text.describe(tagset, gen), "data2text", method)


_default: dict[str, TextSynthesizer] = {}


def synthesize(tagset: TagSet, method: str, rng: np.random.Generator | int | None = None) -> SynthesizedText:
    """Describe `tagset` with "tags", "data2text" or "prompt2text"; `rng` (a Generator or a seed) makes it
    reproducible."""
    if "synth" not in _default:
        _default["synth"] = TextSynthesizer()
    return _default["synth"].synthesize(tagset, method, rng)
