#!/usr/bin/env python3
"""Fetch openly licensed training music from Debian packages, with provenance.

Reads the catalog (data/debian_train/catalog.csv: music files in Debian packages, with licenses), picks packages, downloads
them with `apt-get download` into a cache, extracts with `dpkg-deb -x`, copies the listed
music files into --out (ogg/opus/mp3/wav/flac as they are; tracker modules rendered to Ogg
Opus with the imageio-ffmpeg binary, whose libopenmpt decodes them) and writes
data/debian_train/PROVENANCE.json.

Every track of the app's library (library.json: source_package + source_path) is excluded,
and so is any file whose bytes equal a library source file, so evaluation music never
leaks into training.

Usage: python scripts/fetch_debian_music.py [--max-tracks 300] [--max-mb 1500]
       [--lic-class public-domain,permissive,share-alike,gpl] [--exclude-packages a,b] [--out DIR]
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from vml_demo.media.hashing import file_sha256 as sha256

REPO = Path(__file__).resolve().parent.parent
COPY_EXT = {"ogg", "oga", "opus", "mp3", "wav", "flac"}
MODULE_EXT = {"mod", "xm", "it", "s3m", "mtm", "669", "med", "okt", "stm", "umx"}
LIC_RANK = {"public-domain": 0, "permissive": 1, "share-alike": 2, "gpl": 3, "unclear": 4}


def repo_relative(path: Path) -> str:
    """Paths inside the repository are recorded relative to it, so provenance names no machine's folders."""
    path = path.resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def apt_sizes(packages: list[str]) -> dict[str, tuple[str, int]]:
    """Candidate version and .deb size of each package, from the local apt lists."""
    out = subprocess.run(["apt-cache", "show", "--no-all-versions", *packages],
                         capture_output=True, text=True, errors="replace").stdout
    info, cur, ver = {}, None, None
    for line in out.splitlines():
        if line.startswith("Package: "):
            cur, ver = line.split()[1], None
        elif line.startswith("Version: "):
            ver = line.split()[1]
        elif line.startswith("Size: ") and cur:
            info[cur] = (ver, int(line.split()[1]))
    return info


def download(package: str, cache: Path) -> Path:
    """apt-get download into the cache (kept between runs); returns the .deb path."""
    found = sorted(cache.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    subprocess.run(["apt-get", "download", package], cwd=cache, check=True, capture_output=True)
    found = sorted(cache.glob(f"{package}_*.deb"))
    if not found:
        raise RuntimeError(f"apt-get download {package} left no .deb in {cache}")
    return found[-1]


def resolve(root: Path, path: str) -> Path | None:
    """A path inside the extracted tree; follows symlinks that stay inside it."""
    p = root / path.lstrip("/")
    for _ in range(8):
        if not p.is_symlink():
            break
        target = p.readlink()
        p = (root / str(target).lstrip("/")) if target.is_absolute() else (p.parent / target)
    return p if p.is_file() else None


def probe_seconds(ffmpeg: str, path: Path) -> float | None:
    """Duration by decoding (works for modules too); None when ffmpeg cannot decode it."""
    res = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-i", str(path), "-vn", "-f", "null", "-"],
                         capture_output=True, text=True, errors="replace")
    times = re.findall(r"time=(\d+):(\d+):(\d+(?:\.\d+)?)", res.stderr)
    if res.returncode != 0 or not times:
        return None
    h, m, s = times[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


def out_name(package: str, path: str, ext: str, taken: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem).strip("_") or "track"
    name = f"{package}__{stem}.{ext}"
    if name in taken:                     # same file name in two folders of one package
        parent = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).parent.name)
        name = f"{package}__{parent}_{stem}.{ext}"
    taken.add(name)
    return name


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--catalog", type=Path, default=REPO / "data" / "debian_train" / "catalog.csv")
    ap.add_argument("--library", type=Path, default=REPO / "assets" / "library" / "library.json",
                    help="the app's library, whose tracks are kept out of the training music")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "debian_train" / "audio")
    ap.add_argument("--provenance", type=Path, default=None,
                    help="default: PROVENANCE.json in the parent of --out")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "vml_demo" / "debs")
    ap.add_argument("--max-tracks", type=int, default=300)
    ap.add_argument("--max-mb", type=float, default=1500, help="budget of .deb downloads, MB")
    ap.add_argument("--max-package-mb", type=float, default=200, help="skip larger .deb files")
    ap.add_argument("--min-min-per-mb", type=float, default=0.05,
                    help="skip packages giving fewer minutes of new music per downloaded MB")
    ap.add_argument("--lic-class", default="public-domain,permissive,share-alike,gpl",
                    help="comma list of catalog lic_class values to accept")
    ap.add_argument("--exclude-packages", default="", help="comma list")
    ap.add_argument("--opus-kbps", type=int, default=96, help="bitrate for rendered tracker modules")
    ap.add_argument("--keep-debs", action="store_true", help="keep downloaded .deb files in the cache")
    ap.add_argument("--dry-run", action="store_true", help="print the plan only")
    args = ap.parse_args()

    import imageio_ffmpeg
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    classes = {c.strip() for c in args.lic_class.split(",") if c.strip()}
    excluded_pkgs = {p.strip() for p in args.exclude_packages.split(",") if p.strip()}
    provenance_path = args.provenance or args.out.parent / "PROVENANCE.json"

    rows = list(csv.DictReader(args.catalog.open(newline="")))
    library = json.loads(args.library.read_text())
    lib_paths = {(t["source_package"], t["source_path"]) for t in library}
    lib_by_pkg = defaultdict(set)
    for pkg, path in lib_paths:
        lib_by_pkg[pkg].add(path)

    # Filter the catalog; every reason for leaving a row out is counted and reported.
    skipped: Counter[str] = Counter()
    overlaps, by_pkg = [], defaultdict(list)
    for r in rows:
        ext = r["path"].rsplit(".", 1)[-1].lower()
        if (r["package"], r["path"]) in lib_paths:
            overlaps.append({"package": r["package"], "path": r["path"]})
            skipped["in app library"] += 1
        elif r["package"] in excluded_pkgs:
            skipped["package excluded"] += 1
        elif r["lic_class"] not in classes:
            skipped[f"lic_class {r['lic_class']}"] += 1
        elif ext not in COPY_EXT | MODULE_EXT:
            skipped[f"format .{ext}"] += 1
        else:
            by_pkg[r["package"]].append(r)
    info = apt_sizes(sorted(by_pkg))

    # Greedy plan: freest licence first, then most new music per downloaded MB.
    def score(pkg: str) -> tuple:
        mb = info[pkg][1] / 1e6
        minutes = sum(float(r["dur_s"] or 0) for r in by_pkg[pkg]) / 60
        return (min(LIC_RANK.get(r["lic_class"], 9) for r in by_pkg[pkg]), -minutes / max(mb, 0.1))

    plan, budget_mb, n_tracks = [], 0.0, 0
    for pkg in sorted(by_pkg, key=lambda p: score(p) if p in info else (9, 0)):
        if pkg not in info:
            skipped["package not in apt lists"] += len(by_pkg[pkg])
            continue
        mb = info[pkg][1] / 1e6
        if mb > args.max_package_mb:
            skipped[f"package over {args.max_package_mb:g} MB"] += len(by_pkg[pkg])
            continue
        if -score(pkg)[1] < args.min_min_per_mb:
            skipped["too little music per downloaded MB"] += len(by_pkg[pkg])
            continue
        if n_tracks >= args.max_tracks or budget_mb + mb > args.max_mb:
            skipped["over --max-tracks/--max-mb"] += len(by_pkg[pkg])
            continue
        take = by_pkg[pkg][: args.max_tracks - n_tracks]
        skipped["over --max-tracks/--max-mb"] += len(by_pkg[pkg]) - len(take)
        plan.append((pkg, take))
        budget_mb += mb
        n_tracks += len(take)
    print(f"plan: {len(plan)} packages, {n_tracks} tracks, {budget_mb:.0f} MB of .deb; "
          f"library overlaps excluded: {len(overlaps)}")
    for pkg, take in plan:
        print(f"  {pkg} {info[pkg][0]} {info[pkg][1] / 1e6:.1f} MB: {len(take)} tracks ({take[0]['lic_class']})")
    if args.dry_run:
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    args.cache.mkdir(parents=True, exist_ok=True)
    fetched = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries, taken, seen_hash, lib_hashes = [], set(), {}, set()
    for pkg, take in plan:
        deb = download(pkg, args.cache)
        version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True,
                                 text=True, check=True).stdout.strip()
        with tempfile.TemporaryDirectory(dir=args.cache) as tmp:
            root = Path(tmp)
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
            # Hash this package's library tracks: identical bytes elsewhere are leaks too.
            for path in lib_by_pkg.get(pkg, ()):
                src = resolve(root, path)
                if src:
                    lib_hashes.add(sha256(src))
            for r in take:
                src = resolve(root, r["path"])
                if src is None:
                    skipped["listed file missing from package"] += 1
                    print(f"  missing: {pkg} {r['path']}")
                    continue
                src_hash = sha256(src)
                if src_hash in lib_hashes:
                    skipped["same bytes as a library track"] += 1
                    continue
                if src_hash in seen_hash:
                    skipped["duplicate of a fetched file"] += 1
                    continue
                ext = r["path"].rsplit(".", 1)[-1].lower()
                if ext in MODULE_EXT:
                    name = out_name(pkg, r["path"], "opus", taken)
                    res = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                                          "-i", str(src), "-vn", "-t", "900", "-ar", "48000", "-c:a", "libopus",
                                          "-b:a", f"{args.opus_kbps}k", "-map_metadata", "-1",
                                          str(args.out / name)],
                                         capture_output=True, text=True, errors="replace")
                    if res.returncode != 0:
                        skipped[f"ffmpeg cannot decode .{ext}"] += 1
                        (args.out / name).unlink(missing_ok=True)
                        taken.discard(name)
                        continue
                else:
                    name = out_name(pkg, r["path"], ext, taken)
                    shutil.copyfile(src, args.out / name)
                dur = probe_seconds(ffmpeg, args.out / name)
                if dur is None or dur < 1.0:
                    skipped["undecodable or empty"] += 1
                    (args.out / name).unlink(missing_ok=True)
                    continue
                seen_hash[src_hash] = name
                entries.append({
                    "file": name, "package": pkg, "version": version, "path": r["path"],
                    "license": r["license"], "lic_class": r["lic_class"], "artist": r["artist"],
                    "title": r["title"], "genre_tag": r["genre"], "copyright": r["copyright"],
                    "duration_s": round(dur, 2), "source_sha256": src_hash,
                    "sha256": sha256(args.out / name), "transcoded": ext in MODULE_EXT,
                    "codec": "opus (rendered from tracker module by libopenmpt)" if ext in MODULE_EXT
                    else r["codec"], "deb": deb.name, "fetched": fetched})
        if not args.keep_debs:
            deb.unlink()
        print(f"  {pkg} {version}: {sum(e['package'] == pkg for e in entries)} files", flush=True)

    if not entries:
        print("nothing fetched: PROVENANCE.json and the audio folder left as they were")
        return 1
    # Drop audio files of an earlier run that are not in this run's provenance.
    keep = {e["file"] for e in entries}
    for p in args.out.iterdir():
        if p.is_file() and p.name not in keep:
            p.unlink()
    hours = sum(e["duration_s"] for e in entries) / 3600
    summary = {
        "tracks": len(entries), "hours": round(hours, 3),
        "audio_mb": round(sum((args.out / e["file"]).stat().st_size for e in entries) / 1e6, 1),
        "deb_mb": round(budget_mb, 1),
        "packages": dict(Counter(e["package"] for e in entries)),
        "lic_class": dict(Counter(e["lic_class"] for e in entries)),
        "licenses": dict(Counter(e["license"] for e in entries)),
        "skipped": dict(skipped),
    }
    doc = {"version": 1, "fetched": fetched, "catalog": repo_relative(args.catalog), "library": repo_relative(args.library),
           "audio_dir": repo_relative(args.out),
           "options": {k: (repo_relative(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
           "excluded_library_overlaps": overlaps, "summary": summary, "files": entries}
    provenance_path.parent.mkdir(parents=True, exist_ok=True)
    provenance_path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(summary, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
