"""Which music-text space ships: the one with the best mean dev mAP in the candidate checkpoints' metrics.json.

`VML_SPACE=auto` (search/spaces.py), the model cards (evaluation_card.py) and the README word the choice from
here, so the app, `info`, the cards and the README say the same thing with the same numbers. The candidates
are the tag bridge, each candidate checkpoint's tower and its ensemble with the bridge at the dev-chosen
weight. Only dev numbers are read (choosing is tuning), and only from a metrics.json whose fingerprint is
the checkpoint's weights. Each candidate is compared with the tag bridge row of its own file (its gain over
the bridge), so files from different evaluation runs still compare fairly.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..media.hashing import file_sha256

METRICS_FILE = "metrics.json"  # written into a checkpoint folder by `evaluate music-text --checkpoint`
# auto considers music_text_<text encoder> (the default tower, what VML_SPACE=trained loads) and
# music_text_<text encoder>_realtext (the same recipe with weak real text at the ratio chosen on dev);
# the _synthtext ablation (ratio 0) lost that dev sweep and is not a candidate.
AUTO_CHECKPOINT_SUFFIXES = ("", "_realtext")
# The `scoring` of an ensembles entry whose rows were ranked through search/ensemble_space.py, i.e. exactly
# as the product would rank with that ensemble; older files averaged per-clip scores, which it does not ship.
ENSEMBLE_SCORING = "ensemble_space"
_KIND_ORDER = {"bridge": 0, "tower": 1, "ensemble": 2}  # ties go to the simpler space


def candidate_checkpoints(checkpoints_dir: Path, text_encoder_name: str) -> list[Path]:
    return [Path(checkpoints_dir) / f"music_text_{text_encoder_name}{s}" for s in AUTO_CHECKPOINT_SUFFIXES]


@dataclass(frozen=True)
class Measured:
    """One space's mean dev mAP over the evaluation sets, and the tag bridge's in the same file."""
    kind: str  # "bridge" | "tower" | "ensemble"
    checkpoint: str | None  # the tower's folder name
    folder: Path | None
    bridge_weight: float | None  # ensembles only
    dev_map: float
    bridge_map: float
    sets: str  # e.g. "synthetic+real"
    test_map: float | None = None  # the same space's mean test mAP, when the file has a test entry: reported only

    @property
    def label(self) -> str:
        if self.kind == "bridge":
            return "tag bridge"
        if self.kind == "tower":
            return f"tower {self.checkpoint}"
        return f"ensemble {self.bridge_weight:g} bridge + tower {self.checkpoint}"

    @property
    def gain(self) -> float:
        return 0.0 if self.kind == "bridge" else self.dev_map - self.bridge_map


def _mean_maps(sets: dict) -> dict[tuple, list[float]]:
    """(kind, bridge weight) -> the mAP of that space in each set of one split entry."""
    maps: dict[tuple, list[float]] = {}
    for result in sets.values():
        for row in result["retrieval"]:
            if row["kind"] in _KIND_ORDER:
                maps.setdefault((row["kind"], row.get("bridge_weight")), []).append(float(row["mAP"]))
    return maps


def read_measured(metrics: dict, folder: Path | None = None) -> tuple[list[Measured], str | None]:
    """(the bridge, tower and shippable ensemble rows of one metrics.json's dev entry, a note or None)."""
    try:
        dev = metrics["splits"]["dev"]
        sets = dev["sets"]
        maps = _mean_maps(sets)
        test = _mean_maps(metrics["splits"].get("test", {}).get("sets", {}))
        scorings = {e["bridge_weight"]: e.get("scoring") for e in dev.get("ensembles", [])}
    except (KeyError, TypeError, AttributeError):
        return [], "no dev-split rows"
    bridge = maps.get(("bridge", None), [])
    if not bridge or any(len(v) != len(bridge) for v in maps.values()):
        return [], "no dev-split rows for every set"
    name, names = metrics.get("checkpoint"), "+".join(sets)

    def measured(kind: str, weight: float | None, values: list[float]) -> Measured:
        tested = test.get((kind, weight))
        return Measured(kind, None if kind == "bridge" else name, None if kind == "bridge" else folder, weight,
                        float(np.mean(values)), float(np.mean(bridge)), names,
                        float(np.mean(tested)) if tested and len(tested) == len(values) else None)

    stale = [w for (kind, w) in maps if kind == "ensemble" and scorings.get(w) != ENSEMBLE_SCORING]
    out = [measured(kind, w, v) for (kind, w), v in maps.items() if not (kind == "ensemble" and w in stale)]
    note = (f"the ensemble rows of {name} were scored per clip, not as the ensemble space ranks: re-run "
            f"`python -m vml_demo evaluate music-text --split dev --checkpoint {folder or name}`") if stale else None
    return out, note


def load_measured(folder: Path) -> tuple[list[Measured], str | None]:
    """read_measured of FOLDER/metrics.json, or ([], why not) when missing, unreadable or of other weights."""
    folder = Path(folder)
    path = folder / METRICS_FILE
    rerun = f"run `python -m vml_demo evaluate music-text --split dev --checkpoint {folder}`"
    if not (folder / "checkpoint.pt").is_file():
        return [], f"{folder.name} not used: no checkpoint at {folder}"
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [], f"{folder.name} is unmeasured (no {METRICS_FILE}; {rerun})"
    except (OSError, ValueError) as err:
        return [], f"{folder.name} not used: its {METRICS_FILE} is unreadable ({err})"
    if metrics.get("fingerprint") != file_sha256(folder / "checkpoint.pt", 12):
        return [], f"{folder.name} not used: its {METRICS_FILE} measured other weights ({rerun})"
    rows, note = read_measured(metrics, folder)
    if not rows:
        return [], f"{folder.name} is unmeasured ({note}; {rerun})"
    return rows, note


@dataclass
class Ranking:
    ranked: list[Measured]  # best gain over the bridge first; the tag bridge is in it once
    notes: list[str]  # candidates left out, and why

    def summary(self) -> str:
        """Every candidate's mean dev mAP, best first (the bridge's from the file of the best)."""
        if not self.ranked:
            return "no candidate has dev numbers"
        return ", ".join(f"{m.label} {m.dev_map:.3f}" for m in self.ranked)

    def best(self, kind: str | None = None) -> Measured | None:
        return next((m for m in self.ranked if kind is None or m.kind == kind), None)


def rank_spaces(folders: list[Path]) -> Ranking:
    """The candidates of these checkpoint folders ordered by their dev gain over the tag bridge."""
    rows, notes = [], []
    for folder in folders:
        found, note = load_measured(folder)
        rows += found
        notes += [note] if note else []
    return rank_measured(rows, notes)


def rank_measured(rows: list[Measured], notes: list[str] | None = None) -> Ranking:
    bridges = [m for m in rows if m.kind == "bridge"]
    others = [m for m in rows if m.kind != "bridge"]
    ranked = sorted(others, key=lambda m: (-round(m.gain, 9), _KIND_ORDER[m.kind], m.checkpoint or ""))
    if bridges:  # one bridge row: the one the best candidate was compared with
        bridge_map = ranked[0].bridge_map if ranked else bridges[0].dev_map
        bridge = next((b for b in bridges if b.dev_map == bridge_map), bridges[0])
        at = next((i for i, m in enumerate(ranked) if m.gain <= 0), len(ranked))  # ties: the bridge first
        ranked.insert(at, bridge)
    return Ranking(ranked, list(notes or []))


def choice_sentence(chosen: Measured | None, ranking: Ranking) -> str:
    """Why `chosen` ships, with the numbers read (what the app's notes, `info` and the cards show)."""
    if chosen is None or not ranking.ranked:
        return "tag bridge in use: no candidate checkpoint has dev numbers to choose by"
    sets = ranking.ranked[0].sets
    why = ("the best" if chosen is ranking.ranked[0] else "not the best, but the best that loads here") if \
        len(ranking.ranked) > 1 else "the only one measured"
    return (f"{chosen.label} in use: {why} mean dev mAP over the {sets} sets in the candidate checkpoints' "
            f"{METRICS_FILE} ({ranking.summary()})")


def shipped_sentence(checkpoints_dir: Path, text_encoder_name: str) -> str:
    """What `VML_SPACE=auto` ships with these checkpoints, as the model cards and README say it."""
    folders = candidate_checkpoints(checkpoints_dir, text_encoder_name)
    ranking = rank_spaces(folders)
    names = " and ".join(f.name for f in folders)
    text = (f"`VML_SPACE=auto` compares the tag bridge, the towers {names} and their ensembles on dev: "
            + choice_sentence(ranking.best(), ranking) + ".")
    return text + "".join(f" Left out: {n}." for n in ranking.notes)
