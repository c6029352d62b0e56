"""The "Evaluation" section of a model card, rendered from the checkpoint's metrics.json.

`evaluate music-text --checkpoint DIR` writes DIR/metrics.json and re-renders this section between two
markers, so a card never shows a number the file does not hold (tests re-render and compare). Comparisons
("which space is better", which one ships) are worded from the dev numbers here too (space_choice.py), never typed.
"""
from __future__ import annotations

import re

from .space_choice import rank_measured, read_measured

BEGIN = ("<!-- evaluation: generated from metrics.json by `python -m vml_demo evaluate music-text "
         "--checkpoint DIR`; do not edit by hand -->")
END = "<!-- /evaluation -->"
_BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
SPLIT_ORDER = ("test", "dev")


def _pct(x) -> str:
    return f"{100 * x:.1f}"


def _retrieval_table(rows: list[dict]) -> list[str]:
    out = ["| space | R@1 | R@5 | R@10 | median rank | mAP | hubness skew | top-10 max share |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        hub = r.get("hubness")
        skew, share = (f"{hub['skewness']:.2f}", _pct(hub["max_share"])) if hub else ("", "")
        out.append(f"| {r['space']} | {_pct(r['R@1'])} | {_pct(r['R@5'])} | {_pct(r['R@10'])} | {r['medR']:g} | "
                   f"{r['mAP']:.3f} | {skew} | {share} |")
    return out


def _tagging_table(rows: list[dict]) -> list[str]:
    categories = list(dict.fromkeys(r["category"] for r in rows))
    spaces = list(dict.fromkeys(r["space"] for r in rows))
    cell = {(r["space"], r["category"]): r for r in rows}
    out = ["| space | " + " | ".join(categories) + " |", "|---" * (len(categories) + 1) + "|"]
    for s in spaces:
        out.append(f"| {s} | " + " | ".join(
            f"{_pct(cell[s, c]['ROC-AUC'])} / {_pct(cell[s, c]['PR-AUC'])}" if (s, c) in cell else "" for c in categories)
            + " |")
    return out


def dev_comparison(metrics: dict) -> str:
    """A sentence saying which of this checkpoint's spaces has the best mean dev mAP, worded from the numbers."""
    rows, note = read_measured(metrics)
    ranking = rank_measured(rows)
    if len(ranking.ranked) < 2:
        return "No dev-split numbers: this checkpoint has not been compared with the tag bridge."
    sets = ranking.ranked[0].sets.replace("+", " + ")
    return (f"On the dev split (the one used for choosing), mean mAP over the {sets} sets: {ranking.summary()}; "
            f"{ranking.ranked[0].label} measures best of this checkpoint's spaces." + (f" Note: {note}." if note else ""))


def render_evaluation_section(metrics: dict | None, folder_hint: str = "DIR", shipped: str | None = None) -> str:
    """`shipped`: model/space_choice.shipped_sentence of the checkpoints folder (what VML_SPACE=auto ships)."""
    lines = [BEGIN, "## Evaluation", ""]
    if not metrics:
        lines += [f"Not evaluated yet: run `python -m vml_demo evaluate music-text --split dev --checkpoint "
                  f"{folder_hint}` (and `--split test` to report).", "", END]
        return "\n".join(lines)
    splits = metrics.get("splits", {})
    for split in SPLIT_ORDER:
        if split not in splits:
            continue
        entry = splits[split]
        role = "reported, never tuned on" if split == "test" else "used for choosing the ensemble weight and the space"
        lines += [f"### {split} split ({role})", "",
                  f"`{entry.get('command', '')}`, {entry.get('date', '')}, {entry.get('code_version', '')}.", ""]
        for set_name, result in entry["sets"].items():
            lines += [f"**{set_name} set** ({result['folder']}): {result['clips']} clips, {result['queries']} queries. "
                      "Text -> music (R@k in %, hubness of the top-10 lists):", ""]
            lines += _retrieval_table(result["retrieval"]) + [""]
            if result.get("tagging"):
                lines += ["Zero-shot tagging, macro ROC-AUC / PR-AUC (%):", ""] + _tagging_table(result["tagging"]) + [""]
        for e in entry.get("ensembles", []):
            lines += [f"Ensemble weight: bridge {e['bridge_weight']:g}, tower {1 - e['bridge_weight']:g}, chosen on dev "
                      f"({e['criterion']}).", ""]
    lines += [dev_comparison(metrics), ""] + ([shipped, ""] if shipped else []) + [END]
    return "\n".join(lines)


def replace_evaluation_section(card: str, section: str) -> str:
    """Swap the marked section in; a card without one gets it before Limitations (else Settings, else at the end)."""
    if _BLOCK.search(card):
        return _BLOCK.sub(lambda _: section, card, count=1)
    for heading in ("## Limitations", "## Settings"):
        at = card.find(f"\n{heading}\n")
        if at >= 0:
            return card[: at + 1] + section + "\n\n" + card[at + 1:]
    return card.rstrip("\n") + "\n\n" + section + "\n"


def evaluation_section_of(card: str) -> str | None:
    found = _BLOCK.search(card)
    return found.group(0) if found else None
