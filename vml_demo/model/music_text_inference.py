"""Run a trained music tower over library windows, each in the same +-10 s context it was trained with.

The tower is loaded on first use, when windows must be embedded (a library whose cached window vectors are
stale, audio from outside the library): choosing it, its fit check and its fingerprint read the checkpoint's
info (checkpoint_info.py) without torch, so a text search over a cached library never imports it. On the CPU
it then runs in onnxruntime: its music encoder is exported once to ONNX, cached under the checkpoint's sha-256
(onnx_cache.py), so a fresh library's window vectors are built without importing torch (~2-3 s of a cold
app's first search); torch runs it on a GPU, and once per machine for the export.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..encoders.onnx_cache import cache_root, cached_export, cpu_session, use_onnxruntime
from ..errors import WeightsUnavailableError
from ..library.features import WindowTable, feature_columns
from ..library.windows import CONTEXT_OFFSETS, context_rows
from ..settings import get_settings
from .checkpoint_info import CheckpointMismatchError, check_features, checkpoint_info

BATCH = 512
EXPORT_VERSION = "2"  # bump when the exported tower graph changes without the checkpoint changing
SEGMENTS = len(CONTEXT_OFFSETS)  # the longest in-context sequence: the exported graph's fixed length


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
    """encode_music(feats [B, T, F] float32, mask [B, T] bool) -> [B, dim] numpy, over padded batches of row
    sequences -> one [dim] row per sequence."""
    out = []
    for start in range(0, len(sequences), BATCH):
        chunk = sequences[start:start + BATCH]
        t = max(len(s) for s in chunk)
        feats = np.zeros((len(chunk), t, features.shape[1]), np.float32)
        mask = np.zeros((len(chunk), t), bool)
        for i, rows in enumerate(chunk):
            feats[i, : len(rows)] = features[rows]
            mask[i, : len(rows)] = True
        out.append(np.asarray(encode_music(feats, mask), np.float32))
    return np.concatenate(out) if out else np.zeros((0, dim), np.float32)


def torch_encoder(encode_music):
    """A torch module's encode_music(feats, mask) as embed_in_context's numpy-in, numpy-out function."""
    import torch

    def encode(feats: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return encode_music(torch.from_numpy(feats), torch.from_numpy(mask)).numpy()
    return encode


def _music_encoder_module(model):
    """The model's encode_music as a module with two inputs (feats, mask), for the ONNX export."""
    import torch

    class MusicEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, feats, mask):
            return self.model.encode_music(feats, mask)

    return MusicEncoder()


def export_tower_onnx(model, target: Path) -> Path:
    """The tower's music encoder ((feats [B, T, F], mask [B, T] bool) -> [B, D]) as ONNX at `target`, for
    T = SEGMENTS: the tracer fixes the attention's sequence length, so shorter inputs are padded to it (padded
    positions are masked out of attention and pooling, so the output is the same)."""
    def export(staging: str) -> None:
        import contextlib
        import io
        import warnings

        import torch

        feats = torch.zeros(2, SEGMENTS, model.music_dim)
        mask = torch.ones(2, SEGMENTS, dtype=torch.bool)
        mask[1, 1:] = False  # padded, so masking is traced
        axes = {"feats": {0: "batch"}, "mask": {0: "batch"}, "music": {0: "batch"}}
        # With grad enabled the encoder layers take their plain path (the eval fast path has no ONNX form).
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on shape checks that hold for every input here
            torch.onnx.export(_music_encoder_module(model).eval(), (feats, mask), staging,
                              input_names=["feats", "mask"], output_names=["music"], dynamic_axes=axes,
                              opset_version=17, dynamo=False)
    return cached_export(target, export)


class MusicTower:
    def __init__(self, source: Path, info: dict, expect: dict):
        self.source, self.config, self._expect = source, info["config"], expect
        self._model, self._encode, self.runtime = None, None, None
        self._sha = info["sha256"]
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

    def onnx_path(self) -> Path:
        return cache_root("tower_onnx") / f"tower-{self._sha[:16]}-v{EXPORT_VERSION}.onnx"

    @property
    def encode_music(self):
        """embed_in_context's encoder: onnxruntime on the CPU (exported from torch once), torch on a GPU."""
        if self._encode is None:
            from ..encoders.device import pick_device

            if use_onnxruntime("auto", pick_device(get_settings().device)):
                path = self.onnx_path()
                if not path.is_file():
                    export_tower_onnx(self.model, path)
                session = cpu_session(path, get_settings().query_threads)

                def encode(feats: np.ndarray, mask: np.ndarray) -> np.ndarray:
                    pad = SEGMENTS - feats.shape[1]
                    if pad > 0:
                        feats = np.pad(feats, ((0, 0), (0, pad), (0, 0)))
                        mask = np.pad(mask, ((0, 0), (0, pad)))
                    return session.run(None, {"feats": feats, "mask": mask})[0]
                self._encode, self.runtime = encode, "onnxruntime"
            else:
                self._encode = torch_encoder(self.model.encode_music)
                self.runtime = "torch"
        return self._encode

    def _embed_sequences(self, features: np.ndarray, sequences: list[list[int]]) -> np.ndarray:
        return embed_in_context(self.encode_music, features, sequences, int(self.config["features"]["text_dim"]))

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
