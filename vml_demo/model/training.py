"""One seeded, resumable contrastive training loop for both models (VimlModel, MusicTextModel).

A model plugs in with four methods: `prepare(train_data)` (fit input statistics), `training_loss(batch)
-> (loss, stats)`, `evaluation_views(batch) -> {name: (query_emb, target_emb)}` and a `config` dict.
Data comes from a `PairedFeatures` (below), which pads variable-length sequences into batches with
masks and samples one of several text embeddings per example per epoch.

Determinism: the batch order and text choice of epoch e depend only on (seed, e); dropout draws from
torch's global RNG, whose state (with numpy's and Python's) is stored in each "last" checkpoint, so a
run resumed from it continues exactly as the uninterrupted run would.
"""
from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..encoders.device import pick_device
from .metrics import pooled_metrics_from_similarity
from .checkpoint import load_train_state, save_checkpoint

log = logging.getLogger(__name__)

DEFAULT_TRAIN = {"epochs": 10, "batch_size": 128, "lr": 5e-4, "weight_decay": 0.01, "warmup_frac": 0.05,
                 "grad_clip": 1.0, "seed": 0, "eval_every": 1, "select_metric": None, "val_pool_size": None,
                 "device": "auto", "progress": True}


class PairedFeatures:
    """In-memory paired examples that yield padded dict batches of torch tensors.

    fields: name -> one value per example.
      "<x>_feats": a [T_i, F] sequence (or [F], one segment) per example; batches get "<x>_feats"
                   [B, T, F] zero-padded to the longest in the batch and "<x>_mask" [B, T] bool.
      names in `alternative_keys` (default "text_emb"): a [D] vector or [n_i, D] alternatives per
                   example (e.g. several descriptions of one track); one is chosen per epoch.
      anything else: a scalar or fixed-size vector per example, stacked. "target_id" is the example's
                   source (video or track): examples sharing it are not each other's negatives
                   (multi_positive) and form one group in evaluation.
    pick: "random" (training) or "first" (deterministic evaluation) among alternatives.
    mix: {target: (source, p)}, e.g. {"text_emb": ("real_text_emb", 0.5)}: when picking at random, each
      example's target is drawn from its `source` alternatives instead with probability p (examples with
      none keep the target), so about p of every batch comes from the other text source, as MuLan mixes
      its sources per batch. A source may have zero alternatives for an example and is not batched itself.
    """

    def __init__(self, fields: dict, alternative_keys=("text_emb",), pick: str = "random",
                 mix: dict[str, tuple[str, float]] | None = None):
        if pick not in ("random", "first"):
            raise ValueError("pick must be 'random' or 'first'")
        sizes = {k: len(v) for k, v in fields.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"fields differ in length: {sizes}")
        self.n = next(iter(sizes.values()))
        self.pick = pick
        self.mix = dict(mix or {})
        sources = {source for source, _ in self.mix.values()}
        self.sequences, self.alternatives, self.plain, self.mix_sources = {}, {}, {}, {}
        for key, values in fields.items():
            if key.endswith("_feats"):
                self.sequences[key] = _pad([_as_2d(v) for v in values])
            elif key in sources:
                self.mix_sources[key] = _pad([_as_2d(v) for v in values], allow_empty=True)
            elif key in alternative_keys:
                self.alternatives[key] = _pad([_as_2d(v) for v in values])
            else:
                self.plain[key] = torch.as_tensor(np.asarray(values))

    def __len__(self) -> int:
        return self.n

    def subset(self, indices) -> PairedFeatures:
        out = PairedFeatures.__new__(PairedFeatures)
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        out.n, out.pick, out.mix = len(idx), self.pick, self.mix
        out.sequences = {k: (v[idx], n[idx]) for k, (v, n) in self.sequences.items()}
        out.alternatives = {k: (v[idx], n[idx]) for k, (v, n) in self.alternatives.items()}
        out.mix_sources = {k: (v[idx], n[idx]) for k, (v, n) in self.mix_sources.items()}
        out.plain = {k: v[idx] for k, v in self.plain.items()}
        return out

    def with_pick(self, pick: str) -> PairedFeatures:
        out = self.subset(torch.arange(self.n))
        out.pick = pick
        return out

    def valid_rows(self, key: str) -> torch.Tensor:
        """Every real segment / alternative row of a field, [n_rows, F] (for input statistics)."""
        values, counts = self.sequences.get(key) or self.alternatives[key]
        valid = torch.arange(values.shape[1]).unsqueeze(0) < counts.unsqueeze(1)
        return values[valid]

    def batches(self, batch_size: int, epoch: int = 0, seed: int = 0, shuffle: bool = False,
                drop_last: bool = False) -> Iterator[dict]:
        gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(self.n, generator=gen) if shuffle else torch.arange(self.n)
        choice_u = torch.rand(self.n, generator=gen)  # drawn whether used or not: same stream either way
        mix_u = torch.rand(self.n, generator=gen) if self.mix else None  # after choice_u: unmixed runs unchanged
        stop = self.n - self.n % batch_size if drop_last and self.n >= batch_size else self.n
        for start in range(0, stop, batch_size):
            yield self._batch(order[start:start + batch_size], choice_u, mix_u)

    def _batch(self, idx: torch.Tensor, choice_u: torch.Tensor, mix_u: torch.Tensor | None = None) -> dict:
        batch = {}
        for key, (values, lengths) in self.sequences.items():
            lens = lengths[idx]
            t = int(lens.max())
            batch[key] = values[idx, :t]
            batch[key.replace("_feats", "_mask")] = torch.arange(t).unsqueeze(0) < lens.unsqueeze(1)
        for key, (values, counts) in self.alternatives.items():
            n_alt = counts[idx]
            which = torch.zeros_like(n_alt) if self.pick == "first" else (choice_u[idx] * n_alt).long().clamp_max(n_alt - 1)
            batch[key] = values[idx, which]
        if self.pick == "random" and mix_u is not None:
            for target, (source, p) in self.mix.items():
                values, counts = self.mix_sources[source]
                n_alt = counts[idx]
                use = (mix_u[idx] < p) & (n_alt > 0)
                which = torch.minimum((choice_u[idx] * n_alt).long(), (n_alt - 1).clamp_min(0))
                batch[target] = torch.where(use.unsqueeze(1), values[idx, which], batch[target])
        for key, values in self.plain.items():
            batch[key] = values[idx]
        return batch


def _as_2d(value) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(value), dtype=torch.float32)
    return t.unsqueeze(0) if t.dim() == 1 else t


def _pad(rows: list[torch.Tensor], allow_empty: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([r.shape[0] for r in rows])
    if int(lengths.min()) < 1 and not allow_empty:
        raise ValueError("every example needs at least one segment")
    width = max(r.shape[1] for r in rows)
    out = torch.zeros(len(rows), max(1, int(lengths.max())), width)
    for i, r in enumerate(rows):
        out[i, : r.shape[0]] = r
    return out, lengths


# --- evaluation ------------------------------------------------------------------------------------
def _to_device(batch: dict, device) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


@torch.no_grad()
def embed_views(model, data: PairedFeatures, batch_size: int = 256, device="cpu") -> dict[str, tuple]:
    """{view: (query [N, d], target [N, d])} for the whole data set, in eval mode, on the CPU."""
    was_training = model.training
    model.eval()
    parts: dict[str, list] = {}
    for batch in data.batches(batch_size):
        for name, (q, t) in model.evaluation_views(_to_device(batch, device)).items():
            parts.setdefault(name, []).append((q.cpu(), t.cpu()))
    model.train(was_training)
    return {name: (torch.cat([q for q, _ in p]), torch.cat([t for _, t in p])) for name, p in parts.items()}


def evaluate_model(model, data: PairedFeatures, pool_size: int | None = None, n_pools: int = 10, seed: int = 0,
                   batch_size: int = 256, device="cpu") -> dict[str, float]:
    """Retrieval metrics per view, keyed "<view>/<metric>" (e.g. "video+text/R@1").

    Examples sharing a "target_id" (clips or windows of one source) are one group: a query's hit is any of
    its source's candidates, the others are not counted as misses (model/metrics.py, grouped ranks).
    """
    metrics = {}
    groups = data.plain["target_id"].numpy() if "target_id" in data.plain else None
    for name, (q, t) in embed_views(model, data, batch_size, device).items():
        for key, value in pooled_metrics_from_similarity(q @ t.t(), pool_size, n_pools, seed, groups=groups).items():
            if key not in ("pool_size", "n_pools"):
                metrics[f"{name}/{key}"] = value
    return metrics


# --- training --------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    model: torch.nn.Module  # the final weights (the best ones are in best_dir when out_dir was given)
    history: list[dict] = field(default_factory=list)
    best_metrics: dict = field(default_factory=dict)
    best_epoch: int = -1
    best_dir: Path | None = None
    last_dir: Path | None = None


def cosine_with_warmup(total_steps: int, warmup_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _rng_state() -> dict:
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
            "python": [py_state[0], list(py_state[1]), py_state[2]]}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def _selection_score(metrics: dict, select_metric: str | None) -> float:
    if select_metric is None:
        first_view = next(iter(metrics)).split("/")[0]
        select_metric = f"{first_view}/rsum"
    if select_metric not in metrics:
        raise ValueError(f"select_metric {select_metric!r} not among the validation metrics {sorted(metrics)}")
    value = metrics[select_metric]
    return -value if select_metric.endswith("rank") else value  # lower ranks are better


def train_contrastive(model, train_data: PairedFeatures, val_data: PairedFeatures | None = None,
                      train_config: dict | None = None, out_dir: str | Path | None = None,
                      resume_from: str | Path | None = None, model_card: dict | None = None,
                      stop_after_epoch: int | None = None) -> TrainResult:
    """Train `model` with AdamW + warmup/cosine LR; validate, keep best/last checkpoints under out_dir.

    train_config: the "train" section (default: model.config["train"]); missing keys take DEFAULT_TRAIN.
    resume_from: a "last" checkpoint folder of an earlier run with the same settings.
    stop_after_epoch: end early after that epoch (0-based), keeping the full schedule (interruptions).
    """
    cfg = {**DEFAULT_TRAIN, **(train_config if train_config is not None else model.config.get("train", {}))}
    model.config = {**model.config, "train": cfg}
    device = pick_device(None if cfg["device"] == "auto" else cfg["device"])
    torch.manual_seed(cfg["seed"])
    np.random.seed(cfg["seed"] % 2**32)
    random.seed(cfg["seed"])
    if len(train_data) < 2:
        raise ValueError("contrastive training needs at least 2 training examples")
    batch_size = min(int(cfg["batch_size"]), len(train_data))
    steps_per_epoch = len(train_data) // batch_size
    total_steps = steps_per_epoch * int(cfg["epochs"])
    state = load_train_state(resume_from) if resume_from else None
    if state is None:
        model.prepare(train_data)
    else:
        model.load_state_dict(state["model"])
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, cosine_with_warmup(total_steps, max(1, int(cfg["warmup_frac"] * total_steps))))
    result = TrainResult(model=model)
    best_score, start_epoch = -math.inf, 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        start_epoch, best_score = state["epoch"] + 1, state["best_score"]
        result.history, result.best_metrics, result.best_epoch = state["history"], state["best_metrics"], state["best_epoch"]
    out_dir = Path(out_dir) if out_dir else None
    if state is not None and out_dir and result.best_epoch >= 0 and (out_dir / "best").is_dir():
        result.best_dir = out_dir / "best"  # saved before the interruption

    last_epoch = int(cfg["epochs"]) - 1 if stop_after_epoch is None else min(stop_after_epoch, int(cfg["epochs"]) - 1)
    progress = _progress(range(start_epoch, last_epoch + 1), enabled=bool(cfg["progress"]))
    for epoch in progress:
        model.train()
        losses = []
        for batch in train_data.batches(batch_size, epoch, int(cfg["seed"]), shuffle=True, drop_last=True):
            loss, _ = model.training_loss(_to_device(batch, device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg["grad_clip"]:
                torch.nn.utils.clip_grad_norm_(model.parameters(), float(cfg["grad_clip"]))
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
        record = {"epoch": epoch, "loss": float(np.mean(losses)), "lr": scheduler.get_last_lr()[0]}
        is_final = epoch == int(cfg["epochs"]) - 1
        if val_data is not None and ((epoch + 1) % int(cfg["eval_every"]) == 0 or is_final):
            metrics = evaluate_model(model, val_data, cfg["val_pool_size"], seed=int(cfg["seed"]), device=device)
            record.update(metrics)
            score = _selection_score(metrics, cfg["select_metric"])
            if score > best_score:
                best_score, result.best_metrics, result.best_epoch = score, metrics, epoch
                if out_dir:
                    result.best_dir = save_checkpoint(out_dir / "best", model, model.config,
                                                      {"epoch": epoch, "metrics": metrics}, model_card)
        result.history.append(record)
        log.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4g}" for k, v in record.items() if k != "epoch"))
        if hasattr(progress, "set_postfix"):
            progress.set_postfix(loss=f"{record['loss']:.3f}")
        if out_dir:
            train_state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                           "scheduler": scheduler.state_dict(), "rng": _rng_state(), "epoch": epoch,
                           "best_score": best_score, "best_metrics": result.best_metrics,
                           "best_epoch": result.best_epoch, "history": result.history}
            result.last_dir = save_checkpoint(out_dir / "last", model, model.config,
                                              {"epoch": epoch, "metrics": record}, model_card, train_state)
    if out_dir and val_data is None:
        result.best_dir = result.last_dir  # nothing to select on: the final weights are the result
    return result


def _progress(epochs, enabled: bool):
    if not enabled:
        return epochs
    from tqdm.auto import tqdm

    return tqdm(epochs, desc="training", unit="epoch")
