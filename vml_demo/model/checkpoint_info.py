"""What choosing and fitting a checkpoint needs, read without torch: its config and its sha-256.

`save_checkpoint` writes checkpoint.json beside checkpoint.pt ({"sha256", "kind", "config"}), so a search can
check that a tower fits the library (text encoder, feature_spec) and name its cached window vectors without
importing torch or reading the weights. A checkpoint saved before the file existed, or whose checkpoint.pt was
replaced since (the sha-256 no longer matches), is read with torch once and the file written beside it; a
read-only checkpoint folder is read that way each time. Never a fit check skipped: the config checked is the
one inside the checkpoint.pt whose hash it carries.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import WeightsUnavailableError
from ..media.files import write_atomically
from ..media.hashing import file_sha256

WEIGHTS_FILE, INFO_FILE = "checkpoint.pt", "checkpoint.json"


class CheckpointMismatchError(WeightsUnavailableError):
    """The checkpoint exists but was trained on other features than the active encoders produce."""


def check_features(config: dict, expect: dict | None, source: str = "checkpoint") -> None:
    """Raise CheckpointMismatchError when config["features"] disagrees with `expect` (e.g. {"text_dim": 384})."""
    found = config.get("features", {})
    problems = [f"{key}: checkpoint has {found.get(key)!r}, active encoders give {value!r}"
                for key, value in (expect or {}).items()
                if value is not None and found.get(key) is not None and found.get(key) != value]
    if problems:
        raise CheckpointMismatchError(f"{source} does not fit the active encoders ({'; '.join(problems)})")


def info_of_payload(payload: dict, sha256: str) -> dict:
    return {"sha256": sha256, "kind": payload.get("kind"), "config": payload["config"]}


def write_info(directory: Path, info: dict) -> None:
    """checkpoint.json into `directory`, atomically (temp file + rename)."""
    write_atomically(Path(directory) / INFO_FILE, lambda tmp: Path(tmp).write_text(json.dumps(info, indent=1)))


def checkpoint_info(directory: str | Path) -> dict:
    """{"sha256", "kind", "config"} of `directory`'s checkpoint.pt: from checkpoint.json when it names the
    file's current sha-256, else read from checkpoint.pt (torch) and written beside it when the folder allows."""
    directory = Path(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise WeightsUnavailableError(f"no model checkpoint at {directory} ({WEIGHTS_FILE} is missing)")
    digest = file_sha256(weights)
    try:
        info = json.loads((directory / INFO_FILE).read_text())
        if isinstance(info, dict) and info.get("sha256") == digest and isinstance(info.get("config"), dict):
            return info
    except (OSError, ValueError):
        pass  # missing, unreadable or stale: derive it below
    from .checkpoint import _read_payload

    info = info_of_payload(_read_payload(directory, "cpu"), digest)
    try:
        write_info(directory, info)
    except OSError:
        pass  # read-only checkpoint folder: derived again next time
    return info
