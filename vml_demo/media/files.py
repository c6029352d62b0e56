"""Writes that a crash or a concurrent reader never sees half done: the one temp-file-and-rename helper."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def write_atomically(target: str | os.PathLike, write: Callable[[str], None], prefix: str = ".tmp-",
                     suffix: str = "") -> Path:
    """`write(temp path)` in `target`'s folder (made if missing), then the file renamed into place, readable like
    any derived file (mkstemp makes 0600); the temp file is removed whatever happens."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
    os.close(fd)
    try:
        write(staging)
        os.chmod(staging, 0o644)
        os.replace(staging, target)
    finally:
        if os.path.exists(staging):
            os.unlink(staging)
    return target
