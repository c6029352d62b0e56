"""The vocals rule of search filters (vml_demo/search/filters.py), checked on the labelled sets.

The synthetic set (data/testset) is rendered from MIDI: every clip is instrumental. Its dev split picks the
threshold (the 95th percentile of the dev clips' vocals scores, rounded up to 0.01: at most ~5% of instrumental
music is called vocal); the test split reports how many instrumental clips the rule calls instrumental. The
real-music set has no vocals labels (data/realset/README.md), so it cannot check the other direction; the
bundled library's one track its source calls vocal (marsshooter_01_ezer_ev.ogg, "metal with female vocals")
is printed with its score and rank. Needs the evaluation indexes in runs/ (`python -m vml_demo evaluate
music-text` builds them). Usage: PYTHONPATH=$PWD python benchmarks/vocals_rule.py [--json results/vocals_rule.json]
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from vml_demo import config
from vml_demo.evaluation.testset import load_testset
from vml_demo.library.features import load_window_table
from vml_demo.library.store import LibraryStore
from vml_demo.search.filters import track_vocal_scores

KNOWN_VOCAL = "marsshooter_01_ezer_ev.ogg"


def scores_by_file(db: Path) -> dict[str, float]:
    store = LibraryStore(db)
    names = {t.id: t.name for t in store.tracks()}
    return {names[tid]: s for tid, s in track_vocal_scores(load_window_table(store)).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testset-db", default=str(config.REPO_ROOT / "runs" / "testset_index"))
    parser.add_argument("--library-db", default=str(config.ASSETS_DIR / "index"))
    parser.add_argument("--json", default=str(config.REPO_ROOT / "results" / "vocals_rule.json"))
    args = parser.parse_args()

    synthetic = scores_by_file(Path(args.testset_db))
    split = {c.path.name: c.split for c in load_testset().clips}
    dev = np.array([s for f, s in synthetic.items() if split.get(f) == "dev"])
    test = np.array([s for f, s in synthetic.items() if split.get(f) == "test"])
    threshold = math.ceil(float(np.percentile(dev, 95)) * 100) / 100
    library = scores_by_file(Path(args.library_db))
    ranked = sorted(library, key=lambda f: -library[f])
    out = {
        "rule": "track vocals score = mean over windows of max(vocal vocabulary terms, AudioSet Speech); "
                "instrumental when below the threshold",
        "threshold_chosen_on": "synthetic dev split (all instrumental): 95th percentile, rounded up to 0.01",
        "threshold": threshold,
        "synthetic_dev": {"clips": len(dev), "called_instrumental": int((dev < threshold).sum())},
        "synthetic_test": {"clips": len(test), "called_instrumental": int((test < threshold).sum()),
                           "share_instrumental": round(float((test < threshold).mean()), 3)},
        "library": {"tracks": len(library), "called_instrumental": int(sum(s < threshold for s in library.values())),
                    "known_vocal_track": KNOWN_VOCAL, "its_score": round(library.get(KNOWN_VOCAL, float("nan")), 3),
                    "its_rank_by_vocals_score": ranked.index(KNOWN_VOCAL) + 1 if KNOWN_VOCAL in library else None,
                    "called_vocal": bool(library.get(KNOWN_VOCAL, 0.0) >= threshold)},
    }
    print(json.dumps(out, indent=2))
    lib = out["library"]
    print(f"threshold {threshold:.2f} (synthetic dev, {len(dev)} clips); synthetic test: "
          f"{out['synthetic_test']['called_instrumental']} of {len(test)} instrumental clips called instrumental; "
          f"library: {lib['called_instrumental']} of {lib['tracks']} called instrumental, {KNOWN_VOCAL} "
          f"scores {lib['its_score']:.3f} ({'vocal' if lib['called_vocal'] else 'instrumental'})")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
