"""ViML evaluation on held-out music videos: the true music's rank among pools of N candidate clips,
for video-only and video+text queries (ViML's Table 1 layout), one row per checkpoint, view and pool.

Clips are those the recipe trains on (train/viml.py: every length up to the model's max_video_segments),
grouped by video: a query's hit is any clip of its own video's music, and the other clips of that video
(which overlap it) are not counted as misses."""
from __future__ import annotations

from pathlib import Path

from ..model.metrics import format_table


def viml_evaluation_rows(folder: Path, checkpoints: list[Path], pools: list[int | None],
                         cache_dir: Path | None = None, progress: bool = True) -> list[dict]:
    from ..encoders.text import load_text_encoder
    from ..model.checkpoint import load_checkpoint
    from ..model.music_text_inference import resolve_checkpoint_dir
    from ..model.training import evaluate_model
    from ..train.viml import load_items, to_paired

    rows = []
    data_cache: dict[tuple[str, str], object] = {}
    for ckpt in checkpoints:
        source = resolve_checkpoint_dir(ckpt)
        model, cfg, _ = load_checkpoint(source)
        feats = cfg["features"]
        max_segments = int(cfg["model"]["max_video_segments"])
        key = (feats["video_encoder"], feats["text_encoder"], max_segments)
        if key not in data_cache:
            items, _ = load_items(folder, feats["video_encoder"], ("data2text",), 1, 0, cache_dir, progress=progress)
            data_cache[key] = to_paired(items, load_text_encoder(feats["text_encoder"]), max_segments).with_pick("first")
        data = data_cache[key]
        for pool in pools:
            size = None if pool is None or pool >= len(data) else pool
            metrics = evaluate_model(model, data, pool_size=size, n_pools=10)
            for view in ("video", "video+text"):
                rows.append({
                    "checkpoint": ckpt.name, "fusion": cfg["model"]["fusion"],
                    "text drop": cfg["model"]["text_dropout"], "pool": size or len(data), "query": view,
                    **{m: metrics[f"{view}/{m}"] for m in ("R@1", "R@5", "R@10", "median_rank")},
                })
    return rows


def format_viml_rows(rows: list[dict], folder: Path) -> str:
    return format_table(rows, title=f"ViML retrieval on {folder} (R@k in %; clips grouped by video, so chance R@1 "
                                    "is about 100 x clips per video / pool)")


def run_viml_evaluation(folder: Path, checkpoints: list[Path], pools: list[int | None],
                        cache_dir: Path | None = None, progress: bool = True) -> str:
    return format_viml_rows(viml_evaluation_rows(folder, checkpoints, pools, cache_dir, progress), folder)
