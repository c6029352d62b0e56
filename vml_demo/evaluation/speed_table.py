"""README's speed table: issue 13's goals beside the latest figures the speed benchmarks wrote to results/.

Each row reads one benchmark's JSON (its command, date, code version and load average come from the same file),
so README quotes no hand-typed timing. A benchmark whose file is missing says so in its row.
"""
from __future__ import annotations

from pathlib import Path

from .results import load_json


def _load(results_dir: Path, name: str) -> dict | None:
    path = Path(results_dir) / name
    return load_json(path) if path.is_file() else None


def _cli(doc: dict, key: str) -> tuple[float, str]:
    c = doc[key]
    return c["wall_s_median"], f"{c['wall_s_median']:.2f} s wall, {c['cpu_s_median']:.2f} s CPU (median of {len(c['runs'])})"


def _rows(results_dir: Path) -> list[tuple[str, str, str, dict | None, float | None, float]]:
    """(what, measured, goal, source doc, value, goal value) per row; a goal is met when value < goal value (speed
    in x real time is negated for that)."""
    out = []
    idx = _load(results_dir, "index_speed.json")
    if idx:
        out.append(("indexing, whole bundled library, fresh folder (rhythm included)",
                    f"{idx['x_real_time']:.1f}x real time, {idx['cpu_s_per_audio_min']:.2f} CPU s per audio minute, "
                    f"peak {idx['peak_rss_gib']:.2f} GiB", ">= 60x", idx, -idx["x_real_time"], -60.0))
    txt = _load(results_dir, "search_latency.json")
    if txt:
        value, text = _cli(txt, "cold_cli_cached")
        out.append(("one CLI text search, cold process (derived files cached)", text, "< 2 s", txt, value, 2.0))
        value, text = _cli(txt, "cold_cli_uncached")
        out.append(("one CLI text search, cold process, first after indexing (no derived files)", text, "", txt, value, 0))
    vid = _load(results_dir, "video_query_latency.json")
    if vid:
        value, text = _cli(vid, "cold_cli")
        out.append(("30 s 720p video + text, whole CLI process", text, "< 4 s", vid, value, 4.0))
    app = _load(results_dir, "app_cold_start.json")
    if app:
        m = app["medians"]
        out.append(("app: first page, from process start", f"{m['page_s']:.2f} s (median)", "< 5 s", app, m["page_s"], 5.0))
        out.append(("app: first search, from process start", f"{m['first_search_s']:.2f} s (median; "
                    f"{m['first_search_after_page_s']:.2f} s after the page)", "< 3 s", app, m["first_search_s"], 3.0))
    big = _load(results_dir, "catalogue_scale_1m.json")
    if big:
        lat, mem = big["latency_ms"], big["memory_queries"]
        out.append((f"text query at {big['tracks'] / 1e6:g}M simulated tracks ({big['windows'] / 1e6:.1f}M windows)",
                    f"p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms wall (CPU p50 {lat['cpu_p50']:.0f} ms); "
                    f"recall@10 {big['recall@10']:.3f}", "p50 < 300 ms", big, lat["p50"], 300.0))
        out.append(("memory at that size (own resident memory while querying; the window map's pages come on top)",
                    f"{mem['anon_gib']:.2f} GiB + {mem['file_gib']:.2f} GiB mapped", "< 8 GiB", big,
                    mem["anon_gib"] + mem["file_gib"], 8.0))
    return out


def _load_average(doc: dict) -> str:
    for key in ("load_average_1min_before", "load_avg_before", "load_average_1min_start"):
        if key in doc:
            return f"{doc[key]:.1f}"
    return ""


def speed_table(results_dir: Path) -> list[str]:
    rows = _rows(results_dir)
    if not rows:
        return ["(no speed benchmark JSON in `results/` yet)"]
    lines = ["| what | measured | goal | met | load average at start | command (date, code) |", "|---|---|---|---|---|---|"]
    for what, measured, goal, doc, value, target in rows:
        met = "" if not goal else ("yes" if value < target else "no")
        stamp = ", ".join(x for x in (str(doc.get("date", ""))[:10], doc.get("code_version", "")) if x)
        source = f"`{doc.get('command', '')}`" + (f" ({stamp})" if stamp else "")
        lines.append(f"| {what} | {measured} | {goal} | {met} | {_load_average(doc)} | {source} |")
    return lines
