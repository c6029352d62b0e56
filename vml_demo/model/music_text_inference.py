"""Run a trained music tower over library windows, each in the same +-10 s context it was trained with.

The tower's torch model is loaded on first use, when windows must be embedded (a library whose cached window
vectors are stale, audio from outside the library): choosing it, its fit check and its fingerprint read the
checkpoint's info (checkpoint_info.py) without torch, so a text search over a cached library never imports it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import WeightsUnavailableError
from ..library.features import WindowTable, feature_columns
from ..library.windows import context_rows
from .checkpoint_info import CheckpointMismatchError, check_features, checkpoint_info

BATCH = 512


def resolve_checkpoint_dir(path: Path) -> Path:
    """A training output folder holds best/ and last/; a checkpoint folder holds checkpoint.pt."""
    path = Path(path)
    for candidate in (path, path / "best", path / "last"):
        if (candidate / "checkpoint.pt").is_file():
            return candidate
    raise WeightsUnavailableError(f"no music-text checkpoint in {path}")


def table_sequences(table: WindowTable) -> list[list[int]]:
    """For every window row of a library table, the rows of its in-track context."""
    sequences: list[list[int]] = [[] for _ in range(len(table.window_ids))]
    for rows in table.track_slices().values():
        for row in range(rows.start, rows.stop):
            sequences[row] = context_rows(rows, row)
    return sequences


def embed_in_context(encode_music, features: np.ndarray, sequences: list[list[int]], dim: int) -> np.ndarray:
    """encode_music over padded batches of row sequences -> one [dim] row per sequence."""
    import torch

    out = []
    for start in range(0, len(sequences), BATCH):
        chunk = sequences[start:start + BATCH]
        t = max(len(s) for s in chunk)
        feats = np.zeros((len(chunk), t, features.shape[1]), np.float32)
        mask = np.zeros((len(chunk), t), bool)
        for i, rows in enumerate(chunk):
            feats[i, : len(rows)] = features[rows]
            mask[i, : len(rows)] = True
        with torch.no_grad():
            out.append(encode_music(torch.from_numpy(feats), torch.from_numpy(mask)).numpy())
    return np.concatenate(out) if out else np.zeros((0, dim), np.float32)


class MusicTower:
    def __init__(self, source: Path, info: dict, expect: dict):
        self.source, self.config, self._expect = source, info["config"], expect
        self._model = None
        spec = [tuple(s) for s in self.config["features"].get("feature_spec") or []]
        kinds = tuple(self.config["features"].get("input_kinds") or ("emb", "scores"))
        self.columns = feature_columns(spec, kinds) if spec else None
        self.fingerprint = info["sha256"][:12]
        f = self.config["features"]
        self.summary = f"{f.get('music_encoder')} -> {f.get('text_encoder')} {f.get('text_dim')}-d, sha {self.fingerprint}"

    @property
    def model(self):
        """The torch model, loaded (and checked against the code's model) on first use."""
        if self._model is None:
            from .checkpoint import load_checkpoint

            self._model, _, _ = load_checkpoint(self.source, expect=self._expect)
        return self._model

    def _embed_sequences(self, features: np.ndarray, sequences: list[list[int]]) -> np.ndarray:
        return embed_in_context(self.model.encode_music, features, sequences, self.model.text_dim)

    def _inputs(self, features: np.ndarray) -> np.ndarray:
        return features if self.columns is None else features[:, self.columns]

    def embed_windows(self, table: WindowTable) -> np.ndarray:
        return self._embed_sequences(self._inputs(table.features), table_sequences(table))


def load_music_tower(checkpoint: Path, text_encoder_name: str, table: WindowTable | None = None) -> MusicTower:
    """The tower of a checkpoint folder, checked to fit the text encoder (and `table`'s features) without torch."""
    source = resolve_checkpoint_dir(checkpoint)
    expect = {"text_encoder": text_encoder_name}
    if table is not None:  # the index must hold the same encoder outputs, in the same order and widths
        expect["feature_spec"] = [list(s) for s in table.feature_spec]
    info = checkpoint_info(source)
    check_features(info["config"], expect, source=f"checkpoint {source.name}")
    kind = info["config"].get("model", {}).get("kind")
    if kind != "music_text":
        raise CheckpointMismatchError(f"{source} holds a {kind} model, not a music tower")
    return MusicTower(source, info, expect)
