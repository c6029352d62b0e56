#!/usr/bin/env python3
"""Build data/realset/: a held-out set of REAL music excerpts with weak, audible-only labels.

Stages (all run by default; each reads what the previous one wrote):
  fetch    candidate tracks of the Debian music catalog (packages of the app library and of every
           training run excluded), `apt-get download` + `dpkg-deb -x` into --work, keep every
           candidate file, the package's docs and its version/description (evidence.json)
  cut      select <= CAP_PER_PACKAGE tracks per package; one 20 s excerpt each from 30% into it,
           RMS -18 dBFS (peak <= -1 dBFS) like the synthetic test set, Ogg Opus 48 kb/s stereo
           48 kHz, with the imageio-ffmpeg binary; writes data/realset/clips.json (the evidence)
  label    genre/vocals from the written evidence in clips.json (catalog fields, file tags, file
           names, package docs), energy from words or a signal measure (label_sources says which),
           split by package; writes labels.json
  queries  queries_source.json (hand-written phrasings) -> queries.json with relevant/ignore, and
           the generated counts in data/realset/README.md
  check-energy  (on request) how well the energy measure separates the synthetic set's moods/tempi

Usage: python scripts/make_realset.py [--stages fetch,cut,label,queries] [--work /tmp/realset_debs]
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fetch_debian_music import COPY_EXT, MODULE_EXT, apt_sizes, download, probe_seconds, resolve, sha256  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "data" / "realset"
CATALOG = Path("/work/shared/media/debian_music_catalog.csv")
SEED = 9                       # issue 9; the same seed picks tracks and the split
CAP_PER_PACKAGE = 6            # the pool is small (25 packages): 6 keeps any package under ~6% of the clips
EXCERPT_S, OFFSET_FRAC, MIN_TRACK_S = 20.0, 0.30, 25.0
RATE, KBPS = 48000, 48
DEV_FRACTION = 1 / 3


def excluded_packages() -> dict[str, str]:
    """Packages with any track in the app library or in a training run: none of their music may appear."""
    out = {}
    for t in json.loads((REPO / "assets" / "library" / "library.json").read_text()):
        for key in ("source_package", "package"):
            if t.get(key):
                out[t[key]] = "app library"
    for f in json.loads((REPO / "data" / "debian_train" / "PROVENANCE.json").read_text())["files"]:
        out.setdefault(f["package"], "training run (data/debian_train/PROVENANCE.json)")
    return out


# Catalog rows named as recorded sounds rather than music: files called wind/birds, titles ending in a
# freesound-style id (DESERT_DAY_LIGHT_30189580).
NOT_MUSIC_NAME = re.compile(r"^(wind|birds?)\d*(_loop)?$", re.I)
NOT_MUSIC_TITLE = re.compile(r"\d{6,}$")


def eligible(row: dict, excluded: dict[str, str]) -> bool:
    """A catalog row that may be used: package not excluded, licence clear, decodable, long enough,
    not named as a sound recording."""
    ext = row["path"].rsplit(".", 1)[-1].lower()
    if row["package"] in excluded or row["lic_class"] == "unclear" or ext not in COPY_EXT | MODULE_EXT:
        return False
    if NOT_MUSIC_NAME.search(Path(row["path"]).stem) or NOT_MUSIC_TITLE.search(row["title"].strip()):
        return False
    return float(row["dur_s"] or 0) >= MIN_TRACK_S


def candidates(catalog: Path) -> list[dict]:
    excl = excluded_packages()
    return sorted((r for r in csv.DictReader(catalog.open(newline="")) if eligible(r, excl)),
                  key=lambda r: (r["package"], r["path"]))


def select(tracks: list[dict]) -> list[dict]:
    """Up to CAP_PER_PACKAGE tracks per package, seeded: first those whose catalog fields or file
    name already give a label (the rules of text_labels), then the rest, each group in random order."""
    rng = random.Random(SEED)
    by_pkg = defaultdict(list)
    for t in tracks:
        by_pkg[t["package"]].append(t)
    chosen = []
    for pkg in sorted(by_pkg):
        rows = sorted(by_pkg[pkg], key=lambda r: r["path"])
        rng.shuffle(rows)
        rows.sort(key=lambda r: not any(text_labels(catalog_evidence(r))[0].values()))   # stable
        chosen += rows[:CAP_PER_PACKAGE]
    return chosen


DOC_NAME = re.compile(r"(readme|credits|authors|copyright|licen[cs]e|music|sound|attribution)", re.I)


def collect_docs(root: Path, pkg: str, music_dirs: set[str]) -> dict[str, str]:
    """Text files that may describe the music: /usr/share/doc/PKG/* and text files beside the tracks."""
    docs = {}
    cands = list((root / "usr/share/doc" / pkg).glob("*")) if (root / "usr/share/doc" / pkg).exists() else []
    for d in music_dirs:
        base = root / d.lstrip("/")
        for up in (base, base.parent):
            if up.is_dir():
                cands += [p for p in up.iterdir() if p.is_file()]
    for p in cands:
        if not p.is_file() or p.suffix.lower() in COPY_EXT | MODULE_EXT or p.stat().st_size > 200_000:
            continue
        if not (DOC_NAME.search(p.name) or p.suffix.lower() in {".txt", ".md"}):
            continue
        try:
            text = p.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            continue
        if "\x00" not in text:
            docs["/" + str(p.relative_to(root))] = text
    return docs


def stage_fetch(work: Path, keep_debs: bool) -> None:
    tracks = candidates(CATALOG)          # all of them are kept in --work; `cut` selects
    pkgs = sorted({t["package"] for t in tracks})
    info = apt_sizes(pkgs)
    print(f"plan: {len(tracks)} candidate tracks from {len(pkgs)} packages, "
          f"{sum(info[p][1] for p in pkgs if p in info) / 1e6:.0f} MB of .deb")
    debs, src = work / "debs", work / "src"
    debs.mkdir(parents=True, exist_ok=True)
    src.mkdir(parents=True, exist_ok=True)
    evidence_path = work / "evidence.json"
    evidence = json.loads(evidence_path.read_text()) if evidence_path.exists() else {"packages": {}, "tracks": []}
    t0 = time.time()
    for pkg in pkgs:
        if pkg in evidence["packages"]:
            continue
        t1 = time.time()
        deb = download(pkg, debs)
        fields = {k: subprocess.run(["dpkg-deb", "-f", str(deb), k], capture_output=True, text=True).stdout.strip()
                  for k in ("Version", "Description")}
        tree = work / "tree" / pkg
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
        mine = [t for t in tracks if t["package"] == pkg]
        kept = []
        for t in mine:
            p = resolve(tree, t["path"])
            if p is None:
                print(f"  {pkg}: {t['path']} missing in the package, skipped")
                continue
            dest = src / pkg / t["path"].lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, dest)
            kept.append({**t, "version": fields["Version"], "src": str(dest.relative_to(work)),
                         "source_sha256": sha256(dest)})
        docs = collect_docs(tree, pkg, {str(Path(t["path"]).parent) for t in mine})
        evidence["packages"][pkg] = {"version": fields["Version"], "description": fields["Description"],
                                     "deb": deb.name, "deb_mb": round(deb.stat().st_size / 1e6, 1), "docs": docs}
        evidence["tracks"] += kept
        shutil.rmtree(tree)
        if not keep_debs:
            deb.unlink()
        evidence_path.write_text(json.dumps(evidence, indent=1, ensure_ascii=False))
        print(f"  {pkg} {fields['Version']}: {len(kept)} tracks, {len(docs)} doc files, {time.time() - t1:.0f} s")
    evidence.setdefault("fetch_seconds", 0)
    evidence["fetch_seconds"] += round(time.time() - t0, 1)
    evidence_path.write_text(json.dumps(evidence, indent=1, ensure_ascii=False))
    print(f"fetch: {time.time() - t0:.0f} s this run, {evidence['fetch_seconds']:.0f} s in all")


def file_tags(ffmpeg: str, path: Path) -> dict[str, str]:
    """The file's own metadata tags (Vorbis comments, ID3, module title) as ffmpeg prints them."""
    err = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True,
                         text=True, errors="replace").stderr
    tags, inside = {}, False
    for line in err.splitlines():
        if line.strip() == "Metadata:":
            inside = True
        elif inside and re.match(r"^\s{4,}\S", line) and ":" in line:
            k, v = line.split(":", 1)
            tags.setdefault(k.strip().lower(), v.strip())
        elif not line.startswith("    "):
            inside = False
    return {k: v for k, v in tags.items() if k not in {"encoder", "vendor_id", "encoded_by"}}


def cut_excerpt(ffmpeg: str, src: Path, out: Path, offset: float) -> np.ndarray:
    """Decode EXCERPT_S seconds from `offset`, set the level like data/testset (RMS -18 dBFS,
    peak <= -1 dBFS), fade the edges, encode Ogg Opus; returns the float stereo PCM written."""
    pcm = subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(src),
                          "-ss", f"{offset:.2f}", "-t", f"{EXCERPT_S:.2f}", "-vn", "-ac", "2", "-ar", str(RATE),
                          "-f", "s16le", "-"], capture_output=True, check=True).stdout
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float32).reshape(-1, 2) / 32768
    if len(x) < (EXCERPT_S - 0.5) * RATE:
        raise RuntimeError(f"{src}: only {len(x) / RATE:.1f} s decoded from {offset:.1f} s")
    rms = float(np.sqrt(np.mean(x ** 2)))
    x = x * min(10 ** (-18 / 20) / max(rms, 1e-9), 10 ** (-1 / 20) / max(float(np.abs(x).max()), 1e-9))
    fin, fout = int(0.05 * RATE), int(0.8 * RATE)      # no click at the cut, a short fade at the end
    x[:fin] *= np.linspace(0, 1, fin)[:, None]
    x[-fout:] *= np.linspace(1, 0, fout)[:, None]
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(RATE),
                    "-ac", "2", "-i", "-", "-c:a", "libopus", "-b:a", f"{KBPS}k", "-vbr", "constrained",
                    "-map_metadata", "-1", "-fflags", "+bitexact", str(out)],
                   input=(np.clip(x, -1, 1) * 32767).astype("<i2").tobytes(), check=True, capture_output=True)
    return x


def stage_cut(work: Path) -> None:
    """Excerpts + per-clip provenance (clips.json in --work); ids come from a seeded shuffle so
    file names carry no package or label information."""
    import imageio_ffmpeg
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    evidence = json.loads((work / "evidence.json").read_text())
    excl = excluded_packages()            # the rules again: --work may hold files fetched under older ones
    tracks = sorted(select([t for t in evidence["tracks"] if eligible(t, excl)]), key=lambda t: (t["package"], t["path"]))
    random.Random(SEED).shuffle(tracks)
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("rs_*.ogg"):
        old.unlink()
    clips = []
    for i, t in enumerate(tracks):
        src = work / t["src"]
        dur = probe_seconds(ffmpeg, src)
        if dur is None or dur < MIN_TRACK_S:
            print(f"  {t['package']} {t['path']}: not decodable or shorter than {MIN_TRACK_S:g} s, skipped")
            continue
        cid = f"rs_{len(clips):03d}"
        offset = round(min(OFFSET_FRAC * dur, dur - EXCERPT_S - 0.5), 2)
        cut_excerpt(ffmpeg, src, OUT / f"{cid}.ogg", offset)
        pkg = evidence["packages"][t["package"]]
        clips.append({"id": cid, "file": f"{cid}.ogg", "provenance": {
            "package": t["package"], "version": pkg["version"], "path": t["path"], "license": t["license"],
            "lic_class": t["lic_class"], "artist": t["artist"], "title": t["title"], "copyright": t["copyright"],
            "catalog_genre": t["genre"], "source_sha256": t["source_sha256"],
            "offset_s": offset, "duration_s": EXCERPT_S, "source_duration_s": round(dur, 2)},
            "tags": file_tags(ffmpeg, src)})
        print(f"  {cid} {t['package']} {Path(t['path']).name} @ {offset:.1f}/{dur:.1f} s")
    (work / "clips.json").write_text(json.dumps(clips, indent=1, ensure_ascii=False))
    mb = sum(p.stat().st_size for p in OUT.glob("rs_*.ogg")) / 1e6
    print(f"cut: {len(clips)} clips, {mb:.1f} MB")


def catalog_evidence(row: dict) -> dict[str, str]:
    # "_" and "-" join words in file names ("enigma_rag", "calmrace-ks"): split them for \b matches
    ev = {"catalog.genre": row["genre"], "catalog.title": row["title"],
          "file.name": re.sub(r"[_-]+", " ", Path(row["path"]).stem)}
    return {k: v for k, v in ev.items() if v}


def clip_evidence(clip: dict, pkg_docs: dict[str, str]) -> dict[str, str]:
    """The written evidence about one track, by source: catalog fields, the file's tags, its
    file name, and doc lines (debian/copyright, READMEs beside the music) that name the file."""
    prov, base = clip["provenance"], Path(clip["provenance"]["path"])
    ev = catalog_evidence({"genre": prov["catalog_genre"], "title": prov["title"], "path": prov["path"]})
    for k in ("genre", "title", "comment", "description", "album"):
        if clip["tags"].get(k):
            ev[f"tag.{k}"] = clip["tags"][k]
    for doc, text in sorted(pkg_docs.items()):
        lines = [ln.strip() for ln in text.splitlines() if base.name.lower() in ln.lower()
                 or (len(base.stem) > 4 and re.search(rf"\b{re.escape(base.stem)}\b", ln, re.I))]
        if lines:
            ev[f"doc:{doc}"] = " | ".join(lines)[:400]
    return {k: v for k, v in ev.items() if v}


def stage_evidence(work: Path) -> None:
    """Write data/realset/clips.json: per clip id, provenance and the evidence text the labels come from
    (committed, so `label` reruns from the repository alone)."""
    evidence = json.loads((work / "evidence.json").read_text())
    clips = json.loads((work / "clips.json").read_text())
    out = [{"id": c["id"], "file": c["file"], "provenance": c["provenance"],
            "evidence": clip_evidence(c, evidence["packages"][c["provenance"]["package"]]["docs"])} for c in clips]
    packages = {p: {k: v[k] for k in ("version", "description", "deb", "deb_mb")}
                for p, v in sorted(evidence["packages"].items())}
    (OUT / "clips.json").write_text(json.dumps({"version": 1, "fetch_seconds": evidence.get("fetch_seconds"),
                                                "packages": packages, "clips": out}, indent=1, ensure_ascii=False))


# Genre words and the written words that give them. GENRE_FIELD words count only in a genre field
# (catalog genre, the file's GENRE tag): there "rock" means the style, in a title it is a stone.
# STYLE_WORDS also count in titles, file names and doc lines: they name a sound, not a place or a scene.
GENRE_FIELD = {"metal": r"metal", "rock": r"\brock", "electronic": r"electro|techno|\bdnb\b|drum.?n.?bass|\btrance",
               "ambient": r"ambien|ambiance", "folk": r"\bfolk|celtic", "blues": r"blues",
               "orchestral": r"orchestr|symphon", "jazz": r"jazz|swing", "chiptune": r"chip|8.?bit"}
STYLE_WORDS = {"metal": r"\bmetal\b", "electronic": r"techno|\bdnb\b|drum.?n.?bass|\btrance|\bdisco|\bsynth",
               "ambient": r"\bambien|\bambiance", "folk": r"\bfolk\b|celtic", "blues": r"\bblues\b",
               "orchestral": r"orchestr|symphon", "jazz": r"\bjazz|ragtime|\brag\b", "piano": r"\bpiano",
               "chiptune": r"chiptune|\bchip|8.?bit"}
# Energy and vocals words in titles/tags/docs (a title like "Relax 3" or "Meditation" names how it sounds).
CALM_WORDS = r"\brelax|meditat|tranquil|\bcalm|\bballad|lullab"
INTENSE_WORDS = r"thrash|\bmetal\b|\bdnb\b|drum.?n.?bass"
VOCAL_WORDS = r"\bvocals?\b|\bsung\b|\blyrics|\bsinging|\bchoir"
INSTRUMENTAL_WORDS = r"instrumental"
GENRE_FIELDS = ("catalog.genre", "tag.genre")


def text_labels(ev: dict[str, str]) -> tuple[dict, dict]:
    """(labels, sources) from the written evidence only."""
    genre, src = [], {}
    for key, text in ev.items():
        words = GENRE_FIELD if key in GENRE_FIELDS else STYLE_WORDS
        for g, pat in words.items():
            if re.search(pat, text, re.I) and g not in genre:
                genre.append(g)
                src.setdefault("genre", []).append(f"{g} <- {key}: {text[:80]}")
    out = {"genre": sorted(genre) or None}
    for cat, pats in (("energy", (("calm", CALM_WORDS), ("intense", INTENSE_WORDS))),
                      ("vocals", (("vocals", VOCAL_WORDS), ("instrumental", INSTRUMENTAL_WORDS)))):
        hits = {v: [f"{k}: {t[:80]}" for k, t in ev.items() if re.search(p, t, re.I)]
                for v, p in pats}
        hits = {v: h for v, h in hits.items() if h}
        out[cat] = next(iter(hits)) if len(hits) == 1 else None    # both words written: unknown
        if hits:
            src[cat] = [f"{v} <- {h}" for v, hs in hits.items() for h in hs]
    return out, src


def signal_energy(ffmpeg: str, path: Path) -> dict[str, float]:
    """Onset rate (onsets/s) and mean spectral flux of the excerpt: a plain signal measure in numpy/scipy,
    independent of any tagger of this project. Flux = mean positive change of the log-compressed
    magnitude spectrum per frame (2048-point Hann, hop 512 at 22.05 kHz); onsets = flux peaks above
    median + 1 std at least 0.1 s apart."""
    from scipy.signal import find_peaks
    sr, n_fft, hop = 22050, 2048, 512
    pcm = subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-i", str(path), "-ac", "1", "-ar", str(sr),
                          "-f", "s16le", "-"], capture_output=True, check=True).stdout
    y = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop] * np.hanning(n_fft)
    mag = np.log1p(100 * np.abs(np.fft.rfft(frames, axis=1)))
    flux = np.maximum(np.diff(mag, axis=0), 0).mean(axis=1)
    peaks, _ = find_peaks(flux, height=np.median(flux) + flux.std(), distance=max(1, int(0.1 * sr / hop)))
    return {"onset_rate": round(len(peaks) / (len(y) / sr), 3), "flux": round(float(flux.mean()), 4)}


def pct_rank(values: list[float]) -> list[float]:
    order = np.argsort(np.argsort(values, kind="stable"), kind="stable")
    return list(order / max(len(values) - 1, 1))


def choose_split(clips: list[dict], tries: int = 2000) -> tuple[dict[str, str], int]:
    """Packages -> dev/test. Among `tries` seeded random package orders (each filled into dev up to
    DEV_FRACTION of the clips), take the one with most label values present on both sides
    (then: present >= 2 times on both sides; then the dev share closest to DEV_FRACTION). Deterministic; the winning try is recorded."""
    pkgs = sorted({c["provenance"]["package"] for c in clips})
    n = len(clips)
    rng = random.Random(SEED)
    best = None
    for t in range(tries):
        order = pkgs[:]
        rng.shuffle(order)
        dev, cnt = set(), 0
        for p in order:
            k = sum(c["provenance"]["package"] == p for c in clips)
            if cnt + k <= DEV_FRACTION * n + 2:
                dev.add(p)
                cnt += k
        counts = {s: Counter() for s in ("dev", "test")}
        for c in clips:
            s = "dev" if c["provenance"]["package"] in dev else "test"
            for cat in ("genre", "vocals", "energy"):
                for v in (c[cat] if isinstance(c[cat], list) else [c[cat]] if c[cat] else []):
                    counts[s][(cat, v)] += 1
        values = set(counts["dev"]) | set(counts["test"])
        both = [min(counts["dev"][v], counts["test"][v]) for v in values]
        score = (sum(b >= 1 for b in both), sum(b >= 2 for b in both), -abs(cnt / n - DEV_FRACTION))
        if best is None or score > best[0]:
            best = (score, t, dev)
    return {p: "dev" if p in best[2] else "test" for p in pkgs}, best[1]


def auc(pos: list[float], neg: list[float]) -> float:
    p, n = np.asarray(pos)[:, None], np.asarray(neg)[None]
    return float(((p > n) + 0.5 * (p == n)).mean())


def stage_check_energy() -> None:
    """Sanity check of the energy measure where labels are exact: the synthetic set's moods and tempi."""
    import imageio_ffmpeg
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    ts = REPO / "data" / "testset"
    clips = json.loads((ts / "labels.json").read_text())["clips"]
    sig = [signal_energy(ffmpeg, ts / c["file"]) for c in clips]
    score = np.mean([pct_rank([s["onset_rate"] for s in sig]), pct_rank([s["flux"] for s in sig])], axis=0)
    for cat, hi, lo in (("mood", "energetic", "calm"), ("tempo", "fast", "slow")):
        pos = [x for x, c in zip(score, clips) if c[cat] == hi]
        neg = [x for x, c in zip(score, clips) if c[cat] == lo]
        print(f"data/testset {cat}: ROC-AUC of energy_score, {hi} ({len(pos)}) vs {lo} ({len(neg)}): {auc(pos, neg):.3f}")


def stage_label() -> None:
    import imageio_ffmpeg
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    src = json.loads((OUT / "clips.json").read_text())
    clips = []
    for c in src["clips"]:
        labels, sources = text_labels(c["evidence"])
        clips.append({"id": c["id"], "file": c["file"], **labels, "label_sources": sources,
                      "signal": signal_energy(ffmpeg, OUT / c["file"]), "provenance": c["provenance"]})
    # Energy from the signal only where no word decided it: mean percentile of onset rate and flux;
    # lowest 30% calm, highest 30% intense, the middle stays unknown.
    score = np.mean([pct_rank([c["signal"]["onset_rate"] for c in clips]),
                     pct_rank([c["signal"]["flux"] for c in clips])], axis=0)
    for c, s in zip(clips, score):
        c["signal"]["energy_score"] = round(float(s), 3)
        sig = "calm" if s <= 0.3 else "intense" if s >= 0.7 else None
        if c["energy"] is None and "energy" not in c["label_sources"] and sig:
            c["energy"] = sig
            c["label_sources"]["energy"] = [f"{sig} <- signal: energy_score {s:.2f} (onset rate "
                                            f"{c['signal']['onset_rate']}/s, flux {c['signal']['flux']})"]
        elif c["energy"] and sig and sig != c["energy"]:       # words and signal disagree: unknown
            c["label_sources"]["energy"].append(f"signal says {sig} (energy_score {s:.2f}): left unknown")
            c["energy"] = None
    split, try_no = choose_split(clips)
    for c in clips:
        c["split"] = split[c["provenance"]["package"]]
    genres = sorted({g for c in clips for g in c["genre"] or []})
    doc = {"version": 1,
           "license_note": "Each clip is a 20 s excerpt of an openly licensed track from a Debian package; "
                           "its licence, copyright and source are in provenance. Evaluation only: never train on these clips.",
           "categories": {"genre": genres, "vocals": ["vocals", "instrumental"], "energy": ["calm", "intense"]},
           "split_rule": {"seed": SEED, "winning_try": try_no, "dev_fraction": DEV_FRACTION,
                          "dev_packages": sorted(p for p, s in split.items() if s == "dev"),
                          "test_packages": sorted(p for p, s in split.items() if s == "test")},
           "clips": [{k: c[k] for k in ("id", "file", "split", "genre", "vocals", "energy", "label_sources",
                                        "signal", "provenance")} for c in clips]}
    (OUT / "labels.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    for s in ("dev", "test"):
        cs = [c for c in clips if c["split"] == s]
        cnt = Counter(f"{cat}={v}" for c in cs for cat in ("genre", "vocals", "energy")
                      for v in (c[cat] if isinstance(c[cat], list) else [c[cat]]))
        print(f"{s}: {len(cs)} clips, {len({c['provenance']['package'] for c in cs})} packages; {dict(sorted(cnt.items()))}")


def holds(clip: dict, cat: str, value: str) -> bool | None:
    """Whether a clip has `value` in category `cat`; None when its label is unknown."""
    have = clip.get(cat)
    if have is None:
        return None
    return value in have if isinstance(have, list) else have == value


def build_queries(labels: dict, source: dict) -> list[dict]:
    """Every hand-written phrasing becomes one query of its split; relevant/ignore are computed:
    relevant = every constraint holds and no not-constraint holds; ignore = an involved label is unknown."""
    queries = []
    for g in source["groups"]:
        cons = {**g["labels"], **g.get("not", {})}
        for split in ("dev", "test"):
            clips = [c for c in labels["clips"] if c["split"] == split]
            ignore = [c["id"] for c in clips if any(holds(c, k, v) is None for k, v in cons.items())]
            relevant = [c["id"] for c in clips if c["id"] not in ignore
                        and all(holds(c, k, v) for k, v in g["labels"].items())
                        and not any(holds(c, k, v) for k, v in g.get("not", {}).items())]
            for text in g[split]:
                if not relevant:
                    raise SystemExit(f"query {text!r}: no relevant clip in {split}; fix queries_source.json")
                q = {"id": f"rq_{len(queries):03d}", "text": text, "split": split, "kind": g["kind"],
                     "labels": g["labels"]}
                if g.get("not"):
                    q["not"] = g["not"]
                queries.append({**q, "relevant": relevant, "ignore": ignore})
    return queries


def stage_queries() -> None:
    labels = json.loads((OUT / "labels.json").read_text())
    source = json.loads((OUT / "queries_source.json").read_text())
    queries = build_queries(labels, source)
    (OUT / "queries.json").write_text(json.dumps({"version": 1, "queries": queries}, indent=1, ensure_ascii=False) + "\n")
    by = Counter((q["split"], q["kind"]) for q in queries)
    print(f"queries: {len(queries)} ({dict(sorted(by.items()))})")


def counts_markdown(labels: dict, queries: list[dict], fetched: dict) -> str:
    """The numbers section of data/realset/README.md, generated from labels.json and queries.json."""
    clips = labels["clips"]
    mb = sum((OUT / c["file"]).stat().st_size for c in clips) / 1e6
    lines = [f"- {len(clips)} clips from {len({c['provenance']['package'] for c in clips})} packages, "
             f"{mb:.1f} MB; {len(queries)} queries."]
    for s in ("dev", "test"):
        cs = [c for c in clips if c["split"] == s]
        pk = sorted({c["provenance"]["package"] for c in cs})
        lines.append(f"- **{s}**: {len(cs)} clips from {len(pk)} packages ({', '.join(pk)}); "
                     f"{sum(q['split'] == s for q in queries)} queries.")
    lines += ["", "| label | dev | test |", "| --- | --- | --- |"]
    for cat, values in labels["categories"].items():
        for v in values + [None]:
            row = [sum(1 for c in clips if c["split"] == s and (holds(c, cat, v) if v else c[cat] is None))
                   for s in ("dev", "test")]
            lines.append(f"| {cat} = {v or 'unknown'} | {row[0]} | {row[1]} |")
    src = Counter(e.split(" <- ")[1].split(":")[0] for c in clips for cat in ("genre", "vocals", "energy")
                  if c[cat] for e in c["label_sources"][cat] if " <- " in e)
    lines += ["", "Where the labels came from (evidence lines behind a set label): "
              + ", ".join(f"{k} {n}" for k, n in src.most_common()) + "."]
    lic = Counter(c["provenance"]["license"] for c in clips)
    lines += ["", "Licences: " + ", ".join(f"{k} {n}" for k, n in lic.most_common()) + "."]
    if fetched.get("fetch_seconds"):
        gb = sum(p["deb_mb"] for p in fetched["packages"].values()) / 1e3
        lines += ["", f"Fetch (apt-get download + dpkg-deb -x of {len(fetched['packages'])} packages, {gb:.2f} GB "
                      f"of .deb): {fetched['fetch_seconds'] / 60:.1f} min on the 2-core build machine."]
    return "\n".join(lines)


def stage_readme() -> None:
    labels = json.loads((OUT / "labels.json").read_text())
    queries = json.loads((OUT / "queries.json").read_text())["queries"]
    fetched = json.loads((OUT / "clips.json").read_text())
    readme = OUT / "README.md"
    text = readme.read_text()
    a, b = "<!-- counts: generated by scripts/make_realset.py -->", "<!-- end counts -->"
    head, rest = text.split(a)
    readme.write_text(head + a + "\n" + counts_markdown(labels, queries, fetched) + "\n" + b + rest.split(b)[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", default="fetch,cut,label,queries")
    ap.add_argument("--work", type=Path, default=Path("/tmp/realset_debs"))
    ap.add_argument("--keep-debs", action="store_true")
    args = ap.parse_args()
    stages = args.stages.split(",")
    if "fetch" in stages:
        stage_fetch(args.work, args.keep_debs)
    if "cut" in stages:
        stage_cut(args.work)
        stage_evidence(args.work)
    if "label" in stages:
        stage_label()
    if "check-energy" in stages:          # not in the default stages: a validation, writes nothing
        stage_check_energy()
    if "queries" in stages:
        stage_queries()
        stage_readme()
    return 0


if __name__ == "__main__":
    sys.exit(main())
