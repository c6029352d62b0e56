"""Variants of the shipped tag bridge tried on the DEV split, none of them shipped: each is measured here so the
README can say why (results/bridge_query_variants_dev.json, table `bridge_query_variants_dev`).

Every row starts from the shipped settings (term-space queries, BPM tempo terms, max evidence, no hubness
reduction) and changes one thing on the bridge's instance, for the synthetic and real sets' dev queries and
tagging (the video evaluation builds its own spaces and is not part of this table):
- term co-occurrence expansion: a text's term weights w become (1 - a) w + a w C, C the positive correlations of
  the terms' window evidence over the bundled library's windows (rows normalised), so "calm" also asks a little
  for what calm tracks tend to have;
- synonyms: a clause's cosine to a term is the best over the term's surface forms in the vocabulary (name and
  synonyms, "<form> music"), not its name alone;
- CSLS over the whole query bank: each window loses `w` times its mean similarity to every "<term> music" phrase
  (the shipped CSLS lever takes its 10 nearest, `evaluation/levers.py`).
Usage: python benchmarks/bridge_query_variants.py [--out results/bridge_query_variants_dev.json]
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import types
from pathlib import Path

import numpy as np

EXPANSION = (0.1, 0.2, 0.3)
CSLS_WEIGHTS = (0.25, 0.5, 1.0)


def cooccurrence(space, table) -> np.ndarray:
    """[T, T] positive correlations of term evidence over `table`'s windows, each row summing to 1."""
    evidence = np.clip(space.window_embeddings(table) @ space.term_vecs.T, 0, None)
    z = (evidence - evidence.mean(0)) / (evidence.std(0) + 1e-6)
    c = np.clip(z.T @ z / len(z), 0, None)
    np.fill_diagonal(c, 0)
    return c / (c.sum(1, keepdims=True) + 1e-9)


def expanded(shipped, c: np.ndarray, a: float):
    def text_term_weights(self, texts):
        w = shipped(texts)
        return (1 - a) * w + a * (w @ c)
    return text_term_weights


def with_synonyms(space, encoder):
    """clause_term_cosines that take each term's best cosine over its surface forms (name and synonyms)."""
    from vml_demo.encoders.base import l2_normalize
    from vml_demo.textsynth.vocabulary import load_vocabulary

    vocab = load_vocabulary()
    forms = [(i, s) for i, t in enumerate(space.terms) for s in vocab.surface_forms(t)]
    owner = np.array([i for i, _ in forms])
    units = l2_normalize(encoder.encode([f"{s} music" for _, s in forms]) - space.center)

    def clause_term_cosines(self, clause_vecs):
        sims = clause_vecs @ units.T
        return np.stack([sims[:, owner == j].max(axis=1) for j in range(len(self.terms))], axis=1)
    return clause_term_cosines


def csls_all(space, weight: float):
    from vml_demo.search.hubness import bank_texts, window_penalty

    bank = space.embed_text(bank_texts())
    return lambda self, emb, method=None: window_penalty(emb, bank, "csls", k=len(bank), weight=weight)


def measure(row: str, preps: dict) -> dict:
    from vml_demo.evaluation.music_text_eval import text_to_music_metrics
    from vml_demo.evaluation.music_text_report import _split_scores, _tagging_rows

    out = {"row": row}
    for name, prep in preps.items():
        view, scores, rel, ig = _split_scores(prep, "dev")
        m = text_to_music_metrics(scores["tag bridge"], rel, ig)
        out[f"{name} mAP"] = m["mAP"]
        out[f"{name} top-10 max share"] = m["hubness"]["max_share"]
        for t in _tagging_rows(prep, view):
            if t["kind"] == "bridge":
                out[f"{name} {t['category']} ROC-AUC"] = t["ROC-AUC"]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("results/bridge_query_variants_dev.json"))
    args = ap.parse_args(argv)

    from vml_demo import config
    from vml_demo.encoders.text import load_text_encoder
    from vml_demo.evaluation.music_text_report import DEFAULT_INDEX_DIRS, _prepare, _set_dirs
    from vml_demo.evaluation.results import dump_json
    from vml_demo.library.features import load_window_table
    from vml_demo.library.store import LibraryStore
    from vml_demo.model.checkpoint import code_version
    from vml_demo.search.spaces import TagBridgeSpace

    encoder = load_text_encoder("minilm")
    preps = {n: _prepare(n, f, DEFAULT_INDEX_DIRS[n], encoder, [], False) for n, f in _set_dirs("all", None, None).items()}
    store = LibraryStore(config.REPO_ROOT / "assets" / "index")
    try:
        library = load_window_table(store)
        library.derived["track_tempos"] = store.track_tempos()
    finally:
        store.close()
    spaces = {n: p.spaces[0].space for n, p in preps.items()}
    shipped = {n: s.text_term_weights for n, s in spaces.items()}
    c = cooccurrence(TagBridgeSpace(encoder, library), library)

    def variant(name: str, patch) -> dict:
        for n, s in spaces.items():
            patch(n, s)
        row = measure(name, preps)
        for s in spaces.values():  # back to what ships: the class's methods
            for attr in ("text_term_weights", "clause_term_cosines", "window_penalty"):
                vars(s).pop(attr, None)
        print(" ".join(f"{k} {v:.3f}" if isinstance(v, float) else str(v) for k, v in row.items()), flush=True)
        return row

    rows = [variant("shipped", lambda n, s: None)]
    for a in EXPANSION:
        rows.append(variant(f"term co-occurrence expansion a={a:g}",
                            lambda n, s, a=a: setattr(s, "text_term_weights",
                                                      types.MethodType(expanded(shipped[n], c, a), s))))
    rows.append(variant("synonyms in the query mapping",
                        lambda n, s: setattr(s, "clause_term_cosines", types.MethodType(with_synonyms(s, encoder), s))))
    for w in CSLS_WEIGHTS:
        rows.append(variant(f"CSLS over the whole bank, weight {w:g}",
                            lambda n, s, w=w: setattr(s, "window_penalty", types.MethodType(csls_all(s, w), s))))
    doc = {"kind": "bridge_query_variants", "split": "dev",
           "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "code_version": code_version(),
           "command": "python benchmarks/bridge_query_variants.py" + ("" if args.out == ap.get_default("out")
                                                                     else f" --out {args.out}"),
           "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dump_json(doc))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
