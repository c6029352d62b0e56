"""Recipe for ViML's tri-modal model on a folder of music videos (videos whose soundtrack is music).

For each video: 10 s segments of frames -> video features (pixels only, vml_demo/encoders/video_features);
its own soundtrack -> the music encoders, pooled into the same non-overlapping 10 s windows -> music
features; the soundtrack's tags -> descriptions synthesised by the chosen ViML methods -> the frozen text
encoder. A training example is a clip of consecutive segments with the matching span of music.

Clip lengths: search queries a video with all of its segments, up to the model's max_video_segments (64;
search/viml_path.py), so training clips take every length of CLIP_LENGTHS up to that (and the whole video
when shorter): every query length and position the model is asked about has been trained. Clips of one
length overlap by half.
Positives are grouped by video: every clip carries its video's index as "target_id", so clips of one video
(which share music) are never each other's negatives: the loss drops them from the denominators
(multi_positive) and evaluation counts any clip of the query's own video as its hit. Multi-positive
targets rather than one clip per video per batch: batches stay full and every clip is used each epoch,
which matters with the few videos a user has.
Videos, not clips, are split into train and validation, so nothing of a validation video is trained on.
Each description keeps the method that actually produced it (prompt2text falls back to data2text without
a local LM), and the model card counts them. Features are cached per video file (keyed by content hash
and encoders) so reruns are quick.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MediaError, VmlError
from ..media.hashing import file_sha256

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = {".mp4", ".mov", ".webm", ".mkv", ".avi", ".mpg", ".mpeg", ".ogv", ".m4v"}
CLIP_LENGTHS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)  # in 10 s segments; capped at max_video_segments


@dataclass
class VideoItem:
    name: str
    video_feats: np.ndarray  # [S, Dv]
    music_feats: np.ndarray  # [S, Dm]
    texts: list[list[str]]  # per segment, its alternative descriptions
    methods: list[list[str]]  # per segment, the method that produced each description (SynthesizedText.label)


def find_videos(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())


def _cache_key(path: Path, video_encoder: str) -> str:
    digest = file_sha256(path, 16)
    return f"{path.stem}-{digest}-{video_encoder}"


def extract_item(path: Path, video_encoder: str, methods: tuple[str, ...], per_method: int, rng,
                 cache_dir: Path | None = None, allow_random_clip: bool = False) -> VideoItem:
    """Features of one music video; raises MediaError for videos without both pictures and sound."""
    from ..encoders.profiles import music_encoders
    from ..encoders.video_features import segment_features
    from ..library.features import table_from_analysis
    from ..library.indexer import analyze_track
    from ..media.audio import load_audio
    from ..media.probe import probe
    from ..textsynth.terms import window_term_matrix
    from ..textsynth import TextSynthesizer
    from ..textsynth.aggregate import select_tags

    info = probe(path)
    if not (info.has_video and info.has_audio):
        raise MediaError(f"{path.name} needs both a picture and a soundtrack to be a training pair")
    cached = cache_dir / f"{_cache_key(path, video_encoder)}.npz" if cache_dir else None
    if cached and cached.exists():
        data = np.load(cached)
        video_feats, music_feats, term_scores = data["video"], data["music"], data["terms"]
    else:
        starts, video_feats = segment_features(path, video_encoder, info=info, allow_random_clip=allow_random_clip)
        audio = load_audio(path, 16000, info=info)
        duration = len(audio) / 16000
        # The music windows are the video's own segments (non-overlapping), not the library's 10 s / 5 s grid.
        spans = [(float(s), float(min(s + 10.0, max(duration, s + 1e-3)))) for s in starts]
        encoders = music_encoders()
        _, vectors = analyze_track([(0.0, audio)], duration, encoders, spans)
        table = table_from_analysis(spans, vectors, encoders)
        music_feats = table.features
        _, term_scores = window_term_matrix(table)
        if cached:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cached, video=video_feats, music=music_feats, terms=term_scores)
    from ..textsynth.vocabulary import load_vocabulary

    terms = load_vocabulary().terms()
    synth = TextSynthesizer()
    texts, used = [], []
    for row in term_scores:
        tagset = select_tags({t: float(c) for t, c in zip(terms, row) if c > 0})
        draws = {}  # text -> the method that produced it first (identical draws add nothing)
        for m in methods:
            for _ in range(per_method):
                result = synth.synthesize(tagset, m, rng)
                draws.setdefault(result.text, result.label)
        texts.append(list(draws))
        used.append(list(draws.values()))
    return VideoItem(path.name, video_feats, music_feats, texts, used)


def clip_spans(n_segments: int, max_segments: int) -> list[slice]:
    """Spans of every length in CLIP_LENGTHS up to max_segments (plus the whole video when it is shorter),
    each length sliding with stride half its length."""
    lengths = sorted({min(n, n_segments) for n in CLIP_LENGTHS if n <= max_segments} | {min(n_segments, max_segments)})
    return [slice(i, i + length) for length in lengths
            for i in range(0, n_segments - length + 1, max(1, length // 2))]


def clips_of(item: VideoItem, max_segments: int) -> list[tuple[slice, list[str]]]:
    """The clips of one video (clip_spans), with the descriptions of each clip's middle segment."""
    return [(span, item.texts[(span.start + span.stop - 1) // 2])
            for span in clip_spans(len(item.video_feats), max_segments)]


def method_counts(items: list[VideoItem]) -> dict[str, int]:
    """How many distinct descriptions each method actually produced (for the model card)."""
    counts: dict[str, int] = {}
    for item in items:
        for labels in item.methods:
            for label in labels:
                counts[label] = counts.get(label, 0) + 1
    return counts


def to_paired(items: list[VideoItem], text_encoder, max_segments: int):
    """Clips of every video as PairedFeatures; "target_id" is the video's index (grouped positives)."""
    from ..model.training import PairedFeatures

    video, music, texts, target = [], [], [], []
    for video_id, item in enumerate(items):
        for span, descriptions in clips_of(item, max_segments):
            video.append(item.video_feats[span])
            music.append(item.music_feats[span])
            texts.append(descriptions)
            target.append(video_id)
    unique = sorted({t for ts in texts for t in ts})
    vecs = dict(zip(unique, text_encoder.encode(unique)))
    return PairedFeatures({"video_feats": video, "music_feats": music,
                           "text_emb": [np.stack([vecs[t] for t in ts]) for ts in texts], "target_id": target})


def load_items(folder: Path, video_encoder: str, methods, per_method: int, seed: int, cache_dir: Path | None,
               allow_random_clip: bool = False, progress: bool = True) -> tuple[list[VideoItem], list[str]]:
    rng = np.random.default_rng(seed)
    items, skipped = [], []
    videos = find_videos(folder)
    iterator = videos
    if progress:
        from tqdm import tqdm

        iterator = tqdm(videos, unit="video", desc="extracting features")
    for path in iterator:
        try:
            items.append(extract_item(path, video_encoder, methods, per_method, rng, cache_dir, allow_random_clip))
        except MediaError as err:
            skipped.append(str(err))  # the message names the file
    return items, skipped


def split_items(items: list[VideoItem], val_frac: float, seed: int) -> tuple[list[VideoItem], list[VideoItem]]:
    order = np.random.default_rng(seed).permutation(len(items))
    n_val = int(round(val_frac * len(items))) if len(items) > 2 else 0
    val = [items[i] for i in order[:n_val]]
    return [items[i] for i in order[n_val:]], val


def train_viml(folder: str | Path, out_dir: str | Path, *, video_encoder: str = "efficientnet_lite0",
               text_encoder_name: str = "minilm", methods: tuple[str, ...] = ("tags", "data2text", "prompt2text"),
               per_method: int = 2, val_frac: float = 0.2, overrides: dict | None = None,
               resume: bool = False, cache_dir: str | Path | None = None, progress: bool = True,
               allow_random_clip: bool = False):
    from ..encoders.text import load_text_encoder
    from ..model.factory import create_model, load_config
    from ..model.training import train_contrastive

    cfg = load_config("viml_default", overrides)
    seed = int(cfg["train"]["seed"])
    items, skipped = load_items(Path(folder), video_encoder, methods, per_method, seed,
                                Path(cache_dir) if cache_dir else None, allow_random_clip, progress)
    if len(items) < 2:
        raise VmlError(f"Found {len(items)} usable music videos in {folder} (need at least 2 with picture and sound)"
                       + (f"; skipped: {'; '.join(skipped[:3])}" if skipped else ""))
    text_encoder = load_text_encoder(text_encoder_name)
    train_items, val_items = split_items(items, val_frac, seed)
    max_segments = int(cfg["model"]["max_video_segments"])
    train_data = to_paired(train_items, text_encoder, max_segments)
    val_data = to_paired(val_items, text_encoder, max_segments).with_pick("first") if val_items else None
    cfg["features"].update({
        "video_dim": int(items[0].video_feats.shape[1]), "music_dim": int(items[0].music_feats.shape[1]),
        "text_dim": int(text_encoder.dim), "video_encoder": video_encoder, "text_encoder": text_encoder.name,
        "music_encoder": "musicnn_mtt+musicnn_msd+yamnet",
    })
    cfg["train"]["progress"] = progress
    model = create_model(cfg, seed=seed)
    if cfg["model"].get("empty_text", "empty_string") == "empty_string":
        model.set_empty_text(text_encoder.encode([""])[0])
    card = {
        "data": f"{len(train_items)} training and {len(val_items)} validation music videos from {folder} "
                f"({len(train_data)} / {len(val_data) if val_data else 0} clips of 1 to {max_segments} x 10 s, "
                f"grouped by video)",
        "skipped": "; ".join(skipped) or "none",
        "descriptions": f"methods requested {', '.join(methods)} x {per_method} draws per segment; distinct "
                        f"descriptions produced per method: {method_counts(items)}",
        "encoders": f"video {video_encoder}, text {text_encoder.name} (frozen), music musicnn MTT+MSD and YAMNet",
    }
    out_dir = Path(out_dir)
    resume_from = out_dir / "last" if resume and (out_dir / "last").exists() else None
    result = train_contrastive(model, train_data, val_data, out_dir=out_dir, resume_from=resume_from, model_card=card)
    return result, val_data
