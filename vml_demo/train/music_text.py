"""Recipe for the MuLan-style music tower: library windows + synthesised descriptions -> checkpoint.

Each training example is one 10 s window in its temporal context (the windows 10 s before and after,
when the track has them: a 3-token sequence for the tower's transformer), paired with descriptions
synthesised (ViML section 3.1) from the taggers' confident terms over that context. Several descriptions
per example (each chosen method, a few random draws) are embedded once by the frozen text encoder; the
trainer samples one per epoch. Validation holds out whole tracks, so no window of a validation track is
ever trained on. Positives are grouped by track: windows of one track overlap, so a track's windows are
not each other's negatives (multi-positive targets over the track, see to_paired).
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

log = logging.getLogger(__name__)



@dataclass
class MusicTextExamples:
    features: list[np.ndarray]  # per example [T, F]
    texts: list[list[str]]  # per example, its alternative descriptions
    track_keys: list[str]  # per example, "db:track_id" (for track-level splits)
    methods_used: dict[str, int]  # SynthesizedText.label -> how many descriptions it actually produced


def build_examples(tables: list[tuple[str, WindowTable]], methods: tuple[str, ...], per_method: int = 2,
                   seed: int = 0, input_kinds: tuple[str, ...] = ("emb", "scores")) -> MusicTextExamples:
    from ..textsynth import TextSynthesizer
    from ..textsynth.aggregate import select_tags

    synth = TextSynthesizer()
    rng = np.random.default_rng(seed)
    out = MusicTextExamples([], [], [], {})
    for name, table in tables:
        cols = feature_columns(table.feature_spec, input_kinds)
        terms, term_scores = window_term_matrix(table)
        for track_id, rows in table.track_slices().items():
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
    return out


def to_paired(examples: MusicTextExamples, text_encoder, indices=None):
    from ..model.training import PairedFeatures

    idx = range(len(examples.features)) if indices is None else indices
    unique = sorted({t for i in idx for t in examples.texts[i]})
    vecs = dict(zip(unique, text_encoder.encode(unique))) if unique else {}
    # Windows of one track overlap (hop 5 s, +-10 s context) and share descriptions: the track is the group,
    # so they are never each other's negatives in training (multi_positive) nor misses in validation.
    groups = {key: n for n, key in enumerate(dict.fromkeys(examples.track_keys[i] for i in idx))}
    return PairedFeatures({
        "music_feats": [examples.features[i] for i in idx],
        "text_emb": [np.stack([vecs[t] for t in examples.texts[i]]) for i in idx],
        "target_id": [groups[examples.track_keys[i]] for i in idx],
    })


def split_by_track(track_keys: list[str], val_frac: float, seed: int) -> tuple[list[int], list[int]]:
    keys = sorted(set(track_keys))
    rng = np.random.default_rng(seed)
    val_keys = set(rng.choice(keys, size=max(1, int(round(val_frac * len(keys)))), replace=False)) if val_frac > 0 else set()
    train = [i for i, k in enumerate(track_keys) if k not in val_keys]
    val = [i for i, k in enumerate(track_keys) if k in val_keys]
    return train, val


def train_music_text(db_dirs: list[str | Path], out_dir: str | Path, *, text_encoder_name: str = "minilm",
                     methods: tuple[str, ...] = ("tags", "data2text", "prompt2text"), per_method: int = 2,
                     val_frac: float = 0.1, overrides: dict | None = None, resume: bool = False,
                     progress: bool = True):
    """Train the tower on every library index in `db_dirs`; writes out_dir/{best,last} and returns TrainResult."""
    from ..encoders.text import load_text_encoder
    from ..model.checkpoint import build_model, load_config
    from ..model.training import train_contrastive

    tables = []
    for db in db_dirs:
        store = LibraryStore(db)
        tables.append((str(db), load_window_table(store)))
        store.close()
    text_encoder = load_text_encoder(text_encoder_name)
    cfg = load_config("music_text_default", overrides)
    seed = int(cfg["train"]["seed"])
    input_kinds = tuple(cfg["features"].get("input_kinds") or ("emb", "scores"))
    examples = build_examples(tables, methods, per_method, seed, input_kinds)
    if len(examples.features) < 4:
        from ..errors import LibraryError

        raise LibraryError("Too little music to train on (fewer than 4 windows in the given indexes)")
    train_idx, val_idx = split_by_track(examples.track_keys, val_frac, seed)
    train_data = to_paired(examples, text_encoder, train_idx)
    val_data = to_paired(examples, text_encoder, val_idx).with_pick("first") if val_idx else None
    spec = tables[0][1].feature_spec
    cfg["features"].update({
        "music_dim": int(examples.features[0].shape[1]), "text_dim": int(text_encoder.dim),
        "text_encoder": text_encoder.name, "music_encoder": "+".join(dict.fromkeys(e for e, _, _ in spec)),
        "feature_spec": [list(s) for s in spec], "input_kinds": list(input_kinds),
    })
    cfg["train"]["progress"] = progress
    model = build_model(cfg, seed=seed)
    n_tracks = len(set(examples.track_keys))
    card = {
        "data": f"{len(examples.features)} windows (with +-10 s context) of {n_tracks} tracks from "
                f"{', '.join(str(d) for d in db_dirs)}; {len(val_idx)} windows of held-out tracks for validation",
        "descriptions": f"methods {', '.join(methods)} x {per_method} draws per window; produced: {examples.methods_used}",
        "text_encoder": f"{text_encoder.name} (frozen, {text_encoder.dim}-d)",
    }
    out_dir = Path(out_dir)
    resume_from = out_dir / "last" if resume and (out_dir / "last").exists() else None
    return train_contrastive(model, train_data, val_data, out_dir=out_dir, resume_from=resume_from, model_card=card)
