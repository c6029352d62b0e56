#!/usr/bin/env python3
"""Collect the Debian package metadata that serves as weak real text for the music tower (MuLan's idea).

For every package with music in training (data/debian_train/PROVENANCE.json) or in the app's library
(assets/library/library.json), and for the game package(s) built from the same source that use it
(`apt-cache rdepends`, kept when their Source matches), this writes data/debian_train/package_text.json:
version, source, section, debtags and the short and long description, as `apt-cache show` would print
them. Short descriptions, versions and tags come from the local apt lists; long descriptions from the
archive's main/i18n/Translation-en.xz of the same release, checked against the sha256 that the
apt-verified InRelease file lists, and matched by Description-md5. Training reads only the JSON written
here (never the network). A package of the held-out real set (data/realset) is refused.

Usage: python scripts/fetch_debian_text.py [--mirror http://deb.debian.org/debian] [--suite bookworm]
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import lzma
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LISTS = Path("/var/lib/apt/lists")
FIELDS = ("Package", "Source", "Version", "Section", "Tag", "Description", "Description-md5", "Homepage")


def apt_show(packages: list[str]) -> dict[str, dict]:
    """Candidate-version stanza fields of each package from the local apt lists (apt-cache show)."""
    out = subprocess.run(["apt-cache", "show", "--no-all-versions", *packages], capture_output=True,
                         text=True, errors="replace").stdout
    stanzas: dict[str, dict] = {}
    for block in out.split("\n\n"):
        fields, key = {}, None
        for line in block.splitlines():
            if line.startswith(" ") and key:
                fields[key] += "\n" + line
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields:
            stanzas.setdefault(fields["Package"], fields)
    return stanzas


def reverse_depends(package: str) -> list[str]:
    out = subprocess.run(["apt-cache", "rdepends", package], capture_output=True, text=True).stdout
    return [line.strip().lstrip("|") for line in out.splitlines()[2:] if line.strip()]


def source_of(stanza: dict) -> str:
    return stanza.get("Source", stanza["Package"]).split()[0]  # "Source: foo (1.2)" names a version too


def translation_sha256(suite: str) -> str:
    """sha256 of main/i18n/Translation-en.xz as listed by the (apt-verified) InRelease of the suite."""
    release = next(LISTS.glob(f"*_dists_{suite}_InRelease")).read_text(errors="replace")
    sha_part = release.split("SHA256:", 1)[1]
    for line in sha_part.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "main/i18n/Translation-en.xz":
            return parts[0]
    raise SystemExit(f"error: the {suite} InRelease lists no main/i18n/Translation-en.xz")


def long_descriptions(mirror: str, suite: str, md5s: set[str]) -> tuple[dict[str, str], dict]:
    """Description-md5 -> long description (the lines after the short one), for the wanted md5s only."""
    url = f"{mirror}/dists/{suite}/main/i18n/Translation-en.xz"
    data = urllib.request.urlopen(url, timeout=120).read()
    digest = hashlib.sha256(data).hexdigest()
    expected = translation_sha256(suite)
    if digest != expected:
        raise SystemExit(f"error: {url} has sha256 {digest}, InRelease lists {expected}")
    found = {}
    for block in lzma.decompress(data).decode("utf-8", errors="replace").split("\n\n"):
        m = re.search(r"^Description-md5: (\w+)$", block, re.M)
        if m and m.group(1) in md5s:
            text = block.split("Description-en:", 1)[1]
            found[m.group(1)] = _join_long(text.split("\n", 1)[1] if "\n" in text else "")
    return found, {"url": url, "sha256": digest, "bytes": len(data)}


def _join_long(text: str) -> str:
    """Debian's long-description format: ' ' continues, ' .' is a blank line (paragraph break)."""
    paragraphs, cur = [], []
    for line in text.splitlines():
        line = line[1:] if line.startswith(" ") else line
        if line.strip() == ".":
            paragraphs.append(" ".join(cur))
            cur = []
        elif line.strip():
            cur.append(line.strip())
    paragraphs.append(" ".join(cur))
    return "\n".join(p for p in paragraphs if p)


def entry(stanza: dict, long_by_md5: dict[str, str]) -> dict:
    return {"package": stanza["Package"], "version": stanza.get("Version", ""), "source": source_of(stanza),
            "section": stanza.get("Section", ""),
            "tags": [t.strip() for t in stanza.get("Tag", "").replace("\n", " ").split(",") if t.strip()],
            "description": stanza.get("Description", "").split("\n", 1)[0],
            "long_description": long_by_md5.get(stanza.get("Description-md5", ""), ""),
            "description_md5": stanza.get("Description-md5", ""), "homepage": stanza.get("Homepage", "")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--provenance", type=Path, default=REPO / "data" / "debian_train" / "PROVENANCE.json")
    ap.add_argument("--library", type=Path, default=REPO / "assets" / "library" / "library.json")
    ap.add_argument("--realset", type=Path, default=REPO / "data" / "realset" / "labels.json")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "debian_train" / "package_text.json")
    ap.add_argument("--mirror", default="http://deb.debian.org/debian")
    ap.add_argument("--suite", default="bookworm")
    args = ap.parse_args()

    music_packages = {f["package"] for f in json.loads(args.provenance.read_text())["files"]}
    music_packages |= {t["source_package"] for t in json.loads(args.library.read_text())}
    clips = json.loads(args.realset.read_text())["clips"]
    held_out = {c["provenance"]["package"] for c in (clips.values() if isinstance(clips, dict) else clips)}
    stanzas = apt_show(sorted(music_packages))
    missing = sorted(music_packages - set(stanzas))
    # The game that uses a data package describes the music's context better than "Data files for X".
    related: dict[str, list[str]] = {}
    for pkg in sorted(stanzas):
        candidates = [p for p in reverse_depends(pkg) if p not in music_packages]
        shown = apt_show(candidates) if candidates else {}
        related[pkg] = sorted(p for p, s in shown.items() if source_of(s) == source_of(stanzas[pkg]))
        stanzas.update({p: shown[p] for p in related[pkg]})
    leaked = sorted(held_out & set(stanzas))
    if leaked:
        print(f"error: held-out real-set packages would become training text: {', '.join(leaked)}")
        return 1
    long_by_md5, translation = long_descriptions(args.mirror, args.suite,
                                                 {s.get("Description-md5", "") for s in stanzas.values()})
    packages = {}
    for pkg in sorted(music_packages & set(stanzas)):
        packages[pkg] = {**entry(stanzas[pkg], long_by_md5),
                         "related": [entry(stanzas[p], long_by_md5) for p in related[pkg]]}
    doc = {"version": 1, "fetched": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "how": "scripts/fetch_debian_text.py: `apt-cache show --no-all-versions` (local apt lists of "
                  f"Debian {args.suite}) for versions, sections, debtags and short descriptions; long descriptions "
                  "from the archive's Translation-en.xz (sha256 checked against InRelease) by Description-md5; "
                  "related = reverse dependencies built from the same source",
           "translation": translation, "held_out_packages_refused": sorted(held_out),
           "missing_from_apt_lists": missing, "packages": packages}
    args.out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    n_long = sum(bool(p["long_description"]) + sum(bool(r["long_description"]) for r in p["related"])
                 for p in packages.values())
    print(f"{len(packages)} packages ({sum(len(p['related']) for p in packages.values())} related game packages), "
          f"{n_long} long descriptions, missing {missing} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
