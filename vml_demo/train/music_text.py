"""Recipe for the MuLan-style music tower: library windows + synthesised descriptions -> checkpoint.

Each training example is one 10 s window in its temporal context (the windows 10 s before and after,
when the track has them: a 3-token sequence for the tower's transformer), paired with descriptions
synthesised (ViML section 3.1) from the taggers' confident terms over that context. Several descriptions
per example (each chosen method, a few random draws) are embedded once by the frozen text encoder; the
trainer samples one per epoch. Validation holds out whole tracks, so no window of a validation track is
ever trained on. Positives are grouped by track: windows of one track overlap, so a track's windows are
not each other's negatives (multi-positive targets over the track, see to_paired).

MuLan's weak real text (weak_text.py: the Debian catalog's titles and genre tags, package descriptions)
is attached to every window of a track that has it; `text.real_text_ratio` in the config is the share of
training draws taken from it instead of the synthesised descriptions. Validation then holds out whole
Debian packages, since a package's descriptions are shared by all its tracks.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..library.features import WindowTable, feature_columns, load_window_table
from ..library.store import LibraryStore
from ..library.windows import context_rows
from ..textsynth.terms import window_term_matrix
from .weak_text import TrackText, WeakTextSource

log = logging.getLogger(__name__)



@dataclass
class MusicTextExamples:
    features: list[np.ndarray]  # per example [T, F]
    texts: list[list[str]]  # per example, its alternative descriptions
    track_keys: list[str]  # per example, "db:track_id" (for track-level splits)
    methods_used: dict[str, int]  # SynthesizedText.label -> how many descriptions it actually produced
    real_texts: list[list[str]] = None  # per example, its track's weak real texts (maybe none)
    split_keys: list[str] = None  # per example, the unit of the train/validation split (package, else track)


def build_examples(tables: list[tuple[str, WindowTable]], methods: tuple[str, ...], per_method: int = 2,
                   seed: int = 0, input_kinds: tuple[str, ...] = ("emb", "scores"),
                   weak: dict[str, dict[int, TrackText]] | None = None) -> MusicTextExamples:
    """weak: table name -> track id -> that track's weak real text and package (tracks without are left out)."""
    from ..textsynth import TextSynthesizer
    from ..textsynth.aggregate import select_tags

    synth = TextSynthesizer()
    rng = np.random.default_rng(seed)
    out = MusicTextExamples([], [], [], {}, [], [])
    for name, table in tables:
        cols = feature_columns(table.feature_spec, input_kinds)
        terms, term_scores = window_term_matrix(table)
        for track_id, rows in table.track_slices().items():
            track_text = (weak or {}).get(name, {}).get(track_id)
            for row in range(rows.start, rows.stop):
                ctx = context_rows(rows, row)
                conf = term_scores[ctx].mean(axis=0)
                tagset = select_tags({t: float(c) for t, c in zip(terms, conf) if c > 0})
                texts = []
                for method in methods:
                    for _ in range(per_method):
                        result = synth.synthesize(tagset, method, rng)
                        texts.append(result.text)
                        out.methods_used[result.label] = out.methods_used.get(result.label, 0) + 1
                out.features.append(table.features[ctx][:, cols])
                out.texts.append(list(dict.fromkeys(texts)))  # identical draws add nothing
                out.track_keys.append(f"{name}:{track_id}")
                out.real_texts.append(list(track_text.texts) if track_text else [])
                out.split_keys.append(f"package:{track_text.package}" if track_text else f"{name}:{track_id}")
    return out


def weak_texts_for(db_dir: str | Path, source: WeakTextSource) -> dict[int, TrackText]:
    """Track id -> weak real text for the tracks of one index that the source knows."""
    store = LibraryStore(db_dir)
    try:
        found = {t.id: source.for_track(t.name or t.path) for t in store.tracks()}
    finally:
        store.close()
    return {k: v for k, v in found.items() if v is not None}


def to_paired(examples: MusicTextExamples, text_encoder, indices=None, real_text_ratio: float = 0.0):
    """PairedFeatures of the examples; with real_text_ratio > 0 the weak real texts are mixed in (training)."""
    from ..model.training import PairedFeatures

    idx = range(len(examples.features)) if indices is None else indices
    use_real = real_text_ratio > 0 and bool(examples.real_texts)
    unique = sorted({t for i in idx for t in examples.texts[i] + (examples.real_texts[i] if use_real else [])})
    vecs = dict(zip(unique, text_encoder.encode(unique))) if unique else {}
    real = {}
    if use_real:
        empty = np.zeros((0, int(text_encoder.dim)), np.float32)
        real = {"real_text_emb": [np.stack([vecs[t] for t in examples.real_texts[i]]) if examples.real_texts[i]
                                  else empty for i in idx]}
    # Windows of one track overlap (hop 5 s, +-10 s context) and share descriptions: the track is the group,
    # so they are never each other's negatives in training (multi_positive) nor misses in validation.
    groups = {key: n for n, key in enumerate(dict.fromkeys(examples.track_keys[i] for i in idx))}
    return PairedFeatures({
        "music_feats": [examples.features[i] for i in idx],
        "text_emb": [np.stack([vecs[t] for t in examples.texts[i]]) for i in idx],
        "target_id": [groups[examples.track_keys[i]] for i in idx],
        **real,
    }, mix={"text_emb": ("real_text_emb", float(real_text_ratio))} if use_real else None)


def split_by_group(group_keys: list[str], val_frac: float, seed: int) -> tuple[list[int], list[int]]:
    """Train/validation example indices with whole groups (tracks, or packages) on one side."""
    keys = sorted(set(group_keys))
    rng = np.random.default_rng(seed)
    val_keys = set(rng.choice(keys, size=max(1, int(round(val_frac * len(keys)))), replace=False)) if val_frac > 0 else set()
    train = [i for i, k in enumerate(group_keys) if k not in val_keys]
    val = [i for i, k in enumerate(group_keys) if k in val_keys]
    return train, val


def _prepare(db_dirs, text_encoder_name: str, methods, per_method: int, val_frac: float, overrides: dict | None):
    """Examples, split and every text's embedding, shared by the runs of a sweep over real_text_ratio."""
    from ..encoders.text import load_text_encoder
    from ..model.factory import load_config

    cfg = load_config("music_text_default", overrides)
    text_cfg = cfg.get("text", {})
    source = WeakTextSource(Path(text_cfg["real_text"]) if text_cfg.get("real_text") else None)
    tables, weak = [], {}
    for db in db_dirs:
        store = LibraryStore(db)
        tables.append((str(db), load_window_table(store)))
        store.close()
        weak[str(db)] = weak_texts_for(db, source)
    text_encoder = load_text_encoder(text_encoder_name)
    seed = int(cfg["train"]["seed"])
    input_kinds = tuple(cfg["features"].get("input_kinds") or ("emb", "scores"))
    examples = build_examples(tables, methods, per_method, seed, input_kinds, weak)
    if len(examples.features) < 4:
        from ..errors import LibraryError

        raise LibraryError("Too little music to train on (fewer than 4 windows in the given indexes)")
    split = split_by_group(examples.split_keys, val_frac, seed)
    spec = tables[0][1].feature_spec
    cfg["features"].update({
        "music_dim": int(examples.features[0].shape[1]), "text_dim": int(text_encoder.dim),
        "text_encoder": text_encoder.name, "music_encoder": "+".join(dict.fromkeys(e for e, _, _ in spec)),
        "feature_spec": [list(s) for s in spec], "input_kinds": list(input_kinds),
    })
    unique = sorted({t for ts in examples.texts + examples.real_texts for t in ts})
    cached = _CachedTexts(text_encoder, dict(zip(unique, text_encoder.encode(unique))) if unique else {})
    return cfg, examples, cached, split


class _CachedTexts:
    """The frozen text encoder's embeddings of a fixed set of texts, computed once."""

    def __init__(self, encoder, vecs: dict):
        self.name, self.dim, self.vecs = encoder.name, encoder.dim, vecs

    def encode(self, texts):
        return [self.vecs[t] for t in texts]


def _ratio(cfg: dict) -> float:
    ratio = float(cfg.get("text", {}).get("real_text_ratio") or 0.0)
    if not 0.0 <= ratio <= 1.0:
        from ..errors import QueryError

        raise QueryError(f"text.real_text_ratio must be between 0 and 1, got {ratio}")
    return ratio


def _fit(cfg: dict, examples: MusicTextExamples, text_encoder, split, db_dirs, methods, per_method: int,
         out_dir: Path, resume: bool, progress: bool):
    from ..model.factory import create_model
    from ..model.training import train_contrastive

    ratio, seed = _ratio(cfg), int(cfg["train"]["seed"])
    train_idx, val_idx = split
    train_data = to_paired(examples, text_encoder, train_idx, ratio)
    val_data = to_paired(examples, text_encoder, val_idx).with_pick("first") if val_idx else None
    cfg["train"]["progress"] = progress
    model = create_model(cfg, seed=seed)
    n_tracks = len(set(examples.track_keys))
    with_real = {examples.track_keys[i] for i in range(len(examples.features)) if examples.real_texts[i]}
    n_real = len({t for ts in examples.real_texts for t in ts})
    packages = {k for k in examples.split_keys if k.startswith("package:")}
    held_out = {examples.split_keys[i] for i in val_idx}
    card = {
        "data": f"{len(examples.features)} windows (with +-10 s context) of {n_tracks} tracks from "
                f"{', '.join(str(d) for d in db_dirs)}; {len(val_idx)} windows of {len(held_out)} held-out "
                f"groups (Debian packages, or tracks without one: {len(packages)} packages in all) for validation",
        "descriptions": f"methods {', '.join(methods)} x {per_method} draws per window; produced: {examples.methods_used}",
        "real text": f"weak real text (Debian catalog titles/genre tags, package descriptions, debtags) for "
                     f"{len(with_real)} of {n_tracks} tracks, {n_real} distinct texts; real_text_ratio {ratio:g} "
                     f"(share of training draws taken from it)",
        "text_encoder": f"{text_encoder.name} (frozen, {text_encoder.dim}-d)",
        "limitations": "- The synthesised descriptions come from the same taggers' thresholded output the tower "
                       "takes as input; the weak real text (when mixed in) is Debian metadata that "
                       "mostly describes the game, not its music, and is shared by all tracks of a package.\n"
                       "- Training music is game music; the evaluation sets are General MIDI renders and a small "
                       "set of Debian tracks with weak labels: all are far from the music people put under videos.\n"
                       "- Which space measures better is stated in the Evaluation section, read from metrics.json; "
                       "`VML_SPACE=auto` picks by those dev-split numbers.",
    }
    resume_from = out_dir / "last" if resume and (out_dir / "last").exists() else None
    return train_contrastive(model, train_data, val_data, out_dir=out_dir, resume_from=resume_from, model_card=card)


def train_music_text(db_dirs: list[str | Path], out_dir: str | Path, *, text_encoder_name: str = "minilm",
                     methods: tuple[str, ...] = ("tags", "data2text", "prompt2text"), per_method: int = 2,
                     val_frac: float = 0.1, overrides: dict | None = None, resume: bool = False,
                     progress: bool = True, real_text_ratios: tuple[float, ...] | None = None):
    """Train the tower on every library index in `db_dirs`; writes out_dir/{best,last} and returns TrainResult.

    real_text_ratios: a sweep instead: one run per ratio from one preparation (examples, split, text
    embeddings), written to out_dir/real_<ratio>/{best,last}; returns {ratio: TrainResult}.
    """
    import copy

    cfg, examples, text_encoder, split = _prepare(db_dirs, text_encoder_name, methods, per_method, val_frac, overrides)
    _ratio(cfg)
    if real_text_ratios is None:
        return _fit(cfg, examples, text_encoder, split, db_dirs, methods, per_method, Path(out_dir), resume, progress)
    results = {}
    for ratio in real_text_ratios:
        run_cfg = copy.deepcopy(cfg)
        run_cfg.setdefault("text", {})["real_text_ratio"] = float(ratio)
        results[float(ratio)] = _fit(run_cfg, examples, text_encoder, split, db_dirs, methods, per_method,
                                     Path(out_dir) / f"real_{float(ratio):g}", resume, progress)
    return results
