"""all-MiniLM-L6-v2 for queries without sentence-transformers: its BERT exported once to ONNX (with the mean
pooling), run by onnxruntime on token ids from the `tokenizers` library.

This is what sentence-transformers' three modules for this model do (modules.json: Transformer with
max_seq_length 256, Pooling in mean mode, Normalize), without importing torch, transformers or scikit-learn:
a cold query process loads in a fraction of a second. Exporting needs torch + transformers, once per weight
file (the graph is cached under a digest of config.json and model.safetensors, onnx_cache.py).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from .base import l2_normalize
from .onnx_cache import cache_root, cached_export, cpu_session, weights_digest

EXPORT_VERSION = "1"  # bump when the exported graph changes without the weights changing
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def model_digest(model_dir: Path, cache_dir: Path | None = None) -> str:
    """Digest of the weights and config (onnx_cache.weights_digest: hashed once per file version)."""
    files = [Path(model_dir) / name for name in ("config.json", "model.safetensors")]
    return weights_digest(files, EXPORT_VERSION, cache_dir or cache_root("minilm_onnx"))


def export_minilm(model_dir: Path, cache_dir: Path | None = None) -> Path:
    """The ONNX file (token ids -> mean-pooled last hidden state [B, 384]) for the model in model_dir."""
    def export(staging: str) -> None:
        from ..compat import ensure_torchvision_importable

        ensure_torchvision_importable()  # transformers imports torchvision when it is installed
        import torch
        from transformers import AutoModel

        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # transformers 5 draws a "Loading weights" bar on stderr
        bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
        ids = torch.ones(2, 8, dtype=torch.int64)
        mask = ids.clone()
        mask[1, 5:] = 0  # a padded row, so no all-ones shortcut of the attention mask is traced
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on shape checks that hold for every input here
            torch.onnx.export(
                _MeanPooled(bert), (ids, mask, torch.zeros_like(ids)), staging, input_names=list(INPUTS),
                output_names=["pooled"],
                dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in INPUTS}, "pooled": {0: "batch"}},
                opset_version=17, dynamo=False,
            )

    return cached_export((cache_dir or cache_root("minilm_onnx")) / f"minilm-{model_digest(model_dir, cache_dir)}.onnx", export)


def _MeanPooled(bert):
    """BERT followed by sentence-transformers' mean pooling (padding masked out, count clamped at 1e-9)."""
    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    return MeanPooled()


class OrtMiniLM:
    """texts -> L2-normalised rows [N, 384], float32, as SentenceTransformer.encode(normalize_embeddings=True)."""

    def __init__(self, model_dir: Path, threads: int = 1, batch_size: int = 64, cache_dir: Path | None = None):
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        max_len = json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # tokenizer.json pads and truncates to a fixed 128; sentence-transformers pads to the longest, cuts at 256
        self.tokenizer.enable_truncation(max_length=max_len)
        pad_id = self.tokenizer.token_to_id("[PAD]")
        self.tokenizer.enable_padding(pad_id=pad_id, pad_token="[PAD]")
        self.batch_size = int(batch_size)
        path = export_minilm(model_dir, cache_dir)
        self.digest = path.stem.split("-", 1)[1]  # of the weights: names what this encoder computes
        self._session = cpu_session(path, threads)

    def __call__(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 384), np.float32)
        # Similar lengths together (as sentence-transformers does), so little of a batch is padding.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            encoded = self.tokenizer.encode_batch([texts[i] for i in rows])
            feed = {
                "input_ids": np.array([e.ids for e in encoded], np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], np.int64),
                "token_type_ids": np.array([e.type_ids for e in encoded], np.int64),
            }
            out[rows] = self._session.run(None, feed)[0]
        return l2_normalize(out)
