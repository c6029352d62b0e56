"""Video search through a trained ViML checkpoint (the learned tri-modal path).

The checkpoint's music tower embeds every library window (in its +-10 s context, as the recipe trains on
clips of consecutive segments); a query is the fused embedding of the video's segment features and the
text embedding (or the empty-string embedding for a video-only query, as the model was trained with text
dropout). The query takes all of the video's segments up to the model's max_video_segments: the recipe
trains on clips of every length up to there (train/viml.py). Used when a checkpoint fits the active
encoders: its video encoder, text encoder and music feature layout must all match, else the zero-shot path
runs and says why.

The video-text weight w blends three window scores (`blend_weights`): w = 1 the ViML video-only query,
w = 0.5 ViML's fused video+text query (the model's own fusion, as trained), w -> 0 the music-text space's
text similarity (what the text path ranks by, continuous with w = 0); in between linearly. Negated phrases
are scored in the music-text space (ViML has no text-only music space to score them in) and penalise the
same windows exactly as on the text path. Both fit one Ranker: its window vectors are the ViML embedding
next to the music-text one, and the query vector carries the blend weights.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .. import config
from ..library.features import WindowTable
from ..settings import get_settings
from .ranking import Ranker


def default_viml_checkpoint(profile) -> Path:
    chosen = get_settings().viml_checkpoint
    return chosen if chosen is not None else config.CHECKPOINTS_DIR / f"viml_{profile.video_encoder}_{profile.text_encoder}"


def blend_weights(video_weight: float, has_text: bool) -> tuple[float, float, float]:
    """(video-only, fused video+text, text-space) score weights for a video-text weight in (0, 1]."""
    if not has_text or video_weight >= 1.0:
        return 1.0, 0.0, 0.0
    if video_weight >= 0.5:
        t = (video_weight - 0.5) / 0.5
        return t, 1.0 - t, 0.0
    t = video_weight / 0.5
    return 0.0, t, 1.0 - t


def describe_blend(weights: tuple[float, float, float]) -> str:
    names = ("ViML video-only", "ViML video+text", "text similarity")
    return "score = " + " + ".join(f"{w:.2f} x {n}" for w, n in zip(weights, names) if w > 0)


class VimlPath:
    def __init__(self, checkpoint: Path, table: WindowTable, profile, text_encoder, text_window_emb: np.ndarray):
        """text_window_emb: the music-text space's vectors of the same windows (for text and negations)."""
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
        self.ranker = Ranker(np.concatenate([self.window_emb, text_window_emb], axis=1).astype(np.float32),
                             np.array(sorted(slices), np.int64), slices, neg_emb=text_window_emb)

    def describe(self) -> str:
        return f"ViML checkpoint {self.source} (fusion {self.config['model']['fusion']})"

    def _embed_library(self, table: WindowTable) -> np.ndarray:
        from ..model.music_text_inference import embed_in_context, table_sequences, torch_encoder

        return embed_in_context(torch_encoder(self.model.encode_music), table.features, table_sequences(table),
                                int(self.config["model"]["d_model"]))

    def query_vector(self, video_only: np.ndarray, fused: np.ndarray | None, text_vec: np.ndarray | None,
                     video_weight: float) -> tuple[np.ndarray, tuple[float, float, float]]:
        """The Ranker's query for the blend of `video_weight` (see the module docstring), and its weights."""
        a, b, c = blend_weights(video_weight, fused is not None and text_vec is not None)
        viml_part = a * video_only + (b * fused if b else 0.0)
        text_part = c * text_vec if c else np.zeros(self.ranker.neg_emb.shape[1], np.float32)
        return np.concatenate([viml_part, text_part]).astype(np.float32), (a, b, c)

    def encode_query(self, video: str | Path, text: str, report=lambda f, d: None
                     ) -> tuple[np.ndarray, np.ndarray | None, dict]:
        """(video-only query [d], fused video+text query [d] or None without text, timings)."""
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
        import torch  # loaded with the checkpoint already; imported here so a text-only process never loads it

        with torch.no_grad():
            video_feats = torch.from_numpy(feats[None])
            video_only = self.model.encode_query(video_feats, None, None)[0].numpy()
            fused = None
            if text:
                text_emb = torch.from_numpy(self.text_encoder.encode([text]))
                fused = self.model.encode_query(video_feats, None, text_emb)[0].numpy()
        timings["viml_query"] = time.perf_counter() - t
        return video_only, fused, timings
