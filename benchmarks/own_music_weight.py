"""Choose VML_OWN_MUSIC_WEIGHT on dev: few judged videos have a soundtrack, so each dev video gets a known one.

For each dev video, the first dev clip of the synthetic set (by id) that fits its judgement is muxed under it (in place
of any sound it has) as "the music that is there" (a creator's own fitting soundtrack). The video is then queried on the zero-shot path
with the music taking a share w of the video vector, over the dev pool *without that clip* (finding the clip itself
proves nothing), and fit@5 is averaged over the videos. Writes results/own_music_dev.json.
Usage: python benchmarks/own_music_weight.py
"""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def main() -> None:
    from vml_demo.encoders.text import load_text_encoder
    from vml_demo.evaluation.music_text_report import DEFAULT_INDEX_DIRS, _prepare, _set_dirs
    from vml_demo.evaluation.results import dump_json
    from vml_demo.evaluation.testset import load_testset
    from vml_demo.evaluation.video_eval import fit_at_k, pool_fit_share
    from vml_demo.evaluation.videoset import load_video_judgements
    from vml_demo.media.ffmpeg import ffmpeg_exe
    from vml_demo.search.ranking import Ranker
    from vml_demo.search.video_query import describe_video, video_vector

    folder = _set_dirs("all", None, None)["synthetic"]
    prep = _prepare("synthetic", folder, DEFAULT_INDEX_DIRS["synthetic"], load_text_encoder("minilm"), [], False)
    space = prep.spaces[0]
    view = load_testset(folder, split="dev")
    labels_of = {c.id: c.labels for c in view.clips}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for video in load_video_judgements(None, split="dev"):
            clip = next(c for c in sorted(view.clips, key=lambda c: c.id) if video.fits(c.labels))
            muxed = Path(tmp) / f"{video.id}.mp4"
            subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(video.path), "-stream_loop", "-1", "-i",
                            str(clip.path), "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest",
                            str(muxed)], check=True, timeout=120)
            described = describe_video(muxed)
            pool = [c for c in view.clips if c.id != clip.id]
            order = [prep.track_of[c.id] for c in pool]
            clip_of_track = {prep.track_of[c.id]: c.id for c in pool}
            ranker = Ranker(prep.window_emb[space.name], np.array(order, np.int64), prep.table.track_slices())
            pool_labels = {c.id: c.labels for c in pool}
            for w in WEIGHTS:
                _, vec, share = video_vector(space.space, described, weight=w)
                top = [clip_of_track[h.track_id] for h in ranker.rank(vec, 5)]
                rows.append({"video": video.id, "own_music": clip.id, "heard_music": described.words.heard_music,
                             "weight": w, "share_used": share, "fit@5": fit_at_k(top, labels_of, video),
                             "random": pool_fit_share(pool_labels, video)})
    means = [{"weight": w, "fit@5": float(np.mean([r["fit@5"] for r in rows if r["weight"] == w])),
              "random": float(np.mean([r["random"] for r in rows if r["weight"] == w]))} for w in WEIGHTS]
    doc = {"kind": "own_music_weight", "split": "dev", "command": "python benchmarks/own_music_weight.py",
           "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "rows": means, "per_video": rows}
    out = Path("results/own_music_dev.json")
    out.write_text(dump_json(doc), encoding="utf-8")
    for m in means:
        print(f"weight {m['weight']:.2f}  dev fit@5 {100 * m['fit@5']:.1f}%  random {100 * m['random']:.1f}%")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
