"""Cut the training excerpts the shipped music tower was trained on from the fetched Debian music.

Usage: python scripts/make_training_excerpts.py [--src data/debian_train/audio] [--out runs/debian_excerpts]
then:  python -m vml_demo index runs/debian_excerpts --db runs/debian_index

At most 4 tracks per Debian package (so no single game dominates), seeded per package (a package's choice
does not depend on which other packages are there, so excerpts can be cut and indexed while a fetch is still
running), then at most --tracks in all; each excerpt is 60 s starting 10 s in (past intros), re-encoded to
Ogg Opus 64 kb/s, so indexing costs at most 60 s of audio per track. Excerpts in --out that are no longer
chosen are removed. Run scripts/fetch_debian_music.py first.
"""
from __future__ import annotations

import argparse
import collections
import random
import subprocess
from pathlib import Path

import imageio_ffmpeg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default="data/debian_train/audio")
    ap.add_argument("--out", default="runs/debian_excerpts")
    ap.add_argument("--tracks", type=int, default=150)
    ap.add_argument("--per-package", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    src, out = Path(args.src), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    by_package = collections.defaultdict(list)
    for f in sorted(src.iterdir()):
        by_package[f.name.split("__")[0]].append(f)  # fetch_debian_music names files PACKAGE__NAME
    chosen = []
    for package, files in sorted(by_package.items()):
        random.Random(f"{args.seed}:{package}").shuffle(files)
        chosen += files[: args.per_package]
    random.Random(args.seed).shuffle(chosen)
    targets = {out / (f.stem + ".ogg"): f for f in sorted(chosen[: args.tracks])}
    for stale in set(out.glob("*.ogg")) - set(targets):
        stale.unlink()
    for target, f in targets.items():
        if not target.exists():
            partial = target.with_suffix(".part.ogg")  # renamed when complete: an interrupted cut is redone
            subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-ss", "10", "-i", str(f), "-t",
                            "60", "-c:a", "libopus", "-b:a", "64k", str(partial)], check=False, timeout=300)
            if partial.exists():
                partial.rename(target)
    print(f"{len(list(out.glob('*.ogg')))} excerpts in {out} from {len(by_package)} packages")


if __name__ == "__main__":
    main()
