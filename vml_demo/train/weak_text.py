"""Weak real text per training track: MuLan's idea (Huang et al. 2022) of music paired with text people wrote.

MuLan learns from text only weakly associated with a recording (video titles, comments, playlists). Here
the equivalent is what Debian records about each training track, none of it derived from this project's
models: the catalog's title, artist and genre tag and the file's own name (data/debian_train/PROVENANCE.json,
assets/library/library.json), and the package's description, the description of the game built from the
same source and the game's debtags (data/debian_train/package_text.json, written by
scripts/fetch_debian_text.py). Much of it says little about the sound ("falling blocks puzzle game"); some
does ("abstract, atmospheric and post-apocalyptic beats", "Romantic Classical"). Training mixes these texts
with synthesised descriptions at a configured ratio.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .. import config

# Long-description sentences about packaging, not about the game or its music.
_PACKAGING = re.compile(r"\b(package|packages|install|installed|engine is provided|https?:|www\.)", re.I)
_FILENAME_NOISE = {"bgm", "mus", "music", "track", "song", "ogg", "mod", "the", "and"}


@dataclass
class TrackText:
    package: str  # the Debian package the track comes from (the unit of the train/validation split)
    texts: list[str]  # its weak descriptions, each one a training text


def load_track_metadata(provenance: Path | None = None, manifest: Path | None = None) -> dict[str, dict]:
    """File stem -> {package, title, artist, genre, path} for the fetched training music and the app library."""
    provenance = provenance or config.DEBIAN_TRAIN_DIR / "PROVENANCE.json"
    manifest = manifest or config.LIBRARY_MANIFEST
    out = {}
    if provenance.is_file():
        for f in json.loads(provenance.read_text(encoding="utf-8"))["files"]:
            out[Path(f["file"]).stem] = {"package": f["package"], "title": f["title"], "artist": f["artist"],
                                         "genre": f["genre_tag"], "path": f["path"]}
    if manifest.is_file():
        for t in json.loads(manifest.read_text(encoding="utf-8")):
            out[Path(t["file"]).stem] = {"package": t["source_package"], "title": t["title"], "artist": t["artist"],
                                         "genre": t.get("source_genre_tag", ""), "path": t["source_path"]}
    return out


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n", text)
    return [s.strip() for s in parts if 4 <= len(s.split()) <= 40 and not _PACKAGING.search(s)]


def package_texts(entry: dict) -> list[str]:
    """A package's descriptions (its own and its game's), description sentences and game:: debtags as texts."""
    texts = []
    for e in [entry, *entry.get("related", [])]:
        texts.append(e["description"])
        texts += _sentences(e["long_description"])
        # "game::TODO" is debtags' "not yet tagged", not a kind of game
        texts += [f"{t.split('::', 1)[1].replace('-', ' ')} game" for t in e["tags"]
                  if t.startswith("game::") and t != "game::TODO"]
    return texts


def _filename_words(path: str) -> str:
    stem = re.sub(r"([a-z])([A-Z])", r"\1 \2", Path(path).stem)
    words = [w.lower() for w in re.split(r"[^A-Za-z]+", stem) if len(w) >= 3]
    return " ".join(w for w in words if w not in _FILENAME_NOISE)


def track_texts(meta: dict, package: dict | None) -> list[str]:
    """Every weak text of one track, deduplicated, track-level ones first."""
    texts = []
    if meta["title"]:
        texts.append(f"{meta['title']} by {meta['artist']}" if meta["artist"] else meta["title"])
    if meta["genre"] and meta["genre"].lower() not in ("other", "game"):
        texts.append(f"{meta['genre'].lower()} music")
    words = _filename_words(meta["path"])
    if words and words not in (meta["title"] or "").lower():
        texts.append(words)
    if package:
        texts += package_texts(package)
    return list(dict.fromkeys(t for t in texts if t.strip()))


class WeakTextSource:
    """Weak texts and package of an indexed track, looked up by its file name's stem."""

    def __init__(self, package_text: Path | None = None, provenance: Path | None = None,
                 manifest: Path | None = None):
        path = package_text or config.DEBIAN_TRAIN_DIR / "package_text.json"
        self.packages = json.loads(path.read_text(encoding="utf-8"))["packages"] if path.is_file() else {}
        self.meta = load_track_metadata(provenance, manifest)

    def for_track(self, name: str) -> TrackText | None:
        meta = self.meta.get(Path(name).stem)
        if meta is None:
            return None
        return TrackText(meta["package"], track_texts(meta, self.packages.get(meta["package"])))
