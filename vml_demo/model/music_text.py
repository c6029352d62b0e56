"""MuLan-style music tower (Huang et al., ISMIR 2022) into a frozen text encoder's space.

A SequenceTower maps a track's sequence of per-window music features (standardised with training-set
statistics stored in the state dict, so raw encoder outputs of any scale work) straight to the text
encoder's width (384 MiniLM, 512 CLIP text). Text embeddings come precomputed from the frozen text
encoder; training aligns the two with symmetric InfoNCE, one description sampled per track per epoch.
Cosine between `encode_music` output and a normalised text embedding then ranks tracks for a text
query, and scores zero-shot tags ("<tag> music") for a track.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .loss import positive_mask_from_ids, positive_mask_from_rows, symmetric_info_nce
from .towers import SequenceTower, feature_stats
from .viml import _required_dim


class MusicTextModel(nn.Module):
    """MusicTextModel(config): config is the dict from factory.load_config("music_text_default", ...)."""

    kind = "music_text"

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        m = config["model"]
        self.music_dim = _required_dim(config, "music_dim")
        self.text_dim = _required_dim(config, "text_dim")
        self.music_tower = SequenceTower(self.music_dim, d_model=int(m["d_model"]), n_layers=int(m["n_layers"]),
                                         n_heads=int(m["n_heads"]), dropout=float(m["dropout"]),
                                         max_len=int(m["max_music_segments"]), out_dim=self.text_dim,
                                         ff_mult=int(m.get("ff_mult", 4)))
        self.temperature = float(m["temperature"])
        self.multi_positive = bool(m.get("multi_positive", True))

    def prepare(self, train_data) -> None:
        """Fit the input standardisation on the training tracks' windows (before training, not on resume)."""
        self.music_tower.normalizer.set_stats(*feature_stats(train_data.valid_rows("music_feats")))

    def encode_music(self, music_feats: torch.Tensor, music_mask: torch.Tensor | None = None) -> torch.Tensor:
        """[B, T, music_dim] or [B, music_dim] (one window each) -> [B, text_dim], L2-normalised."""
        return self.music_tower(torch.as_tensor(music_feats, dtype=torch.float32), music_mask).pooled

    @staticmethod
    def encode_text(text_emb: torch.Tensor) -> torch.Tensor:
        """The frozen text encoder's embeddings, L2-normalised (no parameters on the text side)."""
        return F.normalize(torch.as_tensor(text_emb, dtype=torch.float32), dim=-1)

    def score(self, music_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """Cosine similarities [n_music, n_text]; music_emb from encode_music."""
        return music_emb @ self.encode_text(text_emb).t()

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(music [B, text_dim], text [B, text_dim]), both L2-normalised."""
        return self.encode_music(batch["music_feats"], batch.get("music_mask")), self.encode_text(batch["text_emb"])

    def training_loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        music, text = self(batch)
        positives = None
        if self.multi_positive:
            positives = positive_mask_from_rows(batch["text_emb"])
            if "target_id" in batch:
                positives = positives | positive_mask_from_ids(batch["target_id"]).to(positives.device)
        loss = symmetric_info_nce(text, music, self.temperature, positives)
        return loss, {"loss": float(loss.detach())}

    @torch.no_grad()
    def evaluation_views(self, batch: dict) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        music, text = self(batch)
        return {"text->music": (text, music), "music->text": (music, text)}
