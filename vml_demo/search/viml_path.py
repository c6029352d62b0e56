"""Video search through a trained ViML checkpoint (the learned tri-modal path).

The checkpoint's music tower embeds every library window (in its +-10 s context, as the recipe trains on
clips of consecutive segments); a query is the fused embedding of the video's segment features and the
text embedding (or the empty-string embedding for a video-only query, as the model was trained with text
dropout). Used when a checkpoint fits the active encoders: its video encoder, text encoder and music
feature layout must all match, else the zero-shot path runs and says why.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from .. import config
from ..library.features import WindowTable
from ..model.music_text_inference import embed_in_context, table_sequences
from ..settings import get_settings
from .ranking import Ranker


def default_viml_checkpoint(profile) -> Path:
    chosen = get_settings().viml_checkpoint
    return chosen if chosen is not None else config.CHECKPOINTS_DIR / f"viml_{profile.video_encoder}_{profile.text_encoder}"


class VimlPath:
    def __init__(self, checkpoint: Path, table: WindowTable, profile, text_encoder):
        from ..model.checkpoint import CheckpointMismatchError, load_checkpoint
        from ..model.music_text_inference import resolve_checkpoint_dir

        source = resolve_checkpoint_dir(checkpoint)
        expect = {"video_encoder": profile.video_encoder, "text_encoder": text_encoder.name,
                  "music_dim": int(table.features.shape[1])}
        self.model, self.config, _ = load_checkpoint(source, expect=expect)
        if self.config["model"]["kind"] != "viml":
            raise CheckpointMismatchError(f"{source} holds a {self.config['model']['kind']} model, not ViML")
        self.source = source
        self.video_encoder = profile.video_encoder
        self.text_encoder = text_encoder
        self.window_emb = self._embed_library(table)
        slices = table.track_slices()
        self.ranker = Ranker(self.window_emb, np.array(sorted(slices), np.int64), slices)

    def describe(self) -> str:
        return f"ViML checkpoint {self.source} (fusion {self.config['model']['fusion']})"

    def _embed_library(self, table: WindowTable) -> np.ndarray:
        return embed_in_context(self.model.encode_music, table.features, table_sequences(table),
                                int(self.config["model"]["d_model"]))

    @torch.no_grad()
    def encode_query(self, video: str | Path, text: str, report=lambda f, d: None) -> tuple[np.ndarray, dict]:
        from ..encoders.video_features import segment_features
        from .video_query import open_query_video

        timings: dict[str, float] = {}
        t = time.perf_counter()
        info = open_query_video(video)
        report(0.1, "decoding and encoding video segments")
        _, feats = segment_features(video, self.video_encoder, info=info, max_s=get_settings().max_video_s)
        feats = feats[: int(self.config["model"]["max_video_segments"])]
        timings["video_features"] = time.perf_counter() - t
        t = time.perf_counter()
        text_emb = torch.from_numpy(self.text_encoder.encode([text])) if text else None
        query = self.model.encode_query(torch.from_numpy(feats[None]), None, text_emb)[0].numpy()
        timings["viml_query"] = time.perf_counter() - t
        return query, timings
