"""ViML's prompt2text music descriptions (section 3.1): few-shot analogy prompts completed by a causal LM.

The prompt is A:A'::B:B' written out as text: for k exemplars (A = tag list, A' = a human-style description,
from `caption_exemplars.json`, chosen by tag overlap with the target), then the target's tags B and an open
"Description:" line that the language model completes (B').

The LM is local, never downloaded: the packaged Gemma 3 270M when installed, or what VML_TEXT_LM names (lm.py).
Decoding is greedy and stops at the first newline (sampling gave broken sentences from a model this small).
Each text is checked against its tags with the project's semantic-preservation measure: a text that drops a tag
is regenerated from the next exemplar set, and after a few prompts prompt2text gives up and the caller falls back
to data2text (`SynthesizedText.label` then says "data2text (prompt2text fallback)"). Completions are cached on disk
(completions.py), keyed by model, decoding, prompt and tags. Without an LM, `prompt2text_status()` says why, one
warning is logged, and every text falls back to data2text.
"""
from __future__ import annotations

import collections
import json
import logging
import time
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from vml_demo.config import (
    DATA_DIR, P2T_ATTEMPTS, P2T_EXEMPLARS, P2T_MAX_NEW_TOKENS, P2T_MIN_PRESERVATION, P2T_PROMPT_VARIANTS)
from vml_demo.textsynth.aggregate import TagSet
from vml_demo.textsynth.completions import CompletionCache, completion_key
from vml_demo.textsynth.lm import LMSource, load_tokenizer_and_model, resolve_lm
from vml_demo.textsynth.metrics import semantic_preservation
from vml_demo.textsynth.vocabulary import CATEGORIES, Vocabulary, load_vocabulary

log = logging.getLogger(__name__)

EXEMPLARS_PATH = DATA_DIR / "caption_exemplars.json"
PROMPT_HEADER = "Each music clip is described in one or two sentences from its tags."
TAGS_PREFIX = "Tags:"
DESCRIPTION_PREFIX = "Description:"


@dataclass(frozen=True)
class Exemplar:
    tags: TagSet
    text: str


@lru_cache(maxsize=4)
def load_exemplars(path: str | Path = EXEMPLARS_PATH) -> tuple[Exemplar, ...]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    vocab = load_vocabulary()
    exemplars = []
    for item in data["exemplars"]:
        terms = [t for cat in CATEGORIES for t in item["tags"].get(cat, [])]
        exemplars.append(Exemplar(TagSet.from_terms(terms, vocab), item["text"]))
    return tuple(exemplars)


def format_tags(tagset: TagSet) -> str:
    """The tag line of a prompt: genres, moods, tempo, then instruments, comma-separated."""
    order = ("genre", "mood", "tempo", "instrument")
    return ", ".join(t for cat in order for t in tagset.terms(cat))


def nearest_exemplars(tagset: TagSet, exemplars: tuple[Exemplar, ...], k: int,
                      rng: np.random.Generator | None = None, start: int = 0) -> list[Exemplar]:
    """k exemplars by tag overlap (Jaccard): ranks start .. start+k-1 of the ranking, least similar first so that
    the closest one sits right before the target. Ties are broken by `rng`, or, without one, by a shuffle seeded
    from the tags, so one tag set always gets the same prompt (and the completion cache can answer it)."""
    target = set(tagset.terms())
    if rng is None:
        rng = np.random.default_rng(zlib.crc32(format_tags(tagset).encode("utf-8")))
    jitter = rng.random(len(exemplars))
    scored = []
    for i, ex in enumerate(exemplars):
        terms = set(ex.tags.terms())
        union = target | terms
        scored.append((len(target & terms) / len(union) if union else 0.0, jitter[i], i))
    start = max(0, min(start, len(exemplars) - k))
    best = sorted(scored, reverse=True)[start:start + k]
    return [exemplars[i] for _, _, i in reversed(best)]


def build_prompt(tagset: TagSet, exemplars: list[Exemplar]) -> str:
    """A:A'::B: as text, ending with an open description line for the LM to complete."""
    blocks = [PROMPT_HEADER]
    for ex in exemplars:
        blocks.append(f"{TAGS_PREFIX} {format_tags(ex.tags)}\n{DESCRIPTION_PREFIX} {ex.text}")
    blocks.append(f"{TAGS_PREFIX} {format_tags(tagset)}\n{DESCRIPTION_PREFIX}")
    return "\n\n".join(blocks)


def clean_completion(raw: str, max_words: int = 60) -> str:
    """Keep the first line of the completion, cut before any echoed prompt marker, drop undecodable or control
    characters, tidy spaces, and cap the length."""
    text = raw.strip()
    for marker in (TAGS_PREFIX, DESCRIPTION_PREFIX):
        text = text.split(marker)[0]
    text = text.strip().replace("\r", "\n").split("\n")[0]  # not splitlines(): it also splits on \x1c etc.
    text = "".join(ch for ch in text if ch.isprintable() and ch != "\ufffd")
    return " ".join(text.split()[:max_words])


class _NewlineStop:
    """Stops generation once the last token holds a newline. (transformers' `stop_strings` first indexes the whole
    vocabulary, which takes minutes for Gemma's 262k tokens on this CPU; one token's decode per step costs nothing.)"""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        done = ["\n" in self.tokenizer.decode(row[-1:]) for row in input_ids]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class CausalLM:
    """A local causal language model (see lm.py for which) completing prompts greedily."""

    def __init__(self, source: LMSource, max_new_tokens: int = P2T_MAX_NEW_TOKENS):
        # transformers' model modules import torchvision, whose PyPI build fails beside the CPU torch wheel
        # unless its op schemas are declared first (see STACK.md).
        from vml_demo.compat import ensure_torchvision_importable

        ensure_torchvision_importable()
        self.source = source
        self.model_id = source.model_id
        self.tokenizer, self.model = load_tokenizer_and_model(source)
        self.model.eval()
        self.max_new_tokens = max_new_tokens
        config = self.model.config
        config = getattr(config, "text_config", None) or config
        self.context_tokens = int(getattr(config, "max_position_embeddings", None)
                                  or getattr(config, "n_positions", None) or 1024)
        # Part of the completion cache key: a change here must not serve texts made another way.
        self.decoding = f"greedy, stop at newline, max {max_new_tokens} new tokens"

    def prompt_fits(self, prompt: str) -> bool:
        return len(self.tokenizer(prompt)["input_ids"]) + self.max_new_tokens <= self.context_tokens

    def complete(self, prompt: str) -> str:
        """Greedy continuation of `prompt` (new text only) up to the first newline or max_new_tokens."""
        import torch

        inputs = self.tokenizer(prompt, return_tensors="pt")
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else 0
        with torch.no_grad():
            output = self.model.generate(**inputs, do_sample=False, max_new_tokens=self.max_new_tokens,
                                         stopping_criteria=[_NewlineStop(self.tokenizer)], pad_token_id=pad_id)
        new_tokens = output[0, inputs["input_ids"].shape[1]:]
        return self.tokenizer.decode(new_tokens, skip_special_tokens=True)


_state: dict[str, object] = {}


def get_text_lm() -> CausalLM | None:
    """The local LM, loaded once per process (None when unavailable; the reason is in prompt2text_status())."""
    if "lm" not in _state:
        lm, source = None, None
        try:
            source, why = resolve_lm()
        except Exception as err:  # noqa: BLE001 - e.g. the packaged GGUF failed its sha256 check
            why = f"finding the LM failed ({type(err).__name__}: {err})"
        if source is None:
            status = f"unavailable: {why}; prompt2text falls back to data2text"
        else:
            try:
                start = time.perf_counter()
                lm = CausalLM(source)
                status = f"ready: {source.model_id} from {source.why}, loaded in {time.perf_counter() - start:.0f} s"
            except Exception as err:  # noqa: BLE001 - report any loading failure as one line
                status = f"unavailable: loading the LM from {source.why} failed ({type(err).__name__}: {err}); " \
                         "prompt2text falls back to data2text"
        log.log(logging.INFO if lm is not None else logging.WARNING, "prompt2text %s", status)
        _state.update(lm=lm, status=status)
    return _state["lm"]  # type: ignore[return-value]


def prompt2text_status() -> str:
    """One line: whether prompt2text can run with a language model here, and from where."""
    get_text_lm()
    return str(_state["status"])


def reset_text_lm() -> None:
    """Forget the loaded LM and its status (for tests, or after changing VML_TEXT_LM)."""
    _state.clear()


class Prompt2Text:
    """Builds analogy prompts, completes them with the LM (through the completion cache), and keeps a text only
    when it preserves the tags; otherwise it tries the next exemplar set, and after `attempts` prompts gives up
    (the caller falls back to data2text). `stats` counts what happened to each text.

    A tag set is described from one of `variants` exemplar windows (drawn with the caller's generator); attempt a
    of variant v uses window v + a of the exemplars ranked by tag overlap, so the distinct prompts per tag set,
    and the generations the cache can ever hold for it, are at most variants + attempts - 1.
    """

    def __init__(self, vocabulary: Vocabulary | None = None, exemplars: tuple[Exemplar, ...] | None = None,
                 k: int = P2T_EXEMPLARS, lm=None, cache: CompletionCache | None = None,
                 variants: int = P2T_PROMPT_VARIANTS, attempts: int = P2T_ATTEMPTS,
                 min_preservation: float = P2T_MIN_PRESERVATION):
        self.vocabulary = vocabulary or load_vocabulary()
        self.exemplars = exemplars if exemplars is not None else load_exemplars()
        self.k = k
        self._lm = lm  # anything with model_id, decoding, prompt_fits(prompt) and complete(prompt); None: get_text_lm()
        self._cache = cache
        self.variants, self.attempts, self.min_preservation = max(1, variants), max(1, attempts), min_preservation
        self.stats: collections.Counter = collections.Counter()

    @property
    def lm(self):
        return self._lm if self._lm is not None else get_text_lm()

    @property
    def cache(self) -> CompletionCache:
        if self._cache is None:
            self._cache = CompletionCache()
        return self._cache

    def prompt(self, tagset: TagSet, start: int = 0, lm=None) -> str:
        """The few-shot prompt for `tagset` from exemplar window `start`, with fewer exemplars when the LM's
        context is too short."""
        chosen = nearest_exemplars(tagset, self.exemplars, self.k, start=start)
        prompt = build_prompt(tagset, chosen)
        while lm is not None and len(chosen) > 1 and not lm.prompt_fits(prompt):
            chosen = chosen[1:]  # drop the least similar exemplar
            prompt = build_prompt(tagset, chosen)
        return prompt

    def completion(self, lm, tagset: TagSet, prompt: str) -> str:
        """The LM's raw completion of `prompt`, from the cache when it was generated before."""
        tags = format_tags(tagset)
        key = completion_key(lm.model_id, lm.decoding, prompt, tags)
        raw = self.cache.get(key)
        if raw is not None:
            self.stats["cache hits"] += 1
            return raw
        start = time.perf_counter()
        raw = lm.complete(prompt)
        seconds = time.perf_counter() - start
        self.stats["generated"] += 1
        self.stats["generation seconds"] += seconds
        self.cache.put(key, lm.model_id, tags, prompt, raw, seconds)
        return raw

    def describe(self, tagset: TagSet, rng: np.random.Generator) -> str | None:
        """A description that keeps the tags, or None when there is no LM or no attempt kept them."""
        lm = self.lm
        if lm is None or tagset.is_empty():
            return None
        variant = int(rng.integers(self.variants))
        for attempt in range(self.attempts):
            text = clean_completion(self.completion(lm, tagset, self.prompt(tagset, variant + attempt, lm)))
            if text and semantic_preservation(tagset, text, self.vocabulary) >= self.min_preservation:
                self.stats["kept, first prompt" if attempt == 0 else "kept, regenerated"] += 1
                return text
            log.debug("prompt2text: attempt %d for %s dropped tags: %r", attempt + 1, format_tags(tagset), text)
        self.stats["fell back to data2text"] += 1
        return None
