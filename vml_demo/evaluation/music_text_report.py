"""`evaluate music-text`: the music-text spaces (tag bridge, trained towers, their ensembles) measured on the
labelled sets, the synthetic (MIDI-rendered) and the real-music one, each reported separately.

1. Text -> music retrieval on one split: R@1/5/10, median rank, mAP, hubness, beside a random ranking.
2. Zero-shot tagging (MuLan): macro ROC-AUC / PR-AUC per category.
3. Text triplets (MuLan): does the text encoder put a tag closer to a description that has it than to one
   that does not? On the hand-written caption exemplars and on synthesised data2text descriptions.
The ensemble of bridge + tower (ViML appendix C) is the product's EnsembleSpace (search/ensemble_space.py),
ranked like every other space, so its rows are what search with it gives. Its weight is chosen on the DEV
split, whatever split is reported, and recorded with the mAP of every weight tried.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import config
from ..encoders.base import l2_normalize
from ..errors import VmlError
from ..model.metrics import format_table
from ..model.space_choice import ENSEMBLE_SCORING
from .hubness import random_hubness
from .music_text_eval import (clip_matrix, index_testset, query_scores, text_to_music_metrics,
                              zero_shot_tagging_metrics)
from .random_baseline import random_ranking_metrics

log = logging.getLogger(__name__)

SET_DIRS = {"synthetic": config.REPO_ROOT / "data" / "testset", "real": config.REPO_ROOT / "data" / "realset"}
DEFAULT_INDEX_DIRS = {"synthetic": config.REPO_ROOT / "runs" / "testset_index",
                      "real": config.REPO_ROOT / "runs" / "realset_index"}
ENSEMBLE_WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))  # weight of the bridge; 1 - w of the tower
SPLITS = ("dev", "test")


@dataclass
class _Space:
    name: str
    kind: str  # "bridge" | "tower" | "ensemble"
    checkpoint: str | None
    space: object
    bridge_weight: float | None = None  # ensembles only


@dataclass
class _Prepared:
    """One labelled set, indexed, with every space's window embeddings and per-split query scores."""
    name: str
    folder: Path
    table: object
    track_of: dict[str, int]  # clip id -> track id in the set's index
    spaces: list[_Space]
    window_emb: dict[str, np.ndarray]


def _track_ids(db_dir: Path, clips) -> dict[str, int]:
    from ..library.store import LibraryStore

    store = LibraryStore(db_dir)
    try:
        by_name = {Path(t.abs_path).name: t.id for t in store.tracks()}
    finally:
        store.close()
    missing = [c.path.name for c in clips if c.path.name not in by_name]
    if missing:
        raise VmlError(f"clips missing from the index {db_dir} (damaged files?): {', '.join(missing[:5])}")
    return {c.id: by_name[c.path.name] for c in clips}


def _prepare(name: str, folder: Path, index_dir: Path, text_encoder, checkpoints: list[Path],
             progress: bool, tables: dict | None = None) -> _Prepared:
    from ..search.spaces import TagBridgeSpace, TrainedSpace
    from .testset import load_testset

    everything = load_testset(folder)
    table = index_testset(everything.folder, index_dir, show_progress=progress, tables=tables)
    spaces = [_Space("tag bridge", "bridge", None, TagBridgeSpace(text_encoder, table))]
    spaces += [_Space(f"tower {c.name}", "tower", c.name, TrainedSpace(text_encoder, c, table)) for c in checkpoints]
    return _Prepared(name, everything.folder, table, _track_ids(index_dir, everything.clips), spaces,
                     {s.name: s.space.window_embeddings(table) for s in spaces})


def _split_view(prep: _Prepared, split: str):
    """(test set view, its clips' track ids in order, its query texts) of one split."""
    from .testset import load_testset

    view = load_testset(prep.folder, split=split)
    return view, [prep.track_of[c.id] for c in view.clips], [q.text for q in view.queries]


def _split_scores(prep: _Prepared, split: str):
    """(test set view, {space name: [queries, clips] scores}, relevance, ignore) for one split."""
    view, order, texts = _split_view(prep, split)
    scores = {s.name: query_scores(s.space, prep.window_emb[s.name], prep.table, order, texts) for s in prep.spaces}
    ids = [c.id for c in view.clips]
    relevance = np.array([[i in set(q.relevant) for i in ids] for q in view.queries], dtype=bool)
    ignore = np.array([[i in set(q.ignore) for i in ids] for q in view.queries], dtype=bool)
    return view, scores, relevance.reshape(len(texts), len(ids)), ignore.reshape(len(texts), len(ids))


def _random_row(relevance: np.ndarray, ignore: np.ndarray) -> dict:
    sizes = [(int((~ig | rel).sum()), int(rel.sum())) for rel, ig in zip(relevance, ignore & ~relevance)]
    queries = int(relevance.any(axis=1).sum())  # the queries the metrics keep (at least one relevant clip)
    return {"space": "random ranking (expected)", "kind": "random", "checkpoint": None,
            **random_ranking_metrics(sizes), "hubness": random_hubness(queries, relevance.shape[1])}


def _ideal_row(relevance: np.ndarray, ignore: np.ndarray) -> dict:
    """A perfect ranking (every relevant clip first): R@k and mAP are 1 by definition; its hubness is what the
    labels alone force, the floor any real ranking's top-10 max share is read against."""
    keep = relevance.any(axis=1)
    metrics = text_to_music_metrics(relevance.astype(np.float64), relevance, ignore)
    return {"space": "ideal ranking (relevant first)", "kind": "ideal", "checkpoint": None, **metrics,
            "hubness": random_hubness(int(keep.sum()), relevance.shape[1], relevance=relevance[keep])}


def _ensemble(prep: _Prepared, tower: _Space, weight: float) -> tuple[_Space, np.ndarray]:
    """The EnsembleSpace of the bridge and `tower` at `weight`, and its window vectors (joined from the parts')."""
    from ..search.ensemble_space import EnsembleSpace

    bridge = prep.spaces[0]
    space = EnsembleSpace(bridge.space, next(s.space for s in prep.spaces if s.name == tower.name), weight)
    entry = _Space(f"ensemble {weight:g} bridge + {tower.name}", "ensemble", tower.checkpoint, space, weight)
    return entry, space.join(prep.window_emb[bridge.name], prep.window_emb[tower.name])


def _ensemble_scores(prep: _Prepared, split: str, tower: _Space, weight: float) -> np.ndarray:
    entry, emb = _ensemble(prep, tower, weight)
    _, order, texts = _split_view(prep, split)
    return query_scores(entry.space, emb, prep.table, order, texts)


def choose_ensemble_weights(preps: list[_Prepared], dev: dict[str, tuple], towers: list[_Space]) -> list[dict]:
    """Per tower, the bridge weight with the best mean dev mAP over the sets (ties: the larger bridge weight),
    each weight's ensemble ranked as search ranks it."""
    out = []
    for tower in towers:
        by_weight = {}
        for w in ENSEMBLE_WEIGHTS:
            maps = [text_to_music_metrics(_ensemble_scores(p, "dev", tower, w), *dev[p.name][2:])["mAP"] for p in preps]
            by_weight[w] = float(np.mean(maps))
        best = max(ENSEMBLE_WEIGHTS, key=lambda w: (round(by_weight[w], 12), w))
        out.append({"checkpoint": tower.checkpoint, "tower": tower.name, "bridge_weight": best, "chosen_on": "dev",
                    "criterion": f"mean dev mAP over the {'+'.join(dev)} sets", "scoring": ENSEMBLE_SCORING,
                    "dev_mAP_by_weight": {str(w): m for w, m in by_weight.items()}})
    return out


def add_ensembles(prep: _Prepared, ensembles: list[dict]) -> None:
    """The chosen ensembles become spaces of the set like the others (retrieval and tagging rows)."""
    for e in ensembles:
        tower = next(s for s in prep.spaces if s.name == e["tower"])
        entry, emb = _ensemble(prep, tower, e["bridge_weight"])
        prep.spaces.append(entry)
        prep.window_emb[entry.name] = emb


def add_shipped_space(prep: _Prepared, text_encoder) -> None:
    """The space `VML_SPACE=auto` ships (read from the candidate towers' metrics.json), unless it is the bridge
    or already one of the set's spaces: an evaluation of the product's path (video) then covers what ships."""
    from ..model.space_choice import candidate_checkpoints, rank_spaces
    from ..search.spaces import build_measured

    best = rank_spaces(candidate_checkpoints(config.CHECKPOINTS_DIR, text_encoder.name)).best()
    if best is None or best.kind == "bridge" or best.label in {s.name for s in prep.spaces}:
        return
    try:
        space = build_measured(best, prep.table, text_encoder)
    except VmlError as err:  # a set indexed with other encoders: the product would not ship it there either
        log.warning("%s not evaluated on the %s set: %s", best.label, prep.name, err)
        return
    prep.spaces.append(_Space(best.label, best.kind, best.checkpoint, space, best.bridge_weight))
    prep.window_emb[best.label] = space.window_embeddings(prep.table)


def _retrieval_rows(spaces: list[_Space], scores: dict, relevance, ignore) -> list[dict]:
    rows = []
    for s in spaces:
        weight = {} if s.bridge_weight is None else {"bridge_weight": s.bridge_weight}
        rows.append({"space": s.name, "kind": s.kind, "checkpoint": s.checkpoint, **weight,
                     **text_to_music_metrics(scores[s.name], relevance, ignore)})
    rows.append(_random_row(relevance, ignore))
    rows.append(_ideal_row(relevance, ignore))
    return rows


def _tagging_rows(prep: _Prepared, view) -> list[dict]:
    order = [prep.track_of[c.id] for c in view.clips]
    rows = []
    for s in prep.spaces:
        clips = clip_matrix(s.space, prep.table, order)
        for category, m in zero_shot_tagging_metrics(s.space, clips, view.clip_labels(), tuple(view.categories)).items():
            rows.append({"space": s.name, "kind": s.kind, "checkpoint": s.checkpoint, "category": category, **m})
    return rows


def _set_result(prep: _Prepared, split_data: tuple) -> dict:
    view, scores, relevance, ignore = split_data
    return {"folder": str(prep.folder.relative_to(config.REPO_ROOT)) if prep.folder.is_relative_to(config.REPO_ROOT)
            else prep.folder.name,
            "clips": len(view.clips), "queries": len(view.queries),
            "retrieval": _retrieval_rows(prep.spaces, scores, relevance, ignore),
            "tagging": _tagging_rows(prep, view)}


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


def _set_dirs(which: str, testset_dir: Path | None, realset_dir: Path | None) -> dict[str, Path]:
    dirs = {"synthetic": Path(testset_dir or SET_DIRS["synthetic"]), "real": Path(realset_dir or SET_DIRS["real"])}
    wanted = ("synthetic", "real") if which == "all" else (which,)
    out = {}
    for name in wanted:
        if (dirs[name] / "labels.json").is_file() and (dirs[name] / "queries.json").is_file():
            out[name] = dirs[name]
        elif which != "all":
            raise VmlError(f"no labelled {name} set at {dirs[name]} (labels.json and queries.json are needed)")
        else:
            log.warning("no labelled %s set at %s: skipped", name, dirs[name])
    if not out:
        raise VmlError("no labelled evaluation set found")
    return out


def evaluate_music_text(split: str, checkpoints: list[Path], *, which: str = "all", testset_dir: Path | None = None,
                        realset_dir: Path | None = None, index_cache: Path | None = None, command: str = "",
                        progress: bool = True, triplets: bool = True, tables: dict | None = None) -> dict:
    """One JSON-ready object: per set, the retrieval and tagging rows of `split`; the dev-chosen ensemble
    weights; `dev` holds the dev split's rows too (spaces are chosen on them)."""
    from ..encoders.text import load_text_encoder
    from ..model.checkpoint import code_version

    if split not in SPLITS:
        raise VmlError(f"unknown split {split!r}: use dev or test")
    sets = _set_dirs(which, testset_dir, realset_dir)  # before loading models: a wrong folder fails fast
    text_encoder = load_text_encoder("minilm")
    preps = []
    for name, folder in sets.items():
        index_dir = Path(index_cache) / name if index_cache else DEFAULT_INDEX_DIRS[name]
        preps.append(_prepare(name, folder, index_dir, text_encoder, checkpoints, progress, tables))
    dev = {p.name: _split_scores(p, "dev") for p in preps}
    towers = [s for s in preps[0].spaces if s.kind == "tower"]
    ensembles = choose_ensemble_weights(preps, dev, towers)
    for p in preps:
        add_ensembles(p, ensembles)
    dev = {p.name: _split_scores(p, "dev") for p in preps}  # again, now with the chosen ensembles
    doc = {
        "kind": "music_text_evaluation", "split": split,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "code_version": code_version(), "command": command, "text_encoder": text_encoder.name,
        "checkpoints": [{"name": t.checkpoint, "fingerprint": t.space.tower.fingerprint} for t in towers],
        "ensembles": ensembles,
        "sets": {p.name: _set_result(p, dev[p.name] if split == "dev" else _split_scores(p, split)) for p in preps},
    }
    if split != "dev":
        doc["dev"] = {p.name: _set_result(p, dev[p.name]) for p in preps}
    if triplets:
        doc["triplets"] = [
            {"text set": "caption exemplars (hand-written)", "accuracy": triplet_accuracy(text_encoder, exemplar_triplets())},
            {"text set": "data2text descriptions", "accuracy": triplet_accuracy(text_encoder, synthetic_triplets())},
        ]
    return doc


def _flat(row: dict) -> dict:
    out = {k: v for k, v in row.items() if k not in ("kind", "checkpoint", "hubness", "bridge_weight", "per_label")}
    if "hubness" in row:
        out["hub skew"] = row["hubness"]["skewness"]
        out["hub max%"] = 100 * row["hubness"]["max_share"]
    return out


def format_music_text(doc: dict) -> str:
    parts = []
    for name, result in doc["sets"].items():
        parts.append(format_table([_flat(r) for r in result["retrieval"]],
                                  title=f"Text -> music, {name} set, {doc['split']} split: {result['clips']} clips, "
                                        f"{result['queries']} queries (R@k in %; hub = top-10 k-occurrence)"))
        parts.append(format_table([_flat(r) for r in result["tagging"]], percent=("ROC", "PR"),
                                  title=f"Zero-shot tagging, {name} set, {doc['split']} split (macro over labels, %)"))
    for e in doc["ensembles"]:
        parts.append(f"ensemble weight for {e['tower']}: bridge {e['bridge_weight']:g}, chosen on dev ({e['criterion']})")
    if doc.get("triplets"):
        parts.append(format_table(doc["triplets"], percent=("acc",), title=f"Text triplets, text encoder {doc['text_encoder']} (%)"))
    return "\n\n".join(parts)
