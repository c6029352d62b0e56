#!/usr/bin/env python3
"""Write the fixed dev/test split of the synthetic labelled set into data/testset/labels.json.

dev (4 of the 11 clips of every genre, 60 clips) is for tuning anything: thresholds, rules, weights,
hyper-parameters. test (the other 105) is reported and never tuned on. Within the per-genre rule the
seeded search below picks the dev clips whose mood, lead-instrument and tempo counts come closest to
the same 4/11 share of every value, so both halves hold every label value in proportion.
Re-running it gives the same split; only the "split" field of each clip changes.
"""
from __future__ import annotations

import argparse
import itertools
import json
import random
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEED = 20261202
PER_GENRE_DEV = 4
BALANCED = ("mood", "instrument", "tempo")


def _cost(dev: list[dict], clips: list[dict], share: float) -> float:
    cost = 0.0
    for cat in BALANCED:
        total, got = Counter(c[cat] for c in clips), Counter(c[cat] for c in dev)
        cost += sum((got[v] - share * n) ** 2 for v, n in total.items())
    return cost


def choose_dev(clips: list[dict], seed: int = SEED, restarts: int = 20) -> set[str]:
    """Clip ids of dev: per genre PER_GENRE_DEV clips, by seeded coordinate descent over genres."""
    by_genre: dict[str, list[dict]] = {}
    for c in clips:
        by_genre.setdefault(c["genre"], []).append(c)
    share = PER_GENRE_DEV * len(by_genre) / len(clips)
    rng = random.Random(seed)
    best, best_cost = None, float("inf")
    for _ in range(restarts):
        pick = {g: rng.sample(cs, PER_GENRE_DEV) for g, cs in by_genre.items()}
        cost = _cost([c for p in pick.values() for c in p], clips, share)
        improved = True
        while improved:
            improved = False
            for g in sorted(by_genre):
                rest = [c for h, p in pick.items() if h != g for c in p]
                for cand in itertools.combinations(by_genre[g], PER_GENRE_DEV):
                    c2 = _cost(rest + list(cand), clips, share)
                    if c2 < cost - 1e-9:
                        pick[g], cost, improved = list(cand), c2, True
        if cost < best_cost:
            best, best_cost = pick, cost
    return {c["id"] for p in best.values() for c in p}


def with_split(doc: dict, dev: set[str]) -> dict:
    """The same document with "split" placed right after "file" in every clip (nothing else changes)."""
    clips = []
    for c in doc["clips"]:
        out = {}
        for k, v in c.items():
            if k != "split":
                out[k] = v
            if k == "file":
                out["split"] = "dev" if c["id"] in dev else "test"
        clips.append(out)
    return {**doc, "clips": clips}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=Path, default=REPO / "data" / "testset" / "labels.json")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    doc = json.loads(args.labels.read_text(encoding="utf-8"))
    dev = choose_dev(doc["clips"], args.seed)
    doc = with_split(doc, dev)
    args.labels.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    for split in ("dev", "test"):
        part = [c for c in doc["clips"] if c["split"] == split]
        print(f"{split}: {len(part)} clips")
        for cat in ("genre",) + BALANCED:
            print(f"  {cat}: " + ", ".join(f"{v} {n}" for v, n in sorted(Counter(c[cat] for c in part).items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
