"""Semantic preservation and diversity of ViML's music text synthesis methods over random tag sets (Table 2).

    PYTHONPATH=$PWD python benchmarks/textsynth_metrics.py [--n 100] [--seed 0] [--max-minutes M]
                                                           [--json results/textsynth.json]

Draws N seeded tag sets (1-2 genres, 1-3 moods, 1-4 instruments, sometimes a tempo word) from the project's
vocabulary (terms that co-occur with the chosen genres in the caption exemplars are favoured; contradictory
moods are avoided), describes each with every method, and prints one row per method: mean semantic preservation,
distinct-1/2/3 over all texts, mean words, ms per text, and which method actually produced the texts (prompt2text
falls back to data2text when no LM is available or when every prompt's text dropped a tag). For prompt2text it
also reports the LM's load time, its seconds per generated text, the peak memory of the process and what happened
to each text (kept from the first prompt, kept after regenerating, fell back). Completions come from the on-disk
cache when an earlier run made them: `generated` counts the new ones, and the timing is over those.
"""
from __future__ import annotations

import argparse
import collections
import datetime
import logging
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402 - after the offline defaults

from vml_demo.evaluation.results import dump_json  # noqa: E402
from vml_demo.model.checkpoint import code_version  # noqa: E402
from vml_demo.textsynth.methods import METHODS, TextSynthesizer  # noqa: E402
from vml_demo.textsynth.metrics import (  # noqa: E402
    distinct_n, exemplar_affinity, mean_words, random_tagset, semantic_preservation)
from vml_demo.textsynth.prompt2text import get_text_lm, prompt2text_status  # noqa: E402
from vml_demo.textsynth.vocabulary import load_vocabulary  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def describe_all(synth: TextSynthesizer, tagsets: list, method: str, rng, deadline: float | None = None) -> list:
    """Each tag set's SynthesizedText, stopping early (fewer outputs) once `deadline` (perf_counter) has passed."""
    outputs = []
    for ts in tagsets:
        if deadline is not None and time.perf_counter() > deadline:
            break
        outputs.append(synth.synthesize(ts, method, rng))
    return outputs


def run(n: int, seed: int, max_minutes: float | None = None) -> tuple[list[dict], dict]:
    vocab = load_vocabulary()
    synth = TextSynthesizer(vocab)
    start = time.perf_counter()
    lm = get_text_lm()
    lm_info = {"status": prompt2text_status(), "load_s": time.perf_counter() - start,
               "model_id": getattr(lm, "model_id", None), "decoding": getattr(lm, "decoding", None)}
    tag_rng = np.random.default_rng(seed)
    affinity = exemplar_affinity()
    tagsets = [random_tagset(tag_rng, vocab, affinity=affinity) for _ in range(n)]
    # prompt2text first: with a time limit it covers only the first tag sets, and every method is then measured
    # on those same tag sets.
    order = sorted(range(len(METHODS)), key=lambda i: METHODS[i] != "prompt2text")
    deadline = None if max_minutes is None else time.perf_counter() + 60 * max_minutes
    results = {}
    for index in order:
        method = METHODS[index]
        rng = np.random.default_rng([seed, index])
        start = time.perf_counter()
        outputs = describe_all(synth, tagsets, method, rng, deadline if method == "prompt2text" else None)
        results[method] = (outputs, time.perf_counter() - start)
        tagsets = tagsets[:len(outputs)]
    rows, examples = [], {}
    for method in METHODS:
        outputs, elapsed = results[method]
        outputs = outputs[:len(tagsets)]
        texts = [o.text for o in outputs]
        used = collections.Counter(o.label for o in outputs)
        rows.append({
            "method": method, "tag sets": len(texts),
            "preservation": float(np.mean([semantic_preservation(ts, t, vocab) for ts, t in zip(tagsets, texts)])),
            "distinct_1": distinct_n(texts, 1), "distinct_2": distinct_n(texts, 2), "distinct_3": distinct_n(texts, 3),
            "mean_words": mean_words(texts), "ms_per_text": 1000 * elapsed / max(1, len(results[method][0])),
            "produced_by": ", ".join(f"{m} {c}" for m, c in used.most_common()),
        })
        examples[method] = texts[:5]
    stats = dict(synth.prompt2text.stats)
    generated = stats.get("generated", 0)
    lm_info.update(outcomes={k: v for k, v in stats.items() if k.startswith(("kept", "fell"))},
                   generated=generated, cache_hits=stats.get("cache hits", 0),
                   s_per_generated_text=stats.get("generation seconds", 0.0) / generated if generated else None,
                   peak_rss_mb=peak_rss_mb(), load_average=os.getloadavg())
    return rows, {"tagsets": [", ".join(ts.terms()) for ts in tagsets[:5]], "texts": examples, "lm": lm_info}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="number of random tag sets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop prompt2text after this long; every method is then measured on the tag sets it did")
    parser.add_argument("--json", default=None, help="also write the results here (e.g. results/textsynth.json)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    rows, extra = run(args.n, args.seed, args.max_minutes)
    lm = extra["lm"]
    print(f"{rows[0]['tag sets']} of {args.n} random tag sets, seed {args.seed}; prompt2text LM: {lm['status']}")
    header = ("| method | semantic preservation | distinct-1 | distinct-2 | distinct-3 | mean words | ms/text "
              "| produced by |")
    print(header)
    print("|" + "---|" * header.count(" | ") + "---|")
    for r in rows:
        print(f"| {r['method']} | {r['preservation']:.3f} | {r['distinct_1']:.3f} | {r['distinct_2']:.3f} | "
              f"{r['distinct_3']:.3f} | {r['mean_words']:.1f} | {r['ms_per_text']:.2f} | {r['produced_by']} |")
    per_text = lm["s_per_generated_text"]
    print(f"\nLM load {lm['load_s']:.1f} s; {lm['generated']} texts generated"
          + (f" at {per_text:.2f} s each" if per_text else "") + f", {lm['cache_hits']} from the cache; "
          f"outcomes {lm['outcomes']}; peak RSS {lm['peak_rss_mb']:.0f} MB; load average "
          + " ".join(f"{x:.1f}" for x in lm["load_average"]))
    print("\nFirst tag sets, each method:")
    for i, tags in enumerate(extra["tagsets"]):
        print(f"  [{tags}]")
        for method, texts in extra["texts"].items():
            print(f"    {method}: {texts[i]}")
    if args.json:
        command = "PYTHONPATH=$PWD python benchmarks/textsynth_metrics.py " + " ".join(sys.argv[1:])
        doc = {"meta": {"command": command.strip(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                        "code_version": code_version(), "n": args.n, "seed": args.seed,
                        "max_minutes": args.max_minutes},
               "rows": rows, **extra}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(dump_json(doc), encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
