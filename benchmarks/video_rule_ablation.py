"""Each look rule of the zero-shot video path left out in turn, on the dev videos: which rules earn their place?

The look rules (vml_demo/data/video_to_music.json `visual_rules`) were first set by looking at the 7 sample
videos, then changed on the 4 dev videos of the time. With 10 dev videos judged, this measures every rule by
leaving it out: `python -m vml_demo evaluate video --split dev` for each, mean fit@5 of the tag bridge on the
synthetic and the real dev pool. The decision rule, written before the run: a rule is dropped when leaving it out
raises the mean of the two pools by at least 4 points (two judged results of the 50 per pool) and lowers neither
pool; rules are judged one at a time against all rules (one pass, no search over subsets, which 10 videos
cannot support). Test is never read here. Writes results/video_rule_ablation_dev.json.
Usage: python benchmarks/video_rule_ablation.py
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

MIN_GAIN = 4.0  # points of the two pools' mean fit@5 a left-out rule must add to be dropped


def pool_fits(doc: dict) -> dict[str, float]:
    from vml_demo.evaluation.video_eval import bridge_mean

    return {name: 100 * bridge_mean(pool)["fit@5"] for name, pool in doc["pools"].items()}


def main() -> None:
    from vml_demo.evaluation.results import dump_json
    from vml_demo.evaluation.video_eval import evaluate_video
    from vml_demo.model.checkpoint import code_version
    from vml_demo.search.video_words import load_rules

    rules = load_rules()  # the cached dict the video path reads: leaving a rule out of it changes what fires
    everything = list(rules["visual_rules"])
    tables: dict = {}
    base = pool_fits(evaluate_video("dev", progress=False, tables=tables))
    rows = []
    try:
        for i, rule in enumerate(everything):
            rules["visual_rules"] = everything[:i] + everything[i + 1:]
            fits = pool_fits(evaluate_video("dev", progress=False, tables=tables))
            gain = {k: round(fits[k] - base[k], 1) for k in base}
            mean_gain = sum(gain.values()) / len(gain)
            drop = mean_gain >= MIN_GAIN and min(gain.values()) >= 0
            rows.append({"rule": i, "words": ", ".join(rule["words"]), "because": rule["because"],
                         **{f"{k} fit@5 without (%)": round(v, 1) for k, v in fits.items()},
                         **{f"{k} change": v for k, v in gain.items()}, "drop": drop})
            print(f"without rule {i} ({', '.join(rule['words'])}: {rule['because']}): "
                  + ", ".join(f"{k} {fits[k]:.0f} ({gain[k]:+.0f})" for k in fits) + ("  -> drop" if drop else ""),
                  flush=True)
    finally:
        rules["visual_rules"] = everything
    doc = {"kind": "video_rule_ablation", "split": "dev", "command": "python benchmarks/video_rule_ablation.py",
           "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "code_version": code_version(),
           "min_gain_points": MIN_GAIN, "all_rules": {f"{k} fit@5 (%)": round(v, 1) for k, v in base.items()},
           "rows": rows}
    out = Path("results/video_rule_ablation_dev.json")
    out.write_text(dump_json(doc), encoding="utf-8")
    print("all rules: " + ", ".join(f"{k} {v:.0f}" for k, v in base.items()), file=sys.stderr)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
