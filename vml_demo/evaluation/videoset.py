"""Loader for the written video judgements in data/videoset/judgements.json.

Each judged video (the app's samples in assets/videos and the larger set in data/videoset/videos; `file`
is relative to the repository) has fitting and misfitting music words from the label vocabularies of the
evaluation pools (synthetic set: genre, mood, instrument, tempo; real set: genre, vocals, energy), written
before looking at what the system returns. A result fits a video when its labels include at least one fitting
value and no misfitting value (`VideoJudgement.fits`); the random baseline is the share of a pool that fits.
Videos are split: `dev` for tuning the video path's rules and weights, `test` for reporting.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from ..config import REPO_ROOT
from .testset import SPLITS

DEFAULT_FILE = REPO_ROOT / "data" / "videoset" / "judgements.json"


@dataclass(frozen=True)
class VideoJudgement:
    id: str
    path: Path
    split: str
    description: str
    fitting: dict[str, tuple[str, ...]]      # category -> values that suit the video
    misfitting: dict[str, tuple[str, ...]]   # category -> values that clash with it
    notes: str = ""

    def fits(self, labels: Mapping[str, Sequence[str] | str | None]) -> bool:
        """A clip's labels (category -> value or values; None/absent = unknown) fit this video."""
        def hit(words: dict[str, tuple[str, ...]]) -> bool:
            for cat, values in labels.items():
                have = [values] if isinstance(values, str) else values or ()
                if any(v in words.get(cat, ()) for v in have):
                    return True
            return False
        return hit(self.fitting) and not hit(self.misfitting)


def load_video_judgements(file: str | Path | None = None, split: str | None = None) -> list[VideoJudgement]:
    """All judged videos, or only one split's; FileNotFoundError when the file is missing."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    doc = json.loads(Path(file or DEFAULT_FILE).read_text(encoding="utf-8"))
    out = []
    for v in doc["videos"]:
        if split is not None and v["split"] != split:
            continue
        out.append(VideoJudgement(
            id=v["id"], path=REPO_ROOT / v["file"], split=v["split"], description=v["description"],
            fitting={k: tuple(vs) for k, vs in v["fitting"].items()},
            misfitting={k: tuple(vs) for k, vs in v["misfitting"].items()}, notes=v.get("notes", "")))
    return out
