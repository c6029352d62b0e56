"""Music-text spaces: where library windows and text queries meet, so cosine similarity ranks music.

- `TagBridgeSpace` needs no training (the documented baseline): a window is represented by the text
  embeddings of the vocabulary terms its taggers detect, weighted by how distinctive each term is in
  this library; a query is embedded by the same text encoder (both centred on the mean term vector).
- `TrainedSpace` uses a MuLan-style music tower (vml_demo.model.music_text) trained here to map the
  windows' encoder features straight into the text encoder's space.
- `EnsembleSpace` (ensemble_space.py) joins the two, so its cosine is w * bridge + (1 - w) * tower.
`choose_space("auto", ...)` picks by measurement: the best mean dev-split mAP among the bridge, the candidate
towers and their ensembles in the towers' metrics.json (written by `evaluate music-text --checkpoint`;
model/space_choice.py), falling back to the next best when one does not fit the library; every choice says
why in `notes`, with the numbers it read.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

import numpy as np

from .. import config
from ..encoders.base import TextEncoder, l2_normalize
from ..encoders.cached_text import cached_array, persistent_rows
from ..errors import VmlError, WeightsUnavailableError
from ..library.features import WindowTable
from ..model.space_choice import METRICS_FILE, Measured, candidate_checkpoints, choice_sentence, rank_spaces
from ..settings import get_settings
from ..textsynth.tempo_terms import rhythm_term_scores
from ..textsynth.terms import (TermCalibration, distinctive_weights, orthonormal_rows, query_term_weights,
                               window_term_matrix)

log = logging.getLogger(__name__)

_CLAUSE_RE = re.compile(r"[,;/]|\band\b|\bwith\b", re.IGNORECASE)  # where one wish in a description ends and the next begins


def default_checkpoint(text_encoder_name: str) -> Path:
    return config.CHECKPOINTS_DIR / f"music_text_{text_encoder_name}"


class MusicSpace:
    key: str  # stable id (used to name cached faiss files)
    notes: list[str]

    def __init__(self, text_encoder: TextEncoder):
        self.text_encoder = text_encoder
        self.notes = []

    def describe(self) -> str:
        raise NotImplementedError  # pragma: no cover - interface

    def embed_text(self, texts: list[str]) -> np.ndarray:
        return l2_normalize(self.text_encoder.encode(list(texts)))

    def embed_query(self, query) -> tuple[np.ndarray | None, np.ndarray | None]:
        """A parsed query (search/query.py) -> (vector of what is wanted, vectors of the negated phrases),
        either None when absent. Search and evaluation both go through here, so both treat negations alike."""
        # "no vocals" alone still asks for music: embed a neutral phrase and let the penalty do the work.
        positive = query.positive or ("music" if query.negated_phrases else "")
        vec = self.embed_text([positive])[0] if positive else None
        negs = self.embed_text(query.negated_phrases) if query.negated_phrases else None
        return vec, negs

    def window_embeddings(self, table: WindowTable) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def warm_up(self) -> None:
        """Load ahead what embedding new audio needs (the app's warm-up thread; nothing for the tag bridge)."""

    def library_window_embeddings(self, table: WindowTable, store) -> np.ndarray:
        """window_embeddings of a library's table (`store`: its LibraryStore); a space whose window vectors are
        costly keeps them beside the library (TrainedSpace), the same numbers as window_embeddings gives."""
        return self.window_embeddings(table)

    def window_penalty(self, window_emb: np.ndarray, method: str | None = None) -> np.ndarray | None:
        """Per-window hubness penalty for ranking (search/hubness.py); method default: VML_HUBNESS."""
        from .hubness import bank_texts, window_penalty

        method = method or get_settings().hubness
        if method == "off":
            return None
        if getattr(self, "_bank", None) is None:
            self._bank = self.embed_text(bank_texts())
        return window_penalty(window_emb, self._bank, method)


class TagBridgeSpace(MusicSpace):
    """Baseline without training: music -> detected vocabulary terms -> their text embeddings."""

    def __init__(self, text_encoder: TextEncoder, table: WindowTable | None = None):
        super().__init__(text_encoder)
        self.key = f"bridge-{text_encoder.name}"
        from ..textsynth.vocabulary import load_vocabulary

        self.terms = load_vocabulary().terms()
        raw = l2_normalize(persistent_rows(self.text_encoder, [f"{t} music" for t in self.terms]))
        # Every term phrase shares a strong "... music" direction; removing the mean term vector (from
        # the terms and from queries alike) leaves what tells terms apart.
        self.center = raw.mean(axis=0)
        self.term_vecs = raw - self.center
        settings = get_settings()
        self.query_t = settings.bridge_query_t if settings.bridge_query == "terms" else None
        if self.query_t is not None:
            self._use_term_weights()
        self.margin = settings.bridge_margin
        self.tempo = settings.bridge_tempo
        self.mean = self.std = self.calibration = None
        self.evidence = "max"
        if table is not None:
            self.fit(table)

    def _use_term_weights(self) -> None:
        """VML_BRIDGE_QUERY=terms: windows and texts alike become term weightings on orthonormal term directions,
        so a query is scored by the terms it asks for against each window's evidence for them, unblurred by how
        alike the term phrases' embeddings are (384-d vectors still: ranking and faiss stay as they are)."""
        self.term_units = l2_normalize(self.term_vecs)
        vecs = self.term_vecs  # the SVD is cheap but multi-threaded BLAS makes it erratic on a loaded machine: cache it
        key = f"{hashlib.sha256(np.ascontiguousarray(vecs).tobytes()).hexdigest()[:16]}-{vecs.shape[0]}x{vecs.shape[1]}"
        self.term_vecs = cached_array("term_directions", key, lambda: orthonormal_rows(vecs), vecs.shape)

    def embed_text(self, texts: list[str]) -> np.ndarray:
        if self.query_t is None:
            return l2_normalize(self.text_encoder.encode(list(texts)) - self.center)
        return l2_normalize(self.text_term_weights(texts) @ self.term_vecs)

    def text_term_weights(self, texts: list[str]) -> np.ndarray:
        """Texts -> term weights [Q, T] summing to 1: each clause of a text (split at commas, "and", "with": a
        description lists what it wants, "slow, calm, dark music") gets a softmax at temperature VML_BRIDGE_QUERY_T
        over its cosines to the term phrases, and the text is the mean of its clauses, so one sharpened softmax
        over the whole text does not keep only its strongest word."""
        if not texts:
            return np.zeros((0, len(self.terms)), np.float32)
        clauses = [[c.strip() for c in _CLAUSE_RE.split(t) if c.strip()] or [t] for t in texts]
        clauses = [[t] if len(c) == 1 else c for t, c in zip(texts, clauses)]  # one clause: the text as given
        flat = [c for cs in clauses for c in cs]
        vecs = l2_normalize(self.text_encoder.encode(flat) - self.center)
        weights = query_term_weights(self.clause_term_cosines(vecs), self.query_t)
        bounds = np.cumsum([0] + [len(c) for c in clauses])
        return np.stack([weights[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:])])

    def clause_term_cosines(self, clause_vecs: np.ndarray) -> np.ndarray:
        """[clauses, T] cosines of centred clause embeddings to the term phrases (a variant benchmarked in
        benchmarks/bridge_query_variants.py replaces only this)."""
        return clause_vecs @ self.term_units.T

    def describe(self) -> str:
        query = "whole-embedding" if self.query_t is None else f"term-weight (softmax T={self.query_t:g})"
        return (f"tag bridge (no training) over {len(self.terms)} vocabulary terms ({self.evidence} term evidence, "
                f"margin {self.margin:g}, {query} queries, tempo from {self.tempo}), text encoder {self.text_encoder.name}")

    def fit(self, table: WindowTable) -> None:
        """Library statistics of each term, so the weights measure distinctiveness (VML_TERM_EVIDENCE)."""
        self.evidence = get_settings().term_evidence
        if self.evidence == "calibrated":
            self.calibration = TermCalibration(table)
        else:
            scores = self.term_scores(table)
            self.mean, self.std = scores.mean(axis=0), scores.std(axis=0)

    def term_scores(self, table: WindowTable) -> np.ndarray:
        """The taggers' term confidences [N, T]; with VML_BRIDGE_TEMPO=bpm, the max with the tempo terms read from
        each track's BPM (textsynth/tempo_terms.py), when the table carries tempos."""
        _, scores = window_term_matrix(table)
        rhythm = rhythm_term_scores(table) if self.tempo == "bpm" else None
        return scores if rhythm is None else np.maximum(scores, rhythm)

    def embed_term_scores(self, term_scores: np.ndarray) -> np.ndarray:
        """Max-evidence term confidences [N, T] -> window vectors (z-scores against the fitted library)."""
        weights = (term_scores if self.mean is None
                   else distinctive_weights(term_scores, self.mean, self.std, self.margin))
        return l2_normalize(weights @ self.term_vecs)

    def window_embeddings(self, table: WindowTable) -> np.ndarray:
        if self.calibration is not None:
            return l2_normalize(self.calibration.evidence(table) @ self.term_vecs)
        return self.embed_term_scores(self.term_scores(table))


class TrainedSpace(MusicSpace):
    """The MuLan-style music tower from a checkpoint folder."""

    def __init__(self, text_encoder: TextEncoder, checkpoint: Path, table: WindowTable | None = None):
        super().__init__(text_encoder)
        from ..model.music_text_inference import load_music_tower

        self.tower = load_music_tower(checkpoint, text_encoder.name, table)
        self.key = f"tower-{self.tower.fingerprint}"
        self.checkpoint = checkpoint

    def describe(self) -> str:
        return f"trained music tower {self.checkpoint.name} ({self.tower.summary})"

    def warm_up(self) -> None:
        self.tower.encode_music  # noqa: B018 - the tower's runtime (and torch on a GPU), which a cached library never needed

    def window_embeddings(self, table: WindowTable) -> np.ndarray:
        return self.tower.embed_windows(table)

    def library_window_embeddings(self, table: WindowTable, store) -> np.ndarray:
        """Kept beside the library, keyed by the checkpoint's sha-256 and the table's features, and reused while
        the store's generation is unchanged: a later process neither imports torch nor runs the tower."""
        from ..library.vectors import load_or_build_arrays

        spec = hashlib.sha256(json.dumps([list(s) for s in table.feature_spec]).encode()).hexdigest()[:12]
        arrays = load_or_build_arrays(store, f"window_emb-{self.key}-{spec}",
                                      lambda: {"emb": self.window_embeddings(table)})
        return arrays["emb"]


def auto_checkpoints(text_encoder_name: str) -> list[Path]:
    """The towers `auto` and `ensemble` consider (model/space_choice.py says which and why)."""
    return candidate_checkpoints(config.CHECKPOINTS_DIR, text_encoder_name)


def build_measured(m: Measured, table: WindowTable | None, text_encoder: TextEncoder) -> MusicSpace:
    """The space a measured candidate names (model/space_choice.py), fitted to `table`."""
    if m.kind == "bridge":
        return TagBridgeSpace(text_encoder, table)
    tower = TrainedSpace(text_encoder, m.folder, table)
    if m.kind == "tower":
        return tower
    from .ensemble_space import EnsembleSpace

    return EnsembleSpace(TagBridgeSpace(text_encoder, table), tower, m.bridge_weight)


def choose_space(kind: str, table: WindowTable | None, text_encoder: TextEncoder) -> MusicSpace:
    """kind: "auto" (the best mean dev mAP among the tag bridge, the candidate towers and their ensembles, read
    from their metrics.json), "bridge", "trained" (the default checkpoint's tower), "ensemble" (the best
    measured ensemble) or a checkpoint folder path. `notes` say why, with the numbers read."""
    if kind not in ("auto", "bridge", "trained", "ensemble"):
        return TrainedSpace(text_encoder, Path(kind), table)
    ranking = rank_spaces(auto_checkpoints(text_encoder.name))
    if kind != "auto":  # forced: say so, and what was measured
        if kind == "bridge":
            space = TagBridgeSpace(text_encoder, table)
        elif kind == "trained":
            space = TrainedSpace(text_encoder, default_checkpoint(text_encoder.name), table)
        elif ranking.best("ensemble") is None:
            raise VmlError("VML_SPACE=ensemble, but no candidate checkpoint has measured ensembles: "
                           + "; ".join(ranking.notes or ["run `python -m vml_demo evaluate music-text --split dev "
                                                         "--checkpoint checkpoints/music_text_minilm`"]))
        else:  # the best measured ensemble
            space = build_measured(ranking.best("ensemble"), table, text_encoder)
        space.notes.append(f"{space.describe()} in use (VML_SPACE={kind}); measured on dev: {ranking.summary()}")
        return space
    skipped, space = [], None
    for m in ranking.ranked:  # best first; the bridge always builds
        try:
            space = build_measured(m, table, text_encoder)
            break
        except (VmlError, FileNotFoundError) as err:  # e.g. a library indexed with other encoders
            skipped.append(f"{m.label} not used here ({err})")
    if space is None:
        m, space = None, TagBridgeSpace(text_encoder, table)
    space.notes += [choice_sentence(m, ranking)] + skipped + ranking.notes
    return space


__all__ = ["MusicSpace", "TagBridgeSpace", "TrainedSpace", "auto_checkpoints", "build_measured", "choose_space",
           "default_checkpoint", "METRICS_FILE", "WeightsUnavailableError"]
