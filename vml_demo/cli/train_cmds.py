"""`train` and `evaluate`: thin entry points over the recipes in vml_demo/train and vml_demo/evaluation."""
from __future__ import annotations

import argparse
from pathlib import Path

from .. import config
from ..settings import get_settings

METHODS = ("tags", "data2text", "prompt2text")


def _methods(text: str) -> tuple[str, ...]:
    methods = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise argparse.ArgumentTypeError(f"methods must be among {', '.join(METHODS)}")
    return methods


def register(sub) -> None:
    train = sub.add_parser("train", help="train a model (music-text tower, or ViML on music videos)")
    tsub = train.add_subparsers(dest="model", metavar="MODEL", required=True)

    p = tsub.add_parser("music-text", help="MuLan-style music tower into the text space",
                        description="Train the music tower on library indexes with descriptions synthesised from "
                        "the taggers' output (ViML section 3.1). Seeded, resumable, GPU when present.")
    p.add_argument("--db", action="append", default=None,
                   help=f"library index to train on; repeat for several (default: {get_settings().db_dir})")
    p.add_argument("--out", default=None, help="output folder (default: checkpoints/music_text_<text encoder>)")
    p.add_argument("--text-encoder", default="minilm", choices=["minilm", "clip"], help="frozen text encoder")
    p.add_argument("--methods", type=_methods, default=METHODS, help="text synthesis methods, comma-separated")
    p.add_argument("--per-method", type=int, default=2, help="descriptions drawn per method per window")
    p.add_argument("--epochs", type=int, default=None, help="override the config's epochs")
    p.add_argument("--seed", type=int, default=None, help="override the config's seed")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set model.dropout=0.3 --set features.input_kinds=[scores]")
    p.set_defaults(func=cmd_train_music_text)

    p = tsub.add_parser("viml", help="ViML tri-modal model on a folder of music videos",
                        description="Each video's frames and its own soundtrack form training pairs; the soundtrack "
                        "is tagged and described by the text synthesis methods. Seeded, resumable, GPU when present.")
    p.add_argument("--videos", required=True, help="folder of music videos (with picture and sound)")
    p.add_argument("--out", required=True, help="output folder for checkpoints (best/, last/)")
    p.add_argument("--video-encoder", default="visual_descriptors", choices=["visual_descriptors", "clip_vit_b32"])
    p.add_argument("--text-encoder", default="minilm", choices=["minilm", "clip"])
    p.add_argument("--methods", type=_methods, default=METHODS, help="text synthesis methods, comma-separated")
    p.add_argument("--fusion", default=None, choices=["add", "linear", "mlp", "transformer1", "transformer2"])
    p.add_argument("--text-dropout", type=float, default=None, help="probability of replacing the text (paper 0.8)")
    p.add_argument("--epochs", type=int, default=None, help="override the config's epochs")
    p.add_argument("--cache", default=None, help="folder to cache per-video features (default: OUT/feature_cache)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set model.n_layers=1 --set train.lr=1e-3")
    p.set_defaults(func=cmd_train_viml)

    ev = sub.add_parser("evaluate", help="evaluate models and print tables")
    esub = ev.add_subparsers(dest="what", metavar="WHAT", required=True)
    p = esub.add_parser("music-text", help="text-to-music retrieval, zero-shot tagging, text triplets",
                        description="On the labelled test set: R@1/5/10, median rank and mAP of text-to-music "
                        "retrieval, macro ROC-AUC/PR-AUC of zero-shot tagging, and text triplet accuracy, for the "
                        "tag-bridge baseline and each checkpoint given.")
    p.add_argument("--testset", default=str(config.REPO_ROOT / "data" / "testset"), help="labelled test set folder")
    p.add_argument("--checkpoint", action="append", default=[], help="music-text checkpoint folder; repeatable")
    p.add_argument("--index-cache", default=None, help="where to keep the test set's index (default: a cache folder)")
    p.set_defaults(func=cmd_evaluate_music_text)

    p = esub.add_parser("viml", help="ViML retrieval on held-out music videos",
                        description="Recall@1/5/10 and median rank of the true music among pools of N candidates, "
                        "for video-only and video+text queries, for each checkpoint.")
    p.add_argument("--videos", required=True, help="folder of held-out music videos")
    p.add_argument("--checkpoint", action="append", required=True, help="ViML checkpoint folder; repeatable")
    p.add_argument("--pool", default="500,2000,all", help="pool sizes, comma-separated ('all' = every clip)")
    p.add_argument("--cache", default=None, help="folder to cache per-video features")
    p.set_defaults(func=cmd_evaluate_viml)


def _overrides(args, config_name: str, **model_keys) -> dict:
    """The CLI's overrides; a --set key the config `config_name` does not have is refused with the valid keys."""
    import yaml

    from ..errors import QueryError
    from ..model.factory import load_config, unknown_keys

    train = {k: v for k, v in (("epochs", args.epochs), ("seed", getattr(args, "seed", None))) if v is not None}
    model = {k: v for k, v in model_keys.items() if v is not None}
    out: dict = {"train": train, "model": model}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise QueryError(f"--set takes SECTION.KEY=VALUE, got {item!r}")
        bad = unknown_keys(load_config(config_name), {key: None})
        if bad:
            name, valid = bad[0]
            raise QueryError(f"--set {name}: no such config key (valid: {', '.join(valid)})")
        section, name = key.split(".", 1)
        out.setdefault(section, {})[name] = yaml.safe_load(value)
    return out


def cmd_train_music_text(args: argparse.Namespace) -> int:
    from ..train.music_text import train_music_text

    out = Path(args.out or config.CHECKPOINTS_DIR / f"music_text_{args.text_encoder}")
    result = train_music_text(args.db or [str(get_settings().db_dir)], out, text_encoder_name=args.text_encoder,
                              methods=args.methods, per_method=args.per_method,
                              overrides=_overrides(args, "music_text_default"),
                              resume=args.resume)
    print(f"best epoch {result.best_epoch}: " + ", ".join(f"{k} {v:.3f}" for k, v in (result.best_metrics or {}).items()))
    print(f"checkpoint: {result.best_dir}")
    return 0


def cmd_train_viml(args: argparse.Namespace) -> int:
    from ..train.viml import train_viml

    out = Path(args.out)
    result, _ = train_viml(args.videos, out, video_encoder=args.video_encoder, text_encoder_name=args.text_encoder,
                           methods=args.methods, overrides=_overrides(args, "viml_default", fusion=args.fusion,
                                                                      text_dropout=args.text_dropout),
                           resume=args.resume, cache_dir=args.cache or out / "feature_cache")
    print(f"best epoch {result.best_epoch}: " + ", ".join(f"{k} {v:.3f}" for k, v in (result.best_metrics or {}).items()))
    print(f"checkpoint: {result.best_dir}")
    return 0


def cmd_evaluate_music_text(args: argparse.Namespace) -> int:
    from ..evaluation.music_text_report import run_music_text_evaluation

    print(run_music_text_evaluation(Path(args.testset), [Path(c) for c in args.checkpoint],
                                    Path(args.index_cache) if args.index_cache else None))
    return 0


def cmd_evaluate_viml(args: argparse.Namespace) -> int:
    from ..evaluation.viml_eval import run_viml_evaluation

    pools = [None if p.strip() == "all" else int(p) for p in args.pool.split(",") if p.strip()]
    print(run_viml_evaluation(Path(args.videos), [Path(c) for c in args.checkpoint], pools,
                              Path(args.cache) if args.cache else None))
    return 0
