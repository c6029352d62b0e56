"""`evaluate video`: does the music the video path picks fit the video, as judged by a person beforehand?

Each judged video of a split (data/videoset/judgements.json) is queried by itself, no text, over each pool:
the synthetic set's and the real set's clips of the same split. A result fits when its labels include at
least one of the video's fitting words and none of its misfitting ones (evaluation/videoset.py); fit@5 = share of the top 5 that
fit; the random baseline is the share of the pool that fits (a random top 5's expected fit). The zero-shot
path (search/video_query.py: rules in vml_demo/data/video_to_music.json) is ranked in the tag bridge, each
music-text space given and the one `VML_SPACE=auto` ships, with the levers the settings choose (recorded in
the JSON's "levers"); a ViML checkpoint, when given, is queried through the learned path. The words each video
produced are reported, so a reader sees why.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from ..errors import VmlError
from ..model.metrics import format_table
from ..settings import get_settings

TOP_K = 5


def fit_at_k(ranked_clip_ids: list[str], labels_of: dict[str, dict], judgement, k: int = TOP_K) -> float:
    top = ranked_clip_ids[:k]
    return float(np.mean([judgement.fits(labels_of[c]) for c in top])) if top else 0.0


def pool_fit_share(labels_of: dict[str, dict], judgement) -> float:
    """The expected fit@k of a random ranking: the share of the pool that fits."""
    return float(np.mean([judgement.fits(lab) for lab in labels_of.values()]))


def _rank_pool(ranker, vec: np.ndarray, clip_of_track: dict[int, str], k: int = TOP_K) -> list[str]:
    return [clip_of_track[h.track_id] for h in ranker.rank(vec, k)]


def evaluate_video(split: str, *, judgements: Path | None = None, checkpoints: list[Path] = (),
                   viml_checkpoints: list[Path] = (), index_cache: Path | None = None, command: str = "",
                   progress: bool = True, testset_dir: Path | None = None, realset_dir: Path | None = None,
                   described: dict | None = None, tables: dict | None = None) -> dict:
    """`described`: a dict shared between calls that keeps each video's words (they do not depend on the
    music-text space), so a lever sweep decodes every video once; `tables` likewise keeps the indexed sets."""
    from ..encoders.text import load_text_encoder
    from ..model.checkpoint import code_version
    from ..search.ranking import Ranker
    from ..search.video_query import describe_video, video_vector
    from .music_text_report import DEFAULT_INDEX_DIRS, _prepare, _set_dirs, add_shipped_space
    from .testset import load_testset
    from .videoset import load_video_judgements

    try:
        videos = load_video_judgements(judgements, split=split)
    except FileNotFoundError as err:
        raise VmlError(f"no video judgements at {err.filename}") from err
    sets = _set_dirs("all", testset_dir, realset_dir)
    text_encoder = load_text_encoder("minilm")
    described = {} if described is None else described
    for v in videos:
        if v.id not in described:
            described[v.id] = describe_video(v.path)
    pools = {}
    for name, folder in sets.items():
        index_dir = Path(index_cache) / name if index_cache else DEFAULT_INDEX_DIRS[name]
        prep = _prepare(name, folder, index_dir, text_encoder, list(checkpoints), progress, tables)
        add_shipped_space(prep, text_encoder)  # the product's video search ranks in it
        view = load_testset(folder, split=split)
        labels_of = {c.id: c.labels for c in view.clips}
        order = [prep.track_of[c.id] for c in view.clips]
        clip_of_track = {prep.track_of[c.id]: c.id for c in view.clips}
        slices = prep.table.track_slices()
        rows, query_text = [], {}
        for s in prep.spaces:
            ranker = Ranker(prep.window_emb[s.name], np.array(order, np.int64), slices,
                            window_penalty=s.space.window_penalty(prep.window_emb[s.name]))
            for v in videos:
                query_text[v.id], vec, _ = video_vector(s.space, described[v.id])
                top = _rank_pool(ranker, vec, clip_of_track)
                rows.append({"path": "zero-shot", "space": s.name, "video": v.id,
                             "fit@5": fit_at_k(top, labels_of, v),
                             "random": pool_fit_share(labels_of, v), "top5": top})
        rows += _viml_rows(viml_checkpoints, prep, text_encoder, videos, order, clip_of_track, labels_of)
        pools[name] = {"clips": len(view.clips), "rows": rows, "mean": _means(rows)}
    return {
        "kind": "video_evaluation", "split": split,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "code_version": code_version(),
        "command": command, "levers": levers(),
        "videos": [{"id": v.id, "file": v.path.name, "query_text": query_text.get(v.id, ""),
                    "reasons": described[v.id].words.reasons, "seen": described[v.id].words.seen,
                    "heard_music": described[v.id].words.heard_music} for v in videos],
        "pools": pools,
    }


def levers() -> dict:
    """The zero-shot video path's switches this run used (settings.py: VML_VIDEO_SCENES, VML_VIDEO_LOOKS,
    VML_OWN_MUSIC_WEIGHT), so a lever table can say which row is which."""
    s = get_settings()
    return {"video_scenes": s.video_scenes, "video_looks": s.video_looks, "own_music_weight": s.own_music_weight}


def bridge_mean(pool: dict) -> dict:
    """A pool's mean row for the tag bridge, the space every video lever is judged in."""
    return next(m for m in pool["mean"] if m["space"] == "tag bridge")


def lever_summary(docs: list[dict], command: str = "") -> dict:
    """One row per `evaluate video` run (its levers, split, mean fit@5 and random per pool): the lever table."""
    rows = []
    for doc in docs:
        row = {"split": doc["split"], **doc.get("levers", {})}
        for name, pool in doc["pools"].items():
            mean = bridge_mean(pool)
            row[f"{name} fit@5 (%)"] = round(100 * mean["fit@5"], 1)
            row[f"{name} random (%)"] = round(100 * mean["random"], 1)
        rocket = [r["fit@5"] for pool in doc["pools"].values() for r in pool["rows"] if r["video"] == "rocket_launch"]
        row["rocket_launch fit@5 (%)"] = round(100 * float(np.mean(rocket)), 1) if rocket else None
        rows.append(row)
    return {"kind": "video_levers", "command": command, "rows": rows}


def _viml_rows(checkpoints, prep, text_encoder, videos, order, clip_of_track, labels_of) -> list[dict]:
    """Video-only queries through the learned ViML path (search/viml_path.py), over the same pool."""
    if not checkpoints:
        return []
    from ..encoders.profiles import active_profile
    from ..search.ranking import Ranker
    from ..search.viml_path import VimlPath

    text_emb = prep.window_emb["tag bridge"]
    slices = prep.table.track_slices()
    rows = []
    for ckpt in checkpoints:
        viml = VimlPath(Path(ckpt), prep.table, active_profile(), text_encoder, text_emb)
        ranker = Ranker(np.concatenate([viml.window_emb, text_emb], axis=1).astype(np.float32),
                        np.array(order, np.int64), slices, neg_emb=text_emb)
        for v in videos:
            video_only, _, _ = viml.encode_query(v.path, "")
            vec, _ = viml.query_vector(video_only, None, None, 1.0)
            top = _rank_pool(ranker, vec, clip_of_track)
            rows.append({"path": "viml", "space": f"viml {Path(ckpt).name}", "video": v.id,
                         "fit@5": fit_at_k(top, labels_of, v), "random": pool_fit_share(labels_of, v), "top5": top})
    return rows


def _means(rows: list[dict]) -> list[dict]:
    out = []
    for space in dict.fromkeys(r["space"] for r in rows):
        mine = [r for r in rows if r["space"] == space]
        out.append({"space": space, "videos": len(mine), "fit@5": float(np.mean([r["fit@5"] for r in mine])),
                    "random": float(np.mean([r["random"] for r in mine]))})
    return out


def format_video(doc: dict) -> str:
    parts = [format_table([{"video": v["id"], "words": v["query_text"]} for v in doc["videos"]],
                          title=f"What the zero-shot path heard and saw ({doc['split']} videos)")]
    for name, pool in doc["pools"].items():
        per_video = [{k: r[k] for k in ("space", "video", "fit@5", "random")} for r in pool["rows"]]
        parts.append(format_table(per_video + [{"space": m["space"], "video": "mean", "fit@5": m["fit@5"],
                                                "random": m["random"]} for m in pool["mean"]],
                                  percent=("fit", "random"),
                                  title=f"Judged fit of the top {TOP_K}, {name} pool ({pool['clips']} clips of the "
                                        f"{doc['split']} split; random = share of the pool that fits, %)"))
    return "\n\n".join(parts)
