"""Music-text spaces: where library windows and text queries meet, so cosine similarity ranks music.

- `TagBridgeSpace` needs no training (the documented baseline): a window is represented by the text
  embeddings of the vocabulary terms its taggers detect, weighted by how distinctive each term is in
  this library; a query is embedded by the same text encoder (both centred on the mean term vector).
- `TrainedSpace` uses a MuLan-style music tower (vml_demo.model.music_text) trained here to map the
  windows' encoder features straight into the text encoder's space.
`choose_space("auto", ...)` picks by measurement: the space with the higher mean dev-split mAP in the
checkpoint's metrics.json (written by `evaluate music-text --checkpoint`), the bridge when the tower is
unmeasured or does not fit; every choice says why in `notes`, with the numbers it read.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from .. import config
from ..encoders.base import TextEncoder, l2_normalize
from ..encoders.cached_text import persistent_rows
from ..errors import VmlError, WeightsUnavailableError
from ..library.features import WindowTable
from ..settings import get_settings
from ..textsynth.tempo_terms import rhythm_term_scores
from ..textsynth.terms import (TermCalibration, distinctive_weights, orthonormal_rows, query_term_weights,
                               window_term_matrix)

log = logging.getLogger(__name__)

_CLAUSE_RE = re.compile(r"[,;/]|\band\b|\bwith\b", re.IGNORECASE)  # where a description's wants part

METRICS_FILE = "metrics.json"  # written into a checkpoint folder by `evaluate music-text --checkpoint`


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
        self.term_vecs = orthonormal_rows(self.term_vecs)

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
        weights = query_term_weights(vecs @ self.term_units.T, self.query_t)
        bounds = np.cumsum([0] + [len(c) for c in clauses])
        return np.stack([weights[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:])])

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

    def window_embeddings(self, table: WindowTable) -> np.ndarray:
        return self.tower.embed_windows(table)


def measured_dev_map(checkpoint: Path) -> dict[str, float] | None:
    """{"bridge": x, "tower": y, "sets": "synthetic+real"} from the checkpoint's metrics.json: each space's
    dev-split mAP averaged over the evaluation sets (choosing a space is tuning, so never test numbers);
    None when the checkpoint has not been evaluated."""
    import json

    path = Path(checkpoint) / METRICS_FILE
    try:
        dev = json.loads(path.read_text(encoding="utf-8"))["splits"]["dev"]["sets"]
        out: dict[str, list[float]] = {"bridge": [], "tower": []}
        for result in dev.values():
            for row in result["retrieval"]:
                if row["kind"] in out:
                    out[row["kind"]].append(float(row["mAP"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not out["bridge"] or len(out["bridge"]) != len(out["tower"]):
        return None
    return {"bridge": float(np.mean(out["bridge"])), "tower": float(np.mean(out["tower"])),
            "sets": "+".join(dev)}


def _measured_note(m: dict, chosen: str) -> str:
    return (f"{chosen} in use: mean dev mAP over the {m['sets']} sets (checkpoint metrics.json) is "
            f"bridge {m['bridge']:.3f}, tower {m['tower']:.3f}")


def choose_space(kind: str, table: WindowTable | None, text_encoder: TextEncoder) -> MusicSpace:
    """kind: "bridge", "trained", "auto" (the better measured one), or a checkpoint folder path."""
    ckpt = default_checkpoint(text_encoder.name)
    measured = measured_dev_map(ckpt) if kind in ("bridge", "auto") else None
    if kind == "bridge" or (kind == "auto" and measured is not None and measured["bridge"] >= measured["tower"]):
        space = TagBridgeSpace(text_encoder, table)
        if measured is not None:
            space.notes.append(_measured_note(measured, "tag bridge") + " (VML_SPACE=trained uses the tower)")
        return space
    path = ckpt if kind in ("auto", "trained") else Path(kind)
    try:
        space = TrainedSpace(text_encoder, path, table)
    except (VmlError, FileNotFoundError) as err:
        if kind != "auto":
            raise
        space = TagBridgeSpace(text_encoder, table)
        reason = str(err) if not isinstance(err, FileNotFoundError) else f"no checkpoint at {path}"
        space.notes.append(f"music-text tower not used ({reason}): using the tag bridge baseline")
        return space
    if kind == "auto" and measured is None:  # fits, but there is nothing to choose by: stay with the baseline
        bridge = TagBridgeSpace(text_encoder, table)
        bridge.notes.append(f"tag bridge in use: the tower {path.name} is unmeasured (no {METRICS_FILE}; run "
                            f"`python -m vml_demo evaluate music-text --checkpoint {path}`)")
        return bridge
    if measured is not None:
        space.notes.append(_measured_note(measured, f"music-text tower {path.name}"))
    return space


__all__ = ["MusicSpace", "TagBridgeSpace", "TrainedSpace", "choose_space", "default_checkpoint", "measured_dev_map",
           "WeightsUnavailableError"]
