"""Does the ViML machinery learn? Train on synthetic tied video/text/music (vml_demo.evaluation.synthetic).

Clips are cut from source videos (3 overlapping clips per source) and positives are grouped by source:
in training clips of one source are not each other's negatives, and in evaluation a query's hit is any
clip of its own source (vml_demo/model/metrics.py, grouped ranks), so chance R@1 is about 1/sources.
Prints, for held-out test clips ranked against all test music:
  (a) recall and median rank of video-only and video+text queries, far above chance;
  (b) video+text beats video-only (text carries what video lacks);
  (c) text dropout: trained with p=0 the model fails on video-only queries, with p=0.8 it does not;
  (d) every fusion variant trains; plus a similarity-matrix ensemble (ViML appendix C) and a
      negative control trained on shuffled pairs, which must stay at chance;
  (e) the same model trained with per-clip targets (the old recipe: overlapping clips of one source
      pushed apart as negatives), for comparison.
Writes every row and check as JSON (default results/viml_synthetic.json) for the README's tables.
Usage: python benchmarks/viml_synthetic.py [--quick] [--threads 1] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from vml_demo.model.metrics import ensemble_similarity, format_table, retrieval_metrics
from vml_demo.evaluation.synthetic import make_synthetic_viml_data, train_synthetic_viml
from vml_demo.model.training import embed_views

COLUMNS = ["run", "query", "R@1", "R@5", "R@10", "median_rank", "train_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer clips and epochs (a smoke run)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core box)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="results/viml_synthetic.json", help="write all metrics here ('' = don't)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    n_train, epochs = (768, 6) if args.quick else (1536, 10)
    data = make_synthetic_viml_data(n_train=n_train, seed=args.seed)
    shuffled = make_synthetic_viml_data(n_train=n_train, seed=args.seed, shuffle_train_pairs=True)
    per_clip = make_synthetic_viml_data(n_train=n_train, seed=args.seed)
    per_clip.train.plain["target_id"] = torch.arange(len(per_clip.train))  # every clip its own target (old recipe)
    runs = [
        ("add, p=0.8", data, {}),
        ("add, p=0.8, per-clip targets", per_clip, {}),
        ("add, p=0.0", data, {"model": {"text_dropout": 0.0}}),
        ("add, p=0.8, shuffled pairs", shuffled, {}),
        ("linear, p=0.8", data, {"model": {"fusion": "linear"}}),
        ("mlp, p=0.8", data, {"model": {"fusion": "mlp"}}),
        ("transformer1, p=0.8", data, {"model": {"fusion": "transformer1"}}),
        ("transformer2, p=0.8", data, {"model": {"fusion": "transformer2"}}),
    ]
    n_test = len(data.test)
    groups = data.test.plain["target_id"].numpy()
    n_sources = len(set(groups.tolist()))
    print(f"synthetic data: {n_train} train / {len(data.val)} val / {n_test} test clips ({n_sources} test sources); "
          f"test queries ranked against all {n_test} test clips' music, grouped by source (chance R@1 about "
          f"{100 / n_sources:.2f}%, chance median rank about {(n_sources + 1) / 2:.0f}); torch threads = {args.threads}")
    rows, sims, started = [], {}, time.time()
    for name, dataset, overrides in runs:
        overrides = {**overrides, "train": {"epochs": epochs, "seed": args.seed}}
        t0 = time.time()
        model, _, _ = train_synthetic_viml(dataset, overrides)
        train_s = time.time() - t0
        views = embed_views(model, data.test)
        for view, (q, t) in views.items():
            sim = (q @ t.t()).numpy()
            sims[(name, view)] = sim
            rows.append({"run": name, "query": view, **retrieval_metrics(sim, groups=groups), "train_s": train_s})
    for view in ("video+text", "video"):
        sim = ensemble_similarity(sims[("add, p=0.8", view)], sims[("transformer1, p=0.8", view)], 0.5)
        rows.append({"run": "ensemble 0.5 add + transformer1", "query": view, **retrieval_metrics(sim, groups=groups)})

    print(format_table(rows, COLUMNS, title="\nHeld-out retrieval (R@k in %)"))
    by_key = {(r["run"], r["query"]): r for r in rows}
    main_vt, main_v = by_key[("add, p=0.8", "video+text")], by_key[("add, p=0.8", "video")]
    p0_vt, p0_v = by_key[("add, p=0.0", "video+text")], by_key[("add, p=0.0", "video")]
    control = by_key[("add, p=0.8, shuffled pairs", "video+text")]
    old_vt, old_v = by_key[("add, p=0.8, per-clip targets", "video+text")], by_key[("add, p=0.8, per-clip targets", "video")]
    checks = [
        {"check": "(a) video-only R@1 / chance", "value": main_v["R@1"] * n_sources},
        {"check": "(a) video+text R@1 / chance", "value": main_vt["R@1"] * n_sources},
        {"check": "(b) video+text minus video-only R@1 (pts)", "value": 100 * (main_vt["R@1"] - main_v["R@1"])},
        {"check": "(c) video-only R@1, p=0.8 minus p=0 (pts)", "value": 100 * (main_v["R@1"] - p0_v["R@1"])},
        {"check": "(c) video+text R@1, p=0.8 minus p=0 (pts)", "value": 100 * (main_vt["R@1"] - p0_vt["R@1"])},
        {"check": "(e) video+text R@1, grouped minus per-clip targets (pts)", "value": 100 * (main_vt["R@1"] - old_vt["R@1"])},
        {"check": "(e) video-only R@1, grouped minus per-clip targets (pts)", "value": 100 * (main_v["R@1"] - old_v["R@1"])},
        {"check": "control (shuffled) video+text R@1 / chance", "value": control["R@1"] * n_sources},
    ]
    print(format_table(checks, ["check", "value"], title="\nSummary"))
    print(f"\ntotal time {time.time() - started:.0f} s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        meta = {"command": "python benchmarks/viml_synthetic.py" + (" --quick" if args.quick else ""),
                "seed": args.seed, "n_train": n_train, "n_test": n_test, "n_test_sources": n_sources,
                "epochs": epochs, "grouped_by": "source video (target_id)"}
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows, "checks": checks}, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
