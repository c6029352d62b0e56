"""Markdown shown in the app: the search summary, one card per result, the engine's status, index reports.

Text that comes from users or files (titles, queries, file names) is escaped so it cannot inject markup.
"""
from __future__ import annotations

import html
import os
import re
import tempfile
from pathlib import Path

from ..search.breakdown import fit_summary

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")
_ABS_PATH = re.compile(r"(?<![\w:/.~])/(?:[\w.+@-]+/)+[\w.+@-]*")

TIMING_LABELS = {
    "text_encoding": "text", "video_decoding": "video decoding", "video_encoding": "video", "search": "ranking",
}


def md_escape(text: str) -> str:
    """Escape Markdown and HTML so user text shows as typed."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))


def public_text(text: str, *folders: str | os.PathLike) -> str:
    """`text` with server paths cut down to what a visitor may see.

    Paths under the app's folder, `folders` (e.g. the libraries dir) or the temp dir lose
    that prefix; any other absolute path is cut to its last part (a file name says enough in a message).
    """
    from .. import config

    text = str(text)
    for prefix in (config.REPO_ROOT, *folders, tempfile.gettempdir()):
        text = text.replace(str(prefix).rstrip(os.sep) + os.sep, "")
    return _ABS_PATH.sub(lambda m: Path(m.group(0)).name or m.group(0), text)


def clock(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def search_summary(record) -> str:
    """One paragraph on what ran: the query, the route (text / zero-shot video / ViML), the space, timings."""
    response = record.response
    parts = []
    if record.query_text:
        parts.append(f"“{md_escape(record.query_text)}”")
    like = getattr(response, "like", None)
    if record.video_name and not like:
        weight = f" (video weight {record.video_weight:.2f})" if record.query_text else ""
        parts.append(f"video **{md_escape(record.video_name)}**{weight}")
    if like:
        parts.insert(0, f"more like **{md_escape(like['title'])}**")
        if record.video_name:
            parts.append(f"previewed with **{md_escape(record.video_name)}**")
    n = len(response.results)
    head = f"**{n} result{'s' if n != 1 else ''}** for " + " + ".join(parts) if parts else f"**{n} results**"
    lines = [head]
    if getattr(response, "refine", ""):
        lines.append(f"Refined: {md_escape(response.refine)} (the track and your words in the music space)")
    if getattr(response, "filter_report", None):
        lines.append("Filters: " + "; ".join(md_escape(f) for f in response.filter_report))
    if getattr(response, "prefer_instrumental", False):
        why = " (the video has speech)" if response.speech_score else ""
        lines.append(f"Preferring instrumental tracks{why}: tracks with vocals rank lower")
    lines.append(f"Search route: `{response.route}` · music space: `{response.space}` · library: `{record.library}`")
    if response.video_description:
        lines.append(f"The video reads as: *{md_escape(response.video_description)}*")
        seen = response.video_lines()
        if seen:
            lines.append("What it saw and heard:\n" + "\n".join(f"- {md_escape(s)}" for s in seen))
    if response.negated:
        lines.append("Avoiding: " + ", ".join(md_escape(t) for t in response.negated))
    if response.timings:
        total = sum(response.timings.values())
        detail = ", ".join(f"{TIMING_LABELS.get(k, k.replace('_', ' '))} {v:.2f} s"
                           for k, v in response.timings.items())
        lines.append(f"Took {total:.2f} s ({detail})")
    if not response.results:
        lines.append("The library is empty: index some music first.")
    return "\n\n".join(lines)


def result_card(result) -> str:
    """Title, artist, score, the tags that explain the match, and the credit the track's license asks for."""
    title = f"### {result.rank}. {md_escape(result.title)}"
    if result.artist:
        title += f" — {md_escape(result.artist)}"
    tempo = f" · {result.bpm:.0f} BPM" if result.bpm else ""
    lines = [title,
             f"score **{result.score:.3f}** · best match from {clock(result.start_s)} of {clock(result.duration_s)}"
             f"{tempo}"]
    if result.why:
        lines.append("Matches your words: " + " ".join(f"`{md_escape(w)}`" for w in result.why))
    if result.tags:
        lines.append("Sounds like: " + " ".join(f"`{md_escape(t)}`" for t in result.tags))
    if result.fit:
        lines.append("Why: " + md_escape(fit_summary(result.fit)))
    credit = md_escape(result.license) if result.license else "license unknown"
    if result.attribution:
        credit += f" · {md_escape(result.attribution)}"
    lines.append(f"<small>{credit}</small>")
    return "\n\n".join(lines)


def fit_line(rank: int, title: str, plan) -> str:
    """One line per preview: where the music starts, how its beats meet the cuts next to the plain offset."""
    line = f"- {rank}. {md_escape(title)}: from {clock(plan.offset_s)}"
    if plan.chosen.cuts:
        line += (f", cuts on a downbeat {plan.chosen.downbeat_share:.0%} / on a beat {plan.chosen.beat_share:.0%}"
                 f" (best-window offset: {plan.plain.downbeat_share:.0%} / {plan.plain.beat_share:.0%})")
    extra = [n for n in plan.notes if n.startswith(("the track is shorter", "no beat", "no bars", "music ducked",
                                                    "the video is shorter"))]
    return line + (f"; {'; '.join(extra)}" if extra else "")


def engine_status(status: dict, loaded_s: float | None = None) -> str:
    """Which encoders and model are active (offline or CLIP, CPU or GPU), and why."""
    device = str(status.get("device", "?"))
    device_label = "GPU" if device.startswith("cuda") else "CPU"
    lines = [
        f"**Library** `{md_escape(status.get('library_name', status.get('library', '')))}`: "
        f"{status.get('tracks', 0)} tracks, {status.get('hours', 0)} h",
        f"**Profile** `{status.get('profile', '?')}` on **{device_label}** (`{device}`)",
        f"**Encoders** text: `{status.get('text_encoder', '?')}` · video: `{status.get('video_encoder', '?')}`",
        f"**Music space** {md_escape(status.get('music_space', '?'))}",
        f"**Video model** {md_escape(status.get('video_model', '?'))}",
    ]
    if loaded_s is not None:
        lines.append(f"Loaded in {loaded_s:.1f} s")
    notes = [n for n in status.get("notes", []) if n]
    if notes:
        lines.append("**Why:**\n" + "\n".join(f"- {md_escape(n)}" for n in notes))
    return "\n\n".join(lines)


def index_report(outcome, elapsed_s: float) -> str:
    lines = [f"Library **{md_escape(outcome.name)}** indexed in {elapsed_s:.0f} s: {md_escape(outcome.summary)}; "
             f"{outcome.tracks} tracks in all."]
    if outcome.failed:
        shown = outcome.failed[:10]
        lines.append("Skipped files:\n" + "\n".join(f"- {md_escape(p)}: {md_escape(m)}" for p, m in shown))
        if len(outcome.failed) > len(shown):
            lines.append(f"... and {len(outcome.failed) - len(shown)} more")
    return "\n\n".join(lines)
