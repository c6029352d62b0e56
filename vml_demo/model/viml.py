"""ViML's tri-modal model: a video (+ optional text) query embedding matched to music by cosine similarity.

Three towers (video segments, text, music windows; see towers.py) map frozen base features into one
d-dimensional space, and a fusion module f_vt (fusion.py) merges the video and text embeddings into the
query. Training uses symmetric InfoNCE between query and music (loss.py).

Missing modalities, all decided here:
- No text (the usual, video-only query): the text input is the text encoder's embedding of the empty
  string, set with `set_empty_text` (config empty_text: empty_string), or a zero vector (empty_text:
  zeros). Training replaces the text with that same vector with probability `text_dropout` per example
  (paper: 0.8), which is what keeps video-only queries good.
- No video (a text-only query): the video embedding is a learned "no-video" token. It is trained by
  replacing the video with that token with probability `video_dropout` per example (never together with
  text dropout, so every example keeps one real input). The paper has no text-only queries; with
  video_dropout 0 the token stays untrained and text-only queries are not meaningful.
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import QueryError
from .fusion import make_fusion
from .loss import positive_mask_from_ids, symmetric_info_nce
from .towers import SequenceTower, TowerOutput, as_sequence

log = logging.getLogger(__name__)

EMPTY_TEXT_MODES = ("empty_string", "zeros")


def _required_dim(config: dict, key: str) -> int:
    value = config.get("features", {}).get(key)
    if not value:
        raise ValueError(f"config features.{key} must be set to the width of the input features")
    return int(value)


class VimlModel(nn.Module):
    """VimlModel(config): config is the dict from factory.load_config("viml_default", ...)."""

    kind = "viml"

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        m = config["model"]
        self.video_dim = _required_dim(config, "video_dim")
        self.text_dim = _required_dim(config, "text_dim")
        self.music_dim = _required_dim(config, "music_dim")
        d = int(m["d_model"])
        tower_args = dict(d_model=d, n_layers=int(m["n_layers"]), n_heads=int(m["n_heads"]),
                          dropout=float(m["dropout"]), ff_mult=int(m.get("ff_mult", 4)))
        self.video_tower = SequenceTower(self.video_dim, max_len=int(m["max_video_segments"]), **tower_args)
        # Text is a single token (one description embedding), as in the paper.
        self.text_tower = SequenceTower(self.text_dim, max_len=1, **tower_args)
        self.music_tower = SequenceTower(self.music_dim, max_len=int(m["max_music_segments"]), **tower_args)
        self.fusion = make_fusion(m["fusion"], d, n_heads=int(m["n_heads"]), dropout=float(m["dropout"]))
        self.no_video = nn.Parameter(torch.randn(d) * 0.02)
        self.temperature = float(m["temperature"])
        self.text_dropout = float(m["text_dropout"])
        self.video_dropout = float(m.get("video_dropout", 0.0))
        self.multi_positive = bool(m.get("multi_positive", True))
        self.empty_text_mode = m.get("empty_text", "empty_string")
        if self.empty_text_mode not in EMPTY_TEXT_MODES:
            raise ValueError(f"empty_text must be one of {EMPTY_TEXT_MODES}, got {self.empty_text_mode!r}")
        self.register_buffer("empty_text", torch.zeros(self.text_dim))
        self.register_buffer("empty_text_is_set", torch.tensor(self.empty_text_mode == "zeros"))

    # --- setup -------------------------------------------------------------------------------------
    def set_empty_text(self, embedding) -> None:
        """Use the active text encoder's embedding of "" as the stand-in for missing text."""
        if self.empty_text_mode == "zeros":
            log.warning("empty_text is 'zeros' in this config: the given empty-string embedding is ignored")
            return
        vec = torch.as_tensor(embedding, dtype=torch.float32).reshape(-1)
        if vec.numel() != self.text_dim:
            raise ValueError(f"empty-text embedding has {vec.numel()} dims, the model's text input has {self.text_dim}")
        self.empty_text.copy_(vec)
        self.empty_text_is_set.fill_(True)

    def prepare(self, train_data) -> None:
        """Fit the towers' input standardisation on the training data (before training, not on resume)."""
        from .towers import feature_stats

        for tower, key in ((self.video_tower, "video_feats"), (self.text_tower, "text_emb"),
                           (self.music_tower, "music_feats")):
            tower.normalizer.set_stats(*feature_stats(train_data.valid_rows(key)))
        if not bool(self.empty_text_is_set):
            log.warning("no empty-string text embedding was set (set_empty_text): missing text is a zero vector")

    # --- encoders ----------------------------------------------------------------------------------
    def _text_input(self, text_emb, batch_size: int, device) -> torch.Tensor:
        if text_emb is None:
            return self.empty_text.expand(batch_size, -1)
        text_emb = torch.as_tensor(text_emb, dtype=torch.float32, device=device)
        return text_emb.expand(batch_size, -1) if text_emb.dim() == 1 else text_emb

    def _no_video_output(self, batch_size: int) -> TowerOutput:
        token = F.normalize(self.no_video, dim=-1)
        return TowerOutput(token.expand(batch_size, -1), token.expand(batch_size, 1, -1),
                           torch.ones(batch_size, 1, dtype=torch.bool, device=token.device))

    def encode_text(self, text_emb: torch.Tensor) -> torch.Tensor:
        """Text tower alone: [B, text_dim] -> [B, d] (not a query; see encode_query with video=None)."""
        return self.text_tower(torch.as_tensor(text_emb, dtype=torch.float32)).pooled

    def encode_video(self, video_feats: torch.Tensor, video_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Video-only query (text = the empty text): [B, T, video_dim] -> [B, d]."""
        return self.encode_query(video_feats, video_mask, None)

    def encode_query(self, video_feats: torch.Tensor | None, video_mask: torch.Tensor | None = None,
                     text_emb: torch.Tensor | None = None) -> torch.Tensor:
        """Fused query [B, d]. text_emb None -> video-only; video_feats None -> text-only (no-video token)."""
        if video_feats is None and text_emb is None:
            raise QueryError("a query needs a video, a text, or both")
        if video_feats is None:
            text = self.encode_text(torch.as_tensor(text_emb, dtype=torch.float32).reshape(-1, self.text_dim))
            return self.fusion(self._no_video_output(text.shape[0]), text)
        video_feats, video_mask = as_sequence(torch.as_tensor(video_feats, dtype=torch.float32), video_mask)
        video = self.video_tower(video_feats, video_mask)
        text = self.encode_text(self._text_input(text_emb, video_feats.shape[0], video_feats.device))
        return self.fusion(video, text)

    def encode_music(self, music_feats: torch.Tensor, music_mask: torch.Tensor | None = None) -> torch.Tensor:
        """[B, T, music_dim] (or [B, music_dim]) -> [B, d], L2-normalised."""
        return self.music_tower(torch.as_tensor(music_feats, dtype=torch.float32), music_mask).pooled

    # --- training ----------------------------------------------------------------------------------
    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(query [B, d], music [B, d]). In training mode applies text dropout and video dropout."""
        video_feats, video_mask = as_sequence(batch["video_feats"].float(), batch.get("video_mask"))
        n = video_feats.shape[0]
        text_in = batch["text_emb"].float()
        video = self.video_tower(video_feats, video_mask)
        if self.training and (self.text_dropout > 0 or self.video_dropout > 0):
            drop_text = torch.rand(n, device=text_in.device) < self.text_dropout
            text_in = torch.where(drop_text.unsqueeze(-1), self.empty_text.expand(n, -1), text_in)
            drop_video = (torch.rand(n, device=text_in.device) < self.video_dropout) & ~drop_text
            if bool(drop_video.any()):
                video = self._replace_video(video, drop_video)
        query = self.fusion(video, self.encode_text(text_in))
        music = self.encode_music(batch["music_feats"], batch.get("music_mask"))
        return query, music

    def _replace_video(self, video: TowerOutput, drop: torch.Tensor) -> TowerOutput:
        blank = self._no_video_output(drop.shape[0])
        pooled = torch.where(drop.unsqueeze(-1), blank.pooled, video.pooled)
        first_only = torch.zeros_like(video.mask)
        first_only[:, 0] = True
        mask = torch.where(drop.unsqueeze(-1), first_only, video.mask)
        tokens = video.tokens.clone()
        tokens[drop] = 0.0
        tokens[drop, 0] = blank.tokens[0, 0]
        return TowerOutput(pooled, tokens, mask)

    def training_loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        query, music = self(batch)
        positives = positive_mask_from_ids(batch["target_id"]) if self.multi_positive and "target_id" in batch else None
        loss = symmetric_info_nce(query, music, self.temperature, positives)
        return loss, {"loss": float(loss.detach())}

    @torch.no_grad()
    def evaluation_views(self, batch: dict) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Query/target embeddings to rank: video+text, video-only and text-only queries against music."""
        music = self.encode_music(batch["music_feats"], batch.get("music_mask"))
        views = {
            "video+text": self.encode_query(batch["video_feats"], batch.get("video_mask"), batch["text_emb"]),
            "video": self.encode_query(batch["video_feats"], batch.get("video_mask"), None),
        }
        if self.video_dropout > 0:
            views["text"] = self.encode_query(None, None, batch["text_emb"])
        return {name: (q, music) for name, q in views.items()}
