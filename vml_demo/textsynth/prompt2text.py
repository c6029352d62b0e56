"""ViML's prompt2text music descriptions (section 3.1): few-shot analogy prompts completed by a causal LM.

The prompt is A:A'::B:B' written out as text: for k exemplars (A = tag list, A' = a human-style description,
from `caption_exemplars.json`, chosen by tag overlap with the target), then the target's tags B and an open
"Description:" line that the language model completes (B').

The LM is a local `transformers` causal model, never downloaded: the folder (or HF-cache repo id) in VML_TEXT_LM,
or else the first of a few small models found in the HF cache. Without one, `prompt2text_status()` says so, one
warning is logged, and callers fall back to data2text.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from vml_demo.config import DATA_DIR
from vml_demo.settings import get_settings
from vml_demo.textsynth.aggregate import TagSet
from vml_demo.textsynth.vocabulary import CATEGORIES, Vocabulary, load_vocabulary

log = logging.getLogger(__name__)

EXEMPLARS_PATH = DATA_DIR / "caption_exemplars.json"
LM_ENV = "VML_TEXT_LM"
# Small causal LMs tried in the HF cache (offline) when VML_TEXT_LM is unset, best first.
CACHED_LM_CANDIDATES = (
    "HuggingFaceTB/SmolLM2-360M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct", "Qwen/Qwen2.5-0.5B-Instruct",
    "Qwen/Qwen2.5-0.5B", "openai-community/gpt2-medium", "openai-community/gpt2", "gpt2", "distilbert/distilgpt2",
    "distilgpt2",
)
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
                      rng: np.random.Generator) -> list[Exemplar]:
    """The k exemplars with the highest tag overlap (Jaccard), least similar first so that the closest one sits
    right before the target; ties are broken at random."""
    target = set(tagset.terms())
    jitter = rng.random(len(exemplars))
    scored = []
    for i, ex in enumerate(exemplars):
        terms = set(ex.tags.terms())
        union = target | terms
        scored.append((len(target & terms) / len(union) if union else 0.0, jitter[i], i))
    best = sorted(scored, reverse=True)[:k]
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


class CausalLM:
    """A local `transformers` causal language model used to complete prompts."""

    def __init__(self, path: str, max_new_tokens: int = 48):
        # transformers' model modules import torchvision, whose PyPI build fails beside the CPU torch wheel
        # unless its op schemas are declared first (see STACK.md).
        from vml_demo.compat import ensure_torchvision_importable

        ensure_torchvision_importable()
        from transformers import AutoModelForCausalLM, AutoTokenizer  # heavy import, only when an LM exists

        self.path = path
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
        self.model.eval()
        self.max_new_tokens = max_new_tokens
        config = self.model.config
        self.context_tokens = int(getattr(config, "max_position_embeddings", None)
                                  or getattr(config, "n_positions", None) or 1024)

    def prompt_fits(self, prompt: str) -> bool:
        return len(self.tokenizer(prompt)["input_ids"]) + self.max_new_tokens <= self.context_tokens

    def complete(self, prompt: str, seed: int) -> str:
        """Sampled continuation of `prompt` (new text only), reproducible for a given seed."""
        import torch

        inputs = self.tokenizer(prompt, return_tensors="pt")
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else 0
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)
            output = self.model.generate(**inputs, do_sample=True, top_p=0.9, temperature=0.8,
                                         max_new_tokens=self.max_new_tokens, pad_token_id=pad_id)
        new_tokens = output[0, inputs["input_ids"].shape[1]:]
        return self.tokenizer.decode(new_tokens, skip_special_tokens=True)


def _resolve_lm_path() -> tuple[str | None, str]:
    """(model folder or None, why), looking only at local files."""
    requested = get_settings().text_lm or ""
    if requested and Path(requested).is_dir():
        return requested, f"{LM_ENV}={requested}"
    candidates = (requested,) if requested else CACHED_LM_CANDIDATES
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - huggingface_hub ships with transformers
        return None, "huggingface_hub is not installed"
    for repo_id in candidates:
        try:
            return snapshot_download(repo_id, local_files_only=True), f"HF cache: {repo_id}"
        except Exception:  # noqa: BLE001 - any failure means "not on disk"
            continue
    if requested:
        return None, f"{LM_ENV}={requested} is neither a folder nor a model in the local HF cache"
    return None, f"no local causal language model ({LM_ENV} unset, none of {len(candidates)} known models cached)"


_state: dict[str, object] = {}


def get_text_lm() -> CausalLM | None:
    """The local LM, loaded once per process (None when unavailable; the reason is in prompt2text_status())."""
    if "lm" not in _state:
        path, why = _resolve_lm_path()
        lm = None
        if path is None:
            status = f"unavailable: {why}; prompt2text falls back to data2text"
        else:
            try:
                lm = CausalLM(path)
                status = f"ready: causal LM from {why}"
            except Exception as err:  # noqa: BLE001 - report any loading failure as one line
                status = f"unavailable: loading the LM from {why} failed ({type(err).__name__}: {err}); " \
                         "prompt2text falls back to data2text"
        if lm is None:
            log.warning("prompt2text %s", status)
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
    """Builds analogy prompts and completes them with the local LM."""

    def __init__(self, vocabulary: Vocabulary | None = None, exemplars: tuple[Exemplar, ...] | None = None,
                 k: int = 4):
        self.vocabulary = vocabulary or load_vocabulary()
        self.exemplars = exemplars if exemplars is not None else load_exemplars()
        self.k = k

    def prompt(self, tagset: TagSet, rng: np.random.Generator, lm: CausalLM | None = None) -> str:
        """The few-shot prompt for `tagset`, with fewer exemplars when the LM's context is too short."""
        chosen = nearest_exemplars(tagset, self.exemplars, self.k, rng)
        prompt = build_prompt(tagset, chosen)
        while lm is not None and len(chosen) > 1 and not lm.prompt_fits(prompt):
            chosen = chosen[1:]  # drop the least similar exemplar
            prompt = build_prompt(tagset, chosen)
        return prompt

    def describe(self, tagset: TagSet, rng: np.random.Generator) -> str | None:
        """The LM's description, or None when no LM is available or it produced nothing usable."""
        lm = get_text_lm()
        if lm is None or tagset.is_empty():
            return None
        prompt = self.prompt(tagset, rng, lm)
        text = clean_completion(lm.complete(prompt, seed=int(rng.integers(2**31 - 1))))
        if not text:
            log.debug("prompt2text: empty completion for %s", format_tags(tagset))
            return None
        return text
