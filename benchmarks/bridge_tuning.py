"""Tune the tag bridge's levers on the DEV split: a few values of each setting, the rest at their off value.

For each configuration the bridge alone (no tower) is evaluated on the dev split of the synthetic and real sets:
mAP (all queries and per query kind), top-10 max share, zero-shot ROC-AUC per category, and the video
evaluation's fit@5 in the bridge (dev videos). Writes
results/bridge_tuning_dev.json; the values chosen there become the levers' "on" values (evaluation/levers.py).
Usage: python benchmarks/bridge_tuning.py [--out results/bridge_tuning_dev.json]
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np

OFF = {"VML_BRIDGE_QUERY": "embedding", "VML_BRIDGE_MARGIN": "0", "VML_BRIDGE_TEMPO": "tagger",
       "VML_TERM_EVIDENCE": "max", "VML_HUBNESS": "off"}
TERMS = {"VML_BRIDGE_QUERY": "terms"}
GRID = ([("off", {})]
        + [(f"query terms T={t}", {**TERMS, "VML_BRIDGE_QUERY_T": t}) for t in ("0.02", "0.05", "0.1", "0.2")]
        + [(f"query terms T={t} + tempo bpm", {**TERMS, "VML_BRIDGE_QUERY_T": t, "VML_BRIDGE_TEMPO": "bpm"})
           for t in ("0.05", "0.1")]
        + [("query terms T=0.1 + margin 0.5", {**TERMS, "VML_BRIDGE_QUERY_T": "0.1", "VML_BRIDGE_MARGIN": "0.5"})]
        + [(f"margin {m}", {"VML_BRIDGE_MARGIN": m}) for m in ("0.5", "1", "2")]
        + [("tempo bpm", {"VML_BRIDGE_TEMPO": "bpm"})])


def _per_kind(view, scores, relevance, ignore) -> dict[str, float]:
    from vml_demo.evaluation.music_text_eval import text_to_music_metrics

    kinds = np.array([q.kind or "all" for q in view.queries])
    out = {}
    for kind in sorted(set(kinds)):
        keep = (kinds == kind) & relevance.any(axis=1)
        if keep.any():
            out[kind] = text_to_music_metrics(scores[keep], relevance[keep], ignore[keep])["mAP"]
    return out


def evaluate(configs, tables: dict) -> list[dict]:
    from vml_demo.encoders.text import load_text_encoder
    from vml_demo.evaluation.music_text_eval import text_to_music_metrics
    from vml_demo.evaluation.music_text_report import (DEFAULT_INDEX_DIRS, _prepare, _set_dirs, _split_scores,
                                                       _tagging_rows)
    from vml_demo.settings import overridden

    encoder = load_text_encoder("minilm")
    rows, described = [], {}  # the videos' words do not depend on the bridge: described once
    for name, values in configs:
        row = {"row": name, "settings": {**OFF, **values}}
        with overridden({**OFF, **values}):
            for set_name, folder in _set_dirs("all", None, None).items():
                prep = _prepare(set_name, folder, DEFAULT_INDEX_DIRS[set_name], encoder, [], False, tables)
                view, scores, rel, ig = _split_scores(prep, "dev")
                m = text_to_music_metrics(scores["tag bridge"], rel, ig)
                row[f"{set_name} mAP"] = m["mAP"]
                row[f"{set_name} top-10 max share"] = m["hubness"]["max_share"]
                row[f"{set_name} mAP by kind"] = _per_kind(view, scores["tag bridge"], rel, ig)
                for t in _tagging_rows(prep, view):
                    row[f"{set_name} {t['category']} ROC-AUC"] = t["ROC-AUC"]
            from vml_demo.evaluation.levers import _video_cells
            from vml_demo.evaluation.video_eval import evaluate_video

            row |= _video_cells(evaluate_video("dev", progress=False, described=described, tables=tables))
        print(f"{name:28s} synth mAP {row['synthetic mAP']:.3f} genre AUC {row['synthetic genre ROC-AUC']:.3f} "
              f"share {row['synthetic top-10 max share']:.3f} | real mAP {row['real mAP']:.3f} "
              f"share {row['real top-10 max share']:.3f} | video fit@5 {row['video fit@5 synthetic']:.2f} "
              f"{row['video fit@5 real']:.2f}", flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/bridge_tuning_dev.json")
    args = parser.parse_args()
    from vml_demo.evaluation.results import dump_json
    from vml_demo.model.checkpoint import code_version

    rows = evaluate(GRID, {})
    doc = {"kind": "bridge_tuning", "split": "dev", "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "code_version": code_version(), "command": "python " + " ".join(sys.argv), "off": OFF, "rows": rows}
    Path(args.out).write_text(dump_json(doc))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
