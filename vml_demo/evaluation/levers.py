"""The retrieval levers: one registry entry each (what it switches and how), and `evaluate levers`, which
runs the music-text (synthetic + real) and video evaluations with every lever off (baseline), each lever
alone on, and every lever at its shipped default (all chosen), on one split.

A lever switches one setting (vml_demo/settings.py) between an off and an on value, so adding one is one
`Lever(...)` entry here; nothing else changes. The shipped default of each setting is the value chosen on
the dev split (the levers table's dev rows say why); test rows are reported, never chosen on.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from ..settings import Settings, overridden


@dataclass(frozen=True)
class Lever:
    name: str
    env: str  # the setting that switches it
    on: str
    off: str
    what: str  # what it does, for the table

    def default(self) -> str:
        """The shipped value: the setting's default in settings.py."""
        from dataclasses import fields

        return next(f.metadata["default"] for f in fields(Settings) if f.metadata["env"] == self.env)


LEVERS: tuple[Lever, ...] = (
    Lever("calibrated term evidence", "VML_TERM_EVIDENCE", on="calibrated", off="max",
          what="tag bridge: each tagger's term confidence z-scored over the library, softplus, mean over taggers "
               "(off: max of raw confidences over taggers, then z-scored)"),
    Lever("hubness reduction (CSLS)", "VML_HUBNESS", on="csls", off="off",
          what="ranking: each window loses its mean similarity to its 10 nearest vocabulary-term phrases"),
    Lever("hubness reduction (inverted softmax)", "VML_HUBNESS", on="isoftmax", off="off",
          what="ranking: each window loses the log-sum-exp of its similarities to the vocabulary-term phrases"),
    Lever("query in term space", "VML_BRIDGE_QUERY", on="terms", off="embedding",
          what="tag bridge: a text becomes a softmax (T = VML_BRIDGE_QUERY_T) over its cosines to the term phrases, "
               "and texts and windows are term weightings on orthonormal term directions (off: the whole text "
               "embedding against sums of term embeddings)"),
    Lever("sparse window evidence (margin 0.5)", "VML_BRIDGE_MARGIN", on="0.5", off="0",
          what="tag bridge: a window's term z-scores lose 0.5 before negatives are cut, so only clearly present "
               "terms count (margin chosen on dev among 0.5, 1, 2)"),
    Lever("tempo terms from BPM", "VML_BRIDGE_TEMPO", on="bpm", off="tagger",
          what="tag bridge: fast / medium tempo / slow also read from each track's BPM (slow < ~90, fast > ~125; "
               "max with MTT's fast/slow tags)"),
)


def configurations() -> list[tuple[str, dict[str, str]]]:
    """(row name, settings) for the baseline, each lever alone, the shipped defaults, and the shipped defaults
    with each lever flipped: levers interact (hubness reduction was judged with embedding queries only), so
    each is also judged against what ships, not only against the baseline."""
    base = {lv.env: lv.off for lv in LEVERS}
    shipped = {lv.env: lv.default() for lv in LEVERS}
    rows = [("baseline (every lever off)", base)]
    rows += [(f"+ {lv.name}", {**base, lv.env: lv.on}) for lv in LEVERS]
    rows.append(("all chosen (shipped defaults)", shipped))
    for lv in LEVERS:
        if shipped[lv.env] == lv.on:
            rows.append((f"shipped, without {lv.name}", {**shipped, lv.env: lv.off}))
        elif shipped[lv.env] == lv.off:
            rows.append((f"shipped + {lv.name}", {**shipped, lv.env: lv.on}))
    return rows


def _music_text_cells(doc: dict) -> dict:
    cells = {}
    for set_name, result in doc["sets"].items():
        for r in result["retrieval"]:
            if r["kind"] in ("bridge", "tower", "ensemble"):
                cells[f"{set_name} mAP {r['kind']}"] = r["mAP"]
            if r["kind"] == "bridge":
                cells[f"{set_name} top-10 max share"] = r["hubness"]["max_share"]
                cells[f"{set_name} hub skew"] = r["hubness"]["skewness"]
        for t in result["tagging"]:
            if t["kind"] == "bridge" and t["category"] == "genre":
                cells[f"{set_name} genre ROC-AUC"] = t["ROC-AUC"]
    return cells


def _video_cells(doc: dict) -> dict:
    return {f"video fit@5 {pool}": m["fit@5"] for pool, r in doc["pools"].items() for m in r["mean"]
            if m["space"] == "tag bridge"} | {f"video random {pool}": m["random"] for pool, r in doc["pools"].items()
                                               for m in r["mean"] if m["space"] == "tag bridge"}


def evaluate_levers(split: str, checkpoints: list[Path], *, command: str = "", progress: bool = False,
                    video: bool = True, **paths) -> dict:
    from ..model.checkpoint import code_version
    from .music_text_report import evaluate_music_text
    from .video_eval import evaluate_video

    described: dict = {}  # the videos' words do not depend on any lever: described once
    tables: dict = {}  # nor do the indexed sets: indexed and loaded once
    rows, done = [], {}  # a flipped row can repeat a lever-alone row's settings (two levers on): reuse its cells
    for name, values in configurations():
        key = tuple(sorted(values.items()))
        if key in done:
            rows.append({**done[key], "row": name})
            continue
        with overridden(values):
            doc = evaluate_music_text(split, checkpoints, progress=progress, triplets=False, tables=tables, **paths)
            cells = _music_text_cells(doc)
            ensembles = {e["tower"]: e["bridge_weight"] for e in doc["ensembles"]}
            if video:
                cells |= _video_cells(evaluate_video(split, progress=progress, described=described, tables=tables,
                                                     testset_dir=paths.get("testset_dir"),
                                                     realset_dir=paths.get("realset_dir"),
                                                     index_cache=paths.get("index_cache")))
        rows.append({"row": name, "settings": values, "ensemble_bridge_weight": ensembles, **cells})
        done[key] = rows[-1]
    return {"kind": "lever_evaluation", "split": split,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "code_version": code_version(),
            "command": command, "checkpoints": [Path(c).name for c in checkpoints],
            "levers": [{"name": lv.name, "setting": lv.env, "on": lv.on, "off": lv.off, "default": lv.default(),
                        "what": lv.what} for lv in LEVERS],
            "rows": rows}


COLUMNS = ("synthetic mAP bridge", "synthetic mAP tower", "synthetic mAP ensemble", "synthetic genre ROC-AUC",
           "synthetic top-10 max share", "real mAP bridge", "real mAP tower", "real mAP ensemble",
           "real top-10 max share", "video fit@5 synthetic", "video fit@5 real")


def format_levers(doc: dict) -> str:
    from ..model.metrics import format_table

    rows = [{"row": r["row"], **{c: r.get(c) for c in COLUMNS if c in r}} for r in doc["rows"]]
    return format_table(rows, title=f"Levers, {doc['split']} split")
