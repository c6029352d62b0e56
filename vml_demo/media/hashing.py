"""Content hashes of files: the one helper behind every cache key, fingerprint and index entry."""
from __future__ import annotations

import hashlib
import os


def file_sha256(path: str | os.PathLike, length: int | None = None) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (tracks and checkpoints can be large);
    `length` keeps only that many leading hex digits (short cache keys)."""
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    return digest[:length] if length else digest
