"""The ensemble of the tag bridge and a trained tower (ViML appendix C) as one music-text space.

A window's vector is [sqrt(w) * bridge vector, sqrt(1 - w) * tower vector] and a text's likewise, each part
unit-norm, so the whole is unit-norm and its cosine is w * cos_bridge + (1 - w) * cos_tower. Being one
ordinary space, ranking (best window per track, negation penalties), the hubness penalty, the library map,
like/refine, tagging, the API and the evaluation all use it unchanged: what `evaluate music-text` reports
for an ensemble is what search with this space ranks. Negated phrases are embedded by each part the way
that part embeds them (the bridge centres them on its mean term vector), then joined the same way.
"""
from __future__ import annotations

import math

import numpy as np

from ..encoders.base import l2_normalize
from ..library.features import WindowTable
from .spaces import MusicSpace


class EnsembleSpace(MusicSpace):
    def __init__(self, bridge: MusicSpace, tower: MusicSpace, bridge_weight: float):
        if not 0.0 <= bridge_weight <= 1.0:
            raise ValueError(f"ensemble weight must lie in [0, 1], got {bridge_weight}")
        super().__init__(bridge.text_encoder)
        self.bridge, self.tower, self.bridge_weight = bridge, tower, float(bridge_weight)
        self._scales = (math.sqrt(self.bridge_weight), math.sqrt(1.0 - self.bridge_weight))
        self.key = f"ensemble-{self.bridge_weight:g}-{bridge.key}-{tower.key}"

    def describe(self) -> str:
        return (f"ensemble {self.bridge_weight:g} x [{self.bridge.describe()}] + {1 - self.bridge_weight:g} x "
                f"[{self.tower.describe()}] (cosines weighted, one space)")

    def join(self, bridge_rows: np.ndarray, tower_rows: np.ndarray) -> np.ndarray:
        """The parts' vectors of the same rows (or one vector each) -> this space's vectors."""
        a, b = self._scales
        return np.concatenate([a * l2_normalize(np.asarray(bridge_rows, np.float32)),
                               b * l2_normalize(np.asarray(tower_rows, np.float32))], axis=-1).astype(np.float32)

    def embed_text(self, texts: list[str]) -> np.ndarray:
        return self.join(self.bridge.embed_text(texts), self.tower.embed_text(texts))

    def embed_query(self, query) -> tuple[np.ndarray | None, np.ndarray | None]:
        bridge_vec, bridge_negs = self.bridge.embed_query(query)
        tower_vec, tower_negs = self.tower.embed_query(query)
        vec = None if bridge_vec is None else self.join(bridge_vec, tower_vec)
        negs = None if bridge_negs is None else self.join(bridge_negs, tower_negs)
        return vec, negs

    def window_embeddings(self, table: WindowTable) -> np.ndarray:
        return self.join(self.bridge.window_embeddings(table), self.tower.window_embeddings(table))

    def warm_up(self) -> None:
        self.bridge.warm_up()
        self.tower.warm_up()

    def library_window_embeddings(self, table: WindowTable, store) -> np.ndarray:
        return self.join(self.bridge.library_window_embeddings(table, store),
                         self.tower.library_window_embeddings(table, store))
