"""A synthetic video/text/music data set whose modalities are statistically tied, to prove training works.

Per source video two latent vectors are drawn: z_visual (what the picture shows) and z_text (what only
words say, e.g. the mood the editor wants). A source has up to 2 x max_segments 10 s segments; z_visual
drifts slowly over them (a random walk), so segments are alike but not equal and sequence order carries
information. Then, with fixed random linear maps A_* drawn once per data set and Gaussian noise:
  video segment s     = A_v z_visual(s) + noise                      (video never sees z_text)
  music window s      = scale * (A_m [z_visual(s), z_text] + noise) + offset
  description         = A_t [z_text, text_visual_leak * mean_s z_visual(s)] + noise   (s over the clip)
Clips are `clips_per_source` random spans of 1..max_segments segments of a source, so clips of one source
overlap and share their music exactly, as clips cut from a real video do; "target_id" is the source, so
training treats them as positives of each other and evaluation counts any clip of the source as the hit.
The music depends on both latents, so a video-only query can find its music only up to the part z_text
explains, while video+text can do better: text carries information the video lacks. Training clips get
`n_descriptions` noisy descriptions each (one is sampled per epoch). The "empty string" embedding is a
fixed random vector unrelated to any clip, like a real text encoder's embedding of "". Music features
get a large scale and offset so the models' input standardisation is exercised.
`shuffle_train_pairs` breaks the video/music pairing of the training split: a model trained on it must
stay at chance (the negative control).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.training import PairedFeatures


@dataclass
class SyntheticTriModal:
    train: PairedFeatures
    val: PairedFeatures
    test: PairedFeatures
    empty_text: np.ndarray  # [text_dim], the stand-in for the text encoder's embedding of ""
    features: dict  # video_dim, text_dim, music_dim (+ encoder names), for the model config


@dataclass
class _Maps:
    video: np.ndarray
    music: np.ndarray
    text: np.ndarray


def _clips(rng, maps: _Maps, n: int, visual_latent: int, text_latent: int, max_segments: int, drift: float,
           noise: float, text_visual_leak: float, n_descriptions: int, music_scale: float,
           music_offset: np.ndarray, clips_per_source: int) -> dict:
    video, music, text, source = [], [], [], []
    n_sources = 0
    while len(video) < n:
        n_src = int(rng.integers(max_segments, 2 * max_segments + 1)) if clips_per_source > 1 else \
            int(rng.integers(1, max_segments + 1))
        z_visual = rng.standard_normal(visual_latent)
        steps = rng.standard_normal((n_src, visual_latent)) * drift
        steps[0] = 0.0
        z_visual_seq = z_visual + np.cumsum(steps, axis=0)  # slow drift over segments
        z_text = rng.standard_normal(text_latent)
        src_video = z_visual_seq @ maps.video.T + noise * rng.standard_normal((n_src, maps.video.shape[0]))
        joint = np.concatenate([z_visual_seq, np.repeat(z_text[None], n_src, axis=0)], axis=1)
        src_music = music_scale * (joint @ maps.music.T + noise * rng.standard_normal((n_src, maps.music.shape[0]))) \
            + music_offset
        for _ in range(min(clips_per_source, n - len(video))):
            n_seg = int(rng.integers(1, min(max_segments, n_src) + 1)) if clips_per_source > 1 else n_src
            start = int(rng.integers(0, n_src - n_seg + 1))
            span = slice(start, start + n_seg)
            video.append(src_video[span])
            music.append(src_music[span])
            text_latents = np.concatenate([z_text, text_visual_leak * z_visual_seq[span].mean(axis=0)])
            text.append(text_latents @ maps.text.T + noise * rng.standard_normal((n_descriptions, maps.text.shape[0])))
            source.append(n_sources)
        n_sources += 1
    return {"video_feats": video, "music_feats": music, "text_emb": text, "target_id": np.asarray(source)}


def make_synthetic_viml_data(n_train: int = 1536, n_val: int = 300, n_test: int = 500, video_dim: int = 32,
                             text_dim: int = 48, music_dim: int = 40, visual_latent: int = 6, text_latent: int = 6,
                             max_segments: int = 6, drift: float = 0.3, noise: float = 1.0,
                             text_visual_leak: float = 0.3, n_descriptions: int = 2, music_scale: float = 20.0,
                             clips_per_source: int = 3, shuffle_train_pairs: bool = False,
                             seed: int = 0) -> SyntheticTriModal:
    """Train/val/test splits (see the module docstring); val and test use each clip's first description.

    clips_per_source 1: every clip is its own source (a whole sequence of 1..max_segments segments)."""
    rng = np.random.default_rng(seed)
    maps = _Maps(video=rng.standard_normal((video_dim, visual_latent)) / np.sqrt(visual_latent),
                 music=rng.standard_normal((music_dim, visual_latent + text_latent)) / np.sqrt(visual_latent + text_latent),
                 text=rng.standard_normal((text_dim, text_latent + visual_latent)) / np.sqrt(text_latent))
    music_offset = rng.uniform(-50, 50, music_dim)
    common = dict(visual_latent=visual_latent, text_latent=text_latent, max_segments=max_segments, drift=drift,
                  noise=noise, text_visual_leak=text_visual_leak, music_scale=music_scale, music_offset=music_offset,
                  clips_per_source=clips_per_source)
    train = _clips(rng, maps, n_train, n_descriptions=n_descriptions, **common)
    val = _clips(rng, maps, n_val, n_descriptions=1, **common)
    test = _clips(rng, maps, n_test, n_descriptions=1, **common)
    if shuffle_train_pairs:  # own generator: the other splits and vectors stay those of the unshuffled set
        perm = np.random.default_rng(seed + 1).permutation(n_train)
        train["music_feats"] = [train["music_feats"][i] for i in perm]
    empty_text = rng.standard_normal(text_dim) * float(np.mean([np.linalg.norm(t[0]) for t in train["text_emb"]])) / np.sqrt(text_dim)
    features = {"video_dim": video_dim, "text_dim": text_dim, "music_dim": music_dim,
                "video_encoder": "synthetic", "text_encoder": "synthetic", "music_encoder": "synthetic"}
    return SyntheticTriModal(PairedFeatures(train), PairedFeatures(val, pick="first"),
                             PairedFeatures(test, pick="first"), empty_text.astype(np.float32), features)


# Small settings that train in seconds on a CPU; the benchmark and the tests share them.
FAST_VIML_SETTINGS = {
    "model": {"d_model": 64, "n_layers": 1, "n_heads": 4, "dropout": 0.1, "max_video_segments": 16,
              "max_music_segments": 16},
    "train": {"epochs": 10, "batch_size": 128, "lr": 1e-3, "warmup_frac": 0.05, "progress": False},
}


def train_synthetic_viml(data: SyntheticTriModal, overrides: dict | None = None, pool_size: int | None = None):
    """Train a ViML model on `data` with FAST_VIML_SETTINGS (+ overrides); (model, test metrics, history)."""
    from ..model.checkpoint import build_model, load_config, merge_config
    from ..model.training import evaluate_model, train_contrastive

    config = load_config("viml_default", merge_config(merge_config(FAST_VIML_SETTINGS, {"features": data.features}),
                                                      overrides))
    model = build_model(config, seed=int(config["train"]["seed"]))
    model.set_empty_text(data.empty_text)
    result = train_contrastive(model, data.train, data.val)
    return model, evaluate_model(model, data.test, pool_size=pool_size), result.history
