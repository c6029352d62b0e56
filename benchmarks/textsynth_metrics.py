"""Semantic preservation and diversity of ViML's music text synthesis methods over random tag sets.

    python benchmarks/textsynth_metrics.py [--n 500] [--seed 0]

Draws N seeded tag sets (1-2 genres, 1-3 moods, 1-4 instruments, sometimes a tempo word) from the project's
vocabulary (terms that co-occur with the chosen genres in the caption exemplars are favoured; contradictory
moods are avoided), describes each with every method, and prints one row per method: mean semantic preservation,
distinct-1/2/3 over all texts, mean words, and which method actually produced the texts (prompt2text falls back
to data2text when no local language model is available).
"""
from __future__ import annotations

import argparse
import collections
import logging
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402 - after the offline defaults

from vml_demo.textsynth.methods import METHODS, TextSynthesizer  # noqa: E402
from vml_demo.textsynth.metrics import (  # noqa: E402
    distinct_n, exemplar_affinity, mean_words, random_tagset, semantic_preservation)
from vml_demo.textsynth.prompt2text import prompt2text_status  # noqa: E402
from vml_demo.textsynth.vocabulary import load_vocabulary  # noqa: E402


def run(n: int, seed: int) -> list[dict]:
    vocab = load_vocabulary()
    synth = TextSynthesizer(vocab)
    tag_rng = np.random.default_rng(seed)
    affinity = exemplar_affinity()
    tagsets = [random_tagset(tag_rng, vocab, affinity=affinity) for _ in range(n)]
    rows = []
    for index, method in enumerate(METHODS):
        rng = np.random.default_rng([seed, index])
        start = time.perf_counter()
        outputs = [synth.synthesize(ts, method, rng) for ts in tagsets]
        elapsed = time.perf_counter() - start
        texts = [o.text for o in outputs]
        used = collections.Counter(o.method_used for o in outputs)
        rows.append({
            "method": method,
            "preservation": float(np.mean([semantic_preservation(ts, t, vocab) for ts, t in zip(tagsets, texts)])),
            "distinct_1": distinct_n(texts, 1), "distinct_2": distinct_n(texts, 2), "distinct_3": distinct_n(texts, 3),
            "mean_words": mean_words(texts), "ms_per_text": 1000 * elapsed / n,
            "produced_by": ", ".join(f"{m} {c}" for m, c in used.most_common()),
            "example": texts[0],
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="number of random tag sets")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    rows = run(args.n, args.seed)
    print(f"{args.n} random tag sets, seed {args.seed}; prompt2text LM: {prompt2text_status()}")
    header = ("| method | semantic preservation | distinct-1 | distinct-2 | distinct-3 | mean words | ms/text "
              "| produced by |")
    print(header)
    print("|" + "---|" * header.count(" | ") + "---|")
    for r in rows:
        print(f"| {r['method']} | {r['preservation']:.3f} | {r['distinct_1']:.3f} | {r['distinct_2']:.3f} | "
              f"{r['distinct_3']:.3f} | {r['mean_words']:.1f} | {r['ms_per_text']:.2f} | {r['produced_by']} |")
    print("\nFirst tag set, each method:")
    for r in rows:
        print(f"  {r['method']}: {r['example']}")


if __name__ == "__main__":
    main()
