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


def _ratios(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or not all(0.0 <= v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError("ratios are comma-separated numbers between 0 and 1")
    return values


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
                   help="override a config value, e.g. --set model.dropout=0.3 --set text.real_text_ratio=0.5")
    p.add_argument("--real-text-ratios", type=_ratios, default=None, metavar="R,R,...",
                   help="sweep text.real_text_ratio: one run per value from one preparation, in OUT/real_<R>")
    p.set_defaults(func=cmd_train_music_text)

    p = tsub.add_parser("viml", help="ViML tri-modal model on a folder of music videos",
                        description="Each video's frames and its own soundtrack form training pairs; the soundtrack "
                        "is tagged and described by the text synthesis methods. Seeded, resumable, GPU when present.")
    p.add_argument("--videos", required=True, help="folder of music videos (with picture and sound)")
    p.add_argument("--out", required=True, help="output folder for checkpoints (best/, last/)")
    p.add_argument("--video-encoder", default="efficientnet_lite0",
                   choices=["efficientnet_lite0", "visual_descriptors", "clip_vit_b32"])
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
                        description="On the labelled sets (synthetic and real music, each separately), one split: "
                        "R@1/5/10, median rank, mAP and hubness of text-to-music retrieval beside a random ranking, "
                        "macro ROC-AUC/PR-AUC of zero-shot tagging, and text triplet accuracy, for the tag bridge, "
                        "each checkpoint given and their ensemble (weight chosen on dev). With --checkpoint, also "
                        "writes CHECKPOINT/metrics.json and re-renders its model card.")
    p.add_argument("--split", choices=["dev", "test"], default="dev",
                   help="split to report (dev: for tuning and choosing; test: reported, never tuned on)")
    p.add_argument("--set", dest="eval_set", choices=["synthetic", "real", "all"], default="all",
                   help="which labelled set (default: all that exist, reported separately)")
    p.add_argument("--testset", default=None, help="synthetic labelled set folder (default: data/testset)")
    p.add_argument("--realset", default=None, help="real-music labelled set folder (default: data/realset)")
    p.add_argument("--checkpoint", action="append", default=[], help="music-text checkpoint folder; repeatable")
    p.add_argument("--index-cache", default=None,
                   help="folder for the sets' indexes, one subfolder per set (default: runs/testset_index, "
                   "runs/realset_index)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--out", default=None, help="also write the JSON object to this file (e.g. results/...)")
    p.add_argument("--no-card", action="store_true", help="do not write metrics.json / model cards")
    p.set_defaults(func=cmd_evaluate_music_text)

    p = esub.add_parser("video", help="zero-shot video path: judged fit of the top-5 music for each video",
                        description="Each judged video of the split (data/videoset) is queried by its picture and "
                        "sound alone over each pool (the synthetic and the real set's clips of that split); fit@5 = "
                        "share of the top 5 whose labels include a fitting word and no misfitting one, beside the "
                        "share of the pool that fits (a random ranking's expected fit).")
    p.add_argument("--split", choices=["dev", "test"], default="dev", help="split of videos and pools")
    p.add_argument("--judgements", default=None, help="judgements file (default: data/videoset/judgements.json)")
    p.add_argument("--checkpoint", action="append", default=[],
                   help="music-text checkpoint folder: also rank in its space; repeatable")
    p.add_argument("--viml-checkpoint", action="append", default=[],
                   help="ViML checkpoint folder: also query through the learned path; repeatable")
    p.add_argument("--index-cache", default=None, help="as for music-text")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--out", default=None, help="also write the JSON object to this file")
    p.set_defaults(func=cmd_evaluate_video)

    p = esub.add_parser("levers", help="every retrieval lever on and off: music-text (synthetic, real) and video",
                        description="Runs the music-text evaluation (synthetic and real sets) and the video evaluation "
                        "with every lever off (baseline), each lever alone on, and all at their shipped defaults, on one "
                        "split; levers and what they switch are listed in vml_demo/evaluation/levers.py.")
    p.add_argument("--split", choices=["dev", "test"], default="dev", help="split to report (choose on dev)")
    p.add_argument("--checkpoint", action="append", default=None,
                   help="music-text checkpoint folder (default: checkpoints/music_text_minilm); repeatable")
    p.add_argument("--no-video", action="store_true", help="leave out the video evaluation")
    p.add_argument("--index-cache", default=None, help="as for music-text")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--out", default=None, help="also write the JSON object to this file (results/levers_SPLIT.json)")
    p.set_defaults(func=cmd_evaluate_levers)
    p = esub.add_parser("video-levers", help="one table of `evaluate video` runs made with different levers",
                        description="Reads `evaluate video` JSON files (each records the VML_VIDEO_* levers it ran "
                        "with) and writes one row per file: split, levers, mean fit@5 and random per pool.")
    p.add_argument("files", nargs="+", help="evaluate video JSON files")
    p.add_argument("--json", action="store_true", help="print the JSON object")
    p.add_argument("--out", default=None, help="also write the JSON object to this file")
    p.set_defaults(func=cmd_video_levers)

    p = esub.add_parser("render-readme", help="rewrite README tables from results/*.json",
                        description="Regenerates every table between <!-- table:NAME --> and <!-- /table --> in "
                        "README.md from the evaluation JSON in results/ (--check: exit 1 when a table is stale).")
    p.add_argument("--readme", default=str(config.REPO_ROOT / "README.md"))
    p.add_argument("--results", default=str(config.REPO_ROOT / "results"))
    p.add_argument("--check", action="store_true", help="only report stale tables")
    p.set_defaults(func=cmd_render_readme)

    p = esub.add_parser("viml", help="ViML retrieval on held-out music videos",
                        description="Recall@1/5/10 and median rank of the true music among pools of N candidates, "
                        "for video-only and video+text queries, for each checkpoint.")
    p.add_argument("--videos", required=True, help="folder of held-out music videos")
    p.add_argument("--checkpoint", action="append", required=True, help="ViML checkpoint folder; repeatable")
    p.add_argument("--pool", default="500,2000,all", help="pool sizes, comma-separated ('all' = every clip)")
    p.add_argument("--cache", default=None, help="folder to cache per-video features")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--out", default=None, help="also write the JSON object to this file")
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
                              resume=args.resume, real_text_ratios=args.real_text_ratios)
    for ratio, run in (result.items() if isinstance(result, dict) else [(None, result)]):
        label = "" if ratio is None else f"real_text_ratio {ratio:g}: "
        print(f"{label}best epoch {run.best_epoch}: "
              + ", ".join(f"{k} {v:.3f}" for k, v in (run.best_metrics or {}).items()))
        print(f"checkpoint: {run.best_dir}")
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


def _command_line() -> str:
    import sys

    return " ".join(["python -m vml_demo", *sys.argv[1:]])


def _emit(doc: dict, table: str, args) -> None:
    """Print the table or the JSON object; --out also writes the object to a file."""
    from ..evaluation.results import dump_json

    text = dump_json(doc)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    print(text if args.json else table)


def cmd_evaluate_music_text(args: argparse.Namespace) -> int:
    from ..evaluation.checkpoint_metrics import write_checkpoint_metrics
    from ..evaluation.music_text_report import evaluate_music_text, format_music_text

    checkpoints = [Path(c) for c in args.checkpoint]
    doc = evaluate_music_text(args.split, checkpoints, which=args.eval_set,
                              testset_dir=Path(args.testset) if args.testset else None,
                              realset_dir=Path(args.realset) if args.realset else None,
                              index_cache=Path(args.index_cache) if args.index_cache else None,
                              command=_command_line(), progress=not args.json)
    _emit(doc, format_music_text(doc), args)
    if not args.no_card:
        for ckpt in checkpoints:
            written = write_checkpoint_metrics(ckpt, doc)
            if not args.json:
                print(f"wrote {written}")
    return 0


def cmd_evaluate_video(args: argparse.Namespace) -> int:
    from ..evaluation.video_eval import evaluate_video, format_video

    doc = evaluate_video(args.split, judgements=Path(args.judgements) if args.judgements else None,
                         checkpoints=[Path(c) for c in args.checkpoint],
                         viml_checkpoints=[Path(c) for c in args.viml_checkpoint],
                         index_cache=Path(args.index_cache) if args.index_cache else None, command=_command_line(),
                         progress=not args.json)
    _emit(doc, format_video(doc), args)
    return 0


def cmd_evaluate_levers(args: argparse.Namespace) -> int:
    from ..evaluation.levers import evaluate_levers, format_levers

    checkpoints = [Path(c) for c in (args.checkpoint or [config.CHECKPOINTS_DIR / "music_text_minilm"])]
    doc = evaluate_levers(args.split, checkpoints, command=_command_line(), video=not args.no_video,
                          index_cache=Path(args.index_cache) if args.index_cache else None)
    _emit(doc, format_levers(doc), args)


def cmd_video_levers(args: argparse.Namespace) -> int:
    from ..evaluation.results import load_json
    from ..evaluation.video_eval import lever_summary
    from ..model.metrics import format_table

    doc = lever_summary([load_json(Path(f)) for f in args.files], command=_command_line())
    _emit(doc, format_table(doc["rows"], title="Zero-shot video levers"), args)
    return 0


def cmd_render_readme(args: argparse.Namespace) -> int:
    from ..evaluation.tables import render_readme

    readme = Path(args.readme)
    current = readme.read_text(encoding="utf-8")
    updated, names = render_readme(current, Path(args.results))
    if args.check:
        if updated != current:
            print(f"README tables are stale: run python -m vml_demo evaluate render-readme")
            return 1
        print(f"README tables up to date ({len(names)})")
        return 0
    if updated != current:
        readme.write_text(updated, encoding="utf-8")
    print(f"rendered {len(names)} tables: {', '.join(names)}")
    return 0


def cmd_evaluate_viml(args: argparse.Namespace) -> int:
    from ..evaluation.viml_eval import format_viml_rows, viml_evaluation_rows

    pools = [None if p.strip() == "all" else int(p) for p in args.pool.split(",") if p.strip()]
    rows = viml_evaluation_rows(Path(args.videos), [Path(c) for c in args.checkpoint], pools,
                                Path(args.cache) if args.cache else None, progress=not args.json)
    doc = {"kind": "viml_evaluation", "videos": args.videos, "command": _command_line(), "rows": rows}
    _emit(doc, format_viml_rows(rows, Path(args.videos)), args)
    return 0
