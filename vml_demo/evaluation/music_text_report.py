"""`evaluate music-text`: the tables for the music-text space (tag bridge vs trained towers).

1. Text -> music retrieval on the labelled test set: R@1/5/10, median rank, mAP.
2. Zero-shot tagging (MuLan): macro ROC-AUC / PR-AUC per category.
3. Text triplets (MuLan): does the text encoder put a tag closer to a description that has it than to one
   that does not? On the hand-written caption exemplars and on synthesised data2text descriptions.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .. import config
from ..encoders.base import l2_normalize
from .music_text_eval import clip_matrix, index_testset, text_to_music_metrics, zero_shot_tagging_metrics
from ..model.metrics import ensemble_similarity, format_table

ENSEMBLE_WEIGHT = 0.5

log = logging.getLogger(__name__)


def _spaces(table, text_encoder, checkpoints: list[Path]):
    from ..search.spaces import TagBridgeSpace, TrainedSpace

    yield "tag bridge (no training)", TagBridgeSpace(text_encoder, table)
    for ckpt in checkpoints:
        yield f"tower {ckpt.name}", TrainedSpace(text_encoder, ckpt, table)


def _track_order(store_tracks, clips) -> list[int]:
    by_name = {Path(t.abs_path).name: t.id for t in store_tracks}
    missing = [c.path.name for c in clips if c.path.name not in by_name]
    if missing:
        raise RuntimeError(f"test clips missing from the test index: {missing[:5]}")
    return [by_name[c.path.name] for c in clips]


def triplet_accuracy(text_encoder, triplets: list[tuple[str, str, str]]) -> float:
    anchors, pos, neg = (l2_normalize(text_encoder.encode([t[i] for t in triplets])) for i in range(3))
    return float(((anchors * pos).sum(1) > (anchors * neg).sum(1)).mean())


def exemplar_triplets(seed: int = 0) -> list[tuple[str, str, str]]:
    """(tag, description of an exemplar with that tag, description of one without it)."""
    import json

    exemplars = json.loads((config.DATA_DIR / "caption_exemplars.json").read_text())["exemplars"]
    rng = np.random.default_rng(seed)
    out = []
    for ex in exemplars:
        tags = [t for cat in ("genre", "mood", "instrument") for t in ex["tags"].get(cat, [])]
        for tag in tags:
            others = [o for o in exemplars if tag not in [t for c in o["tags"].values() for t in c]]
            if others:
                out.append((tag, ex["text"], others[rng.integers(len(others))]["text"]))
    return out


def synthetic_triplets(n: int = 300, seed: int = 0) -> list[tuple[str, str, str]]:
    from ..textsynth import TextSynthesizer
    from ..textsynth.aggregate import TagSet
    from ..textsynth.vocabulary import load_vocabulary

    vocab = load_vocabulary()
    synth, rng = TextSynthesizer(vocab), np.random.default_rng(seed)

    def random_tagset(must: str | None, avoid: str | None) -> TagSet:
        picks = {}
        for cat, k in (("genre", 1), ("mood", 2), ("instrument", 2)):
            pool = [t for t in vocab.terms(cat) if t != avoid and t != must]
            chosen = list(rng.choice(pool, size=k, replace=False))
            if must and vocab.category_of(must) == cat:
                chosen[0] = must
            picks[cat] = tuple((t, 1.0) for t in chosen)
        return TagSet(**picks)

    terms = [t for c in ("genre", "mood", "instrument") for t in vocab.terms(c)]
    out = []
    for _ in range(n):
        tag = str(rng.choice(terms))
        pos = synth.synthesize(random_tagset(tag, None), "data2text", rng).text
        neg = synth.synthesize(random_tagset(None, tag), "data2text", rng).text
        out.append((tag, pos, neg))
    return out


def run_music_text_evaluation(testset_dir: Path, checkpoints: list[Path], index_dir: Path | None = None) -> str:
    from ..encoders.text import load_text_encoder
    from ..library.store import LibraryStore
    from .testset import load_testset

    testset = load_testset(testset_dir)
    index_dir = index_dir or config.REPO_ROOT / "runs" / "testset_index"
    table = index_testset(testset.folder, index_dir)
    store = LibraryStore(index_dir)
    order = _track_order(store.tracks(), testset.clips)
    store.close()
    text_encoder = load_text_encoder("minilm")
    clip_ids = [c.id for c in testset.clips]
    relevance = np.array([[cid in set(q.relevant) for cid in clip_ids] for q in testset.queries])
    retrieval_rows, tagging_rows, sims = [], [], {}
    for name, space in _spaces(table, text_encoder, checkpoints):
        clips = clip_matrix(space, table, order)
        sim = sims[name] = space.embed_text([q.text for q in testset.queries]) @ clips.T
        retrieval_rows.append({"space": name, **text_to_music_metrics(sim, relevance)})
        if len(sims) > 1:  # ViML appendix C: a weighted sum of two models' similarities
            bridge = next(iter(sims.values()))
            ensemble = ensemble_similarity(bridge, sim, ENSEMBLE_WEIGHT)
            retrieval_rows.append({"space": f"  ensemble {ENSEMBLE_WEIGHT} bridge + {name}",
                                   **text_to_music_metrics(ensemble, relevance)})
        per_cat = zero_shot_tagging_metrics(space, clips, testset.clip_labels(), tuple(testset.categories))
        for category, m in per_cat.items():
            tagging_rows.append({"space": name, "category": category, **m})
    triplets = [
        {"text set": "caption exemplars (hand-written)", "accuracy": triplet_accuracy(text_encoder, exemplar_triplets())},
        {"text set": "data2text descriptions", "accuracy": triplet_accuracy(text_encoder, synthetic_triplets())},
    ]
    n_clips, n_queries = len(testset.clips), int(relevance.any(axis=1).sum())
    return "\n\n".join([
        format_table(retrieval_rows, title=f"Text -> music on {n_clips} test clips, {n_queries} queries "
                     "(R@k = share of queries with a relevant clip in the top k, %)"),
        format_table(tagging_rows, percent=("ROC", "PR"), title="Zero-shot tagging (macro over labels, %)"),
        format_table(triplets, percent=("acc",), title=f"Text triplets, text encoder {text_encoder.name} (%)"),
    ])
