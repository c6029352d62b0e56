"""Track metadata: from a `library.json` sidecar (the bundled library's format), else the file's own tags.

The sidecar lists per file: title, artist, license and its source (Debian package, version, path),
from which the attribution line shown beside every result and muxed preview is built.
"""
from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

SIDECAR = "library.json"


def load_sidecar(folder: Path) -> dict[str, dict]:
    """Map file name (relative to folder) -> metadata dict; empty when there is no valid sidecar."""
    path = folder / SIDECAR
    if not path.exists():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        return {str(e["file"]): e for e in entries if isinstance(e, dict) and e.get("file")}
    except (OSError, ValueError, TypeError) as err:
        log.warning("ignoring unreadable %s: %s", path, err)
        return {}


def attribution_line(meta: dict) -> str:
    title = meta.get("title") or "Untitled"
    parts = [f"\u201c{title}\u201d"]
    if meta.get("artist"):
        parts.append(f"by {meta['artist']}")
    if meta.get("license"):
        parts.append(f"({meta['license']})")
    line = " ".join(parts)
    if meta.get("source_package"):
        line += f"; source: Debian {meta['source_package']} {meta.get('source_version', '')}".rstrip()
        if meta.get("source_path"):
            line += f": {meta['source_path']}"
    return line


def file_tags(path: Path) -> dict[str, str]:
    """title/artist/license-like tags that ffmpeg reads from the container (Vorbis comments, ID3, MP4)."""
    from ..media.ffmpeg import ffmpeg_exe

    try:
        out = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"],
            capture_output=True, timeout=20, check=False,
        ).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.TimeoutExpired):
        return {}
    tags: dict[str, str] = {}
    for line in out.splitlines():
        if "=" in line and not line.startswith(";"):
            key, _, value = line.partition("=")
            tags.setdefault(key.strip().lower(), value.strip())
    return tags


def track_metadata(folder: Path, rel_path: str, sidecar: dict[str, dict]) -> dict:
    meta = dict(sidecar.get(rel_path, {}))
    if not meta:
        tags = file_tags(folder / rel_path)
        meta = {
            "title": tags.get("title") or Path(rel_path).stem,
            "artist": tags.get("artist") or tags.get("album_artist", ""),
            "license": tags.get("license") or tags.get("copyright", ""),
        }
    meta["attribution"] = attribution_line(meta)
    return meta
