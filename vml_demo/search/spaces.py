"""Music-text spaces: where library windows and text queries meet, so cosine similarity ranks music.

- `TagBridgeSpace` needs no training (the documented baseline): a window is represented by the text
  embeddings of the vocabulary terms its taggers detect, weighted by how distinctive each term is in
  this library; a query is embedded by the same text encoder (both centred on the mean term vector).
- `TrainedSpace` uses a MuLan-style music tower (vml_demo.model.music_text) trained here to map the
  windows' encoder features straight into the text encoder's space.
`choose_space("auto", ...)` takes the trained tower when a checkpoint fits the active text encoder and
the index's music features, else the bridge, and says why in `notes`.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .. import config
from ..encoders.base import TextEncoder, l2_normalize
from ..errors import VmlError, WeightsUnavailableError
from ..library.features import WindowTable
from ..textsynth.terms import distinctive_weights, window_term_matrix

log = logging.getLogger(__name__)


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

    def window_embeddings(self, table: WindowTable) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class TagBridgeSpace(MusicSpace):
    """Baseline without training: music -> detected vocabulary terms -> their text embeddings."""

    def __init__(self, text_encoder: TextEncoder, table: WindowTable | None = None):
        super().__init__(text_encoder)
        self.key = f"bridge-{text_encoder.name}"
        from ..textsynth.vocabulary import load_vocabulary

        self.terms = load_vocabulary().terms()
        raw = l2_normalize(self.text_encoder.encode([f"{t} music" for t in self.terms]))
        # Every term phrase shares a strong "... music" direction; removing the mean term vector (from
        # the terms and from queries alike) leaves what tells terms apart.
        self.center = raw.mean(axis=0)
        self.term_vecs = raw - self.center
        self.mean = self.std = None
        if table is not None:
            self.fit(table)

    def embed_text(self, texts: list[str]) -> np.ndarray:
        return l2_normalize(self.text_encoder.encode(list(texts)) - self.center)

    def describe(self) -> str:
        return f"tag bridge (no training) over {len(self.terms)} vocabulary terms, text encoder {self.text_encoder.name}"

    def fit(self, table: WindowTable) -> None:
        """Library statistics of each term, so the weights measure distinctiveness."""
        _, scores = window_term_matrix(table)
        self.mean, self.std = scores.mean(axis=0), scores.std(axis=0)

    def embed_term_scores(self, term_scores: np.ndarray) -> np.ndarray:
        weights = term_scores if self.mean is None else distinctive_weights(term_scores, self.mean, self.std)
        return l2_normalize(weights @ self.term_vecs)

    def window_embeddings(self, table: WindowTable) -> np.ndarray:
        _, scores = window_term_matrix(table)
        return self.embed_term_scores(scores)


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


def choose_space(kind: str, table: WindowTable | None, text_encoder: TextEncoder) -> MusicSpace:
    """kind: "bridge", "trained", "auto", or a checkpoint folder path."""
    if kind == "bridge":
        space = TagBridgeSpace(text_encoder, table)
        if (default_checkpoint(text_encoder.name) / "model_card.md").exists():
            space.notes.append("tag bridge in use: it measured better than the shipped music-text tower on the "
                               "labelled test set (VML_SPACE=trained uses the tower)")
        return space
    path = default_checkpoint(text_encoder.name) if kind in ("auto", "trained") else Path(kind)
    try:
        return TrainedSpace(text_encoder, path, table)
    except (VmlError, FileNotFoundError) as err:
        if kind != "auto":
            raise
        space = TagBridgeSpace(text_encoder, table)
        reason = str(err) if not isinstance(err, FileNotFoundError) else f"no checkpoint at {path}"
        space.notes.append(f"music-text tower not used ({reason}): using the tag bridge baseline")
        return space


__all__ = ["MusicSpace", "TagBridgeSpace", "TrainedSpace", "choose_space", "default_checkpoint",
           "WeightsUnavailableError"]
