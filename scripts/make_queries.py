#!/usr/bin/env python3
"""Write data/testset/queries.json from the hand-written data/testset/queries_source.json.

The source holds groups: one meaning (`labels` that must all hold, optional `not` labels that must not)
and its phrasings, written by hand and already split into `dev` and `test` wordings. This script only
numbers the queries and computes, from labels.json, each query's `relevant` and `ignore` clips over
the whole set (load_testset(split=...) restricts them to one split). It refuses a source that breaks
the rules the tests check: a label outside the vocabularies, fewer than three phrasings, a phrasing
used twice, a group without relevant clips on either side.

    python scripts/make_queries.py            # rewrite queries.json
    python scripts/make_queries.py --check    # exit 1 when queries.json is out of date
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vml_demo.evaluation.testset import CATEGORIES, SPLITS, clip_values, judge  # noqa: E402

FOLDER = REPO / "data" / "testset"
# Accompaniment voices a listener would take for a vocabulary instrument (GM names in `instruments`).
SOUNDS_LIKE = {"electric piano": "piano", "strings": "violin", "brass": "trumpet"}


def kind(labels: dict, negated: dict) -> str:
    k = "+".join(c for c in CATEGORIES if c in labels)
    return f"{k} not " + "+".join(c for c in CATEGORIES if c in negated) if negated else k


def weak_values(clip: dict) -> dict[str, set[str]]:
    """Vocabulary instruments that sound in the clip without being its lead."""
    heard = {SOUNDS_LIKE.get(i, i) for i in clip.get("instruments", ())}
    return {"instrument": heard - {clip["instrument"]}}


def build(source: dict, labels_doc: dict) -> list[dict]:
    vocab = labels_doc["categories"]
    clips = [(c["id"], c["split"], clip_values(c, vocab), weak_values(c)) for c in labels_doc["clips"]]
    queries, seen = [], set()
    for n, group in enumerate(source["groups"]):
        labels, negated = group["labels"], group.get("not", {})
        for cat, value in (*labels.items(), *negated.items()):
            if value not in vocab.get(cat, ()):
                raise ValueError(f"group {n}: {cat}={value!r} is not in the label vocabulary")
        if len(group["dev"]) + len(group["test"]) < 3:
            raise ValueError(f"group {n}: fewer than three phrasings")
        verdict = {cid: judge(values, labels, negated, weak) for cid, _, values, weak in clips}
        relevant = [cid for cid, v in verdict.items() if v == "relevant"]
        ignore = [cid for cid, v in verdict.items() if v == "ignore"]
        for split in SPLITS:
            if not any(s == split and verdict[cid] == "relevant" for cid, s, _, _ in clips):
                raise ValueError(f"group {n} ({group[split][0]!r}): no relevant {split} clip")
            for text in group[split]:
                if text.lower() in seen:
                    raise ValueError(f"phrasing used twice: {text!r}")
                seen.add(text.lower())
                q = {"id": f"q{len(queries):03d}", "text": text, "split": split, "kind": kind(labels, negated),
                     "labels": labels}
                if negated:
                    q["not"] = negated
                queries.append({**q, "relevant": relevant, "ignore": ignore})
    return queries


def render(folder: Path = FOLDER) -> str:
    source = json.loads((folder / "queries_source.json").read_text(encoding="utf-8"))
    labels_doc = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
    doc = {"version": 2, "source": "queries_source.json (written by hand); relevant/ignore: scripts/make_queries.py",
           "queries": build(source, labels_doc)}
    return json.dumps(doc, indent=1) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", type=Path, default=FOLDER)
    ap.add_argument("--check", action="store_true", help="only compare with the existing queries.json")
    args = ap.parse_args()
    try:
        text = render(args.folder)
    except (ValueError, KeyError) as err:
        sys.exit(f"queries_source.json: {err}")
    out = args.folder / "queries.json"
    if args.check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            sys.exit(f"{out} is out of date: run python scripts/make_queries.py")
        return 0
    out.write_text(text, encoding="utf-8")
    queries = json.loads(text)["queries"]
    for split in SPLITS:
        print(f"{split}: {sum(q['split'] == split for q in queries)} queries")
    print(f"{len(queries)} queries -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
