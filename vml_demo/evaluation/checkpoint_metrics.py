"""A checkpoint's metrics.json (its rows from `evaluate music-text`, bridge rows beside them) and the model
card's Evaluation section rendered from it.

The file keeps one entry per split, each naming the command that computed it; a run replaces the entry of
the split it reports and keeps the other split's entry only while the weights are the same file. Every
card's section also says which space `VML_SPACE=auto` ships (model/space_choice.py), which depends on every
candidate's metrics.json, so writing one re-renders the cards beside it.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from ..model.checkpoint import CARD_FILE, CONFIG_FILE
from ..model.evaluation_card import render_evaluation_section, replace_evaluation_section
from ..model.music_text_inference import resolve_checkpoint_dir
from ..model.space_choice import METRICS_FILE, shipped_sentence
from .results import dump_json


def checkpoint_rows(result: dict, name: str) -> dict:
    """One set's result reduced to this checkpoint's rows plus the bridge, random and ideal rows (tagging without the
    per-label detail, which the results file keeps: cards and the space choice read the macro means)."""
    keep = lambda r: r["kind"] in ("bridge", "random", "ideal") or r.get("checkpoint") == name  # noqa: E731
    return {**{k: v for k, v in result.items() if k not in ("retrieval", "tagging")},
            "retrieval": [r for r in result["retrieval"] if keep(r)],
            "tagging": [{k: v for k, v in r.items() if k != "per_label"} for r in result["tagging"] if keep(r)]}


def _split_entry(doc: dict, sets: dict, name: str, command: str | None = None) -> dict:
    return {"date": doc["date"], "code_version": doc["code_version"], "command": command or doc["command"],
            "ensembles": [e for e in doc["ensembles"] if e["checkpoint"] == name],
            "sets": {s: checkpoint_rows(r, name) for s, r in sets.items()}}


def build_metrics(doc: dict, name: str, fingerprint: str, previous: dict | None = None) -> dict:
    """A dev run writes the dev entry; a test run writes the test entry, and the dev rows it computed
    (for the ensemble weight) only where no dev entry of these weights exists, saying which run made them."""
    splits = {}
    if previous and previous.get("fingerprint") == fingerprint:
        splits.update(previous.get("splits", {}))
    if doc["split"] == "dev":
        splits["dev"] = _split_entry(doc, doc["sets"], name)
    else:
        splits[doc["split"]] = _split_entry(doc, doc["sets"], name)
        if "dev" not in splits:
            splits["dev"] = _split_entry(doc, doc["dev"], name,
                                         f"dev rows computed by: {doc['command']}" if doc["command"] else "")
    return {"kind": "music_text_checkpoint_metrics", "checkpoint": name, "fingerprint": fingerprint,
            "splits": {s: splits[s] for s in ("dev", "test") if s in splits}}


def card_section(folder: Path, metrics: dict | None) -> str:
    """The Evaluation section of FOLDER's card: its metrics.json, and what `VML_SPACE=auto` ships with the
    checkpoints beside it (for the checkpoint's text encoder, from config.yaml; left out without one)."""
    try:
        encoder = yaml.safe_load((Path(folder) / CONFIG_FILE).read_text(encoding="utf-8"))["features"]["text_encoder"]
    except (OSError, ValueError, KeyError, TypeError):
        encoder = None
    shipped = shipped_sentence(Path(folder).parent, encoder) if encoder else None
    return render_evaluation_section(metrics, shipped=shipped)


def refresh_cards(checkpoints_dir: Path) -> list[Path]:
    """Re-render every card beside a metrics.json in the folder: what auto ships depends on all of them."""
    written = []
    for folder in sorted(p.parent for p in Path(checkpoints_dir).glob(f"*/{METRICS_FILE}")):
        metrics = json.loads((folder / METRICS_FILE).read_text(encoding="utf-8"))
        card = folder / CARD_FILE
        text = card.read_text(encoding="utf-8") if card.is_file() else f"# {folder.name}\n"
        new = replace_evaluation_section(text, card_section(folder, metrics))
        if new != text:
            card.write_text(new, encoding="utf-8")
            written.append(card)
    return written


def write_checkpoint_metrics(checkpoint: Path, doc: dict) -> Path:
    """Write CHECKPOINT/metrics.json from an evaluation object and re-render the Evaluation sections of the
    cards in its folder (this one's numbers, and what auto now ships)."""
    folder = resolve_checkpoint_dir(Path(checkpoint))
    entry = next(c for c in doc["checkpoints"] if c["name"] == Path(checkpoint).name)
    path = folder / METRICS_FILE
    previous = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    metrics = json.loads(dump_json(build_metrics(doc, entry["name"], entry["fingerprint"], previous)))
    path.write_text(dump_json(metrics), encoding="utf-8")
    refresh_cards(folder.parent)
    return path
