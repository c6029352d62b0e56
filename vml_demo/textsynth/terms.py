"""Vocabulary-term confidences per window, as one matrix, from every tagger's outputs.

Each vocabulary term (genre, mood, instrument, ...) draws on labels of the MTT and MSD taggers and on
AudioSet classes (vml_demo/data/music_vocabulary.json); its confidence in a window is the maximum over
those sources (negative tags such as MTT "no vocals" cap what they deny), as the vocabulary's
`map_score_matrix` defines; across taggers the maximum is taken.
"""
from __future__ import annotations

import numpy as np

from ..library.features import WindowTable
from .aggregate import TaggerWindows, window_term_scores


def term_matrix_from_scores(
    scores: dict[str, np.ndarray], labels: dict[str, list[str]], vocabularies: dict[str, str]
) -> tuple[list[str], np.ndarray]:
    """(terms, [N, T] confidences) from per-encoder [N, C] tag probabilities: max over taggers."""
    taggers = [TaggerWindows(vocabularies[enc], labels[enc], mat) for enc, mat in scores.items()]
    return window_term_scores(taggers)


def window_term_matrix(table: WindowTable, store=None) -> tuple[list[str], np.ndarray]:
    """Term scores of every window of a table; computed once per table (the bridge, its statistics and the
    explanations all read it). With the table's `store`, kept on disk beside the library and reused until the
    library or the vocabulary changes (a cold search then skips the computation)."""
    if "term_matrix" not in table.derived:
        compute = lambda: term_matrix_from_scores(table.scores, table.labels, table.vocabularies)  # noqa: E731
        if store is None:
            table.derived["term_matrix"] = compute()
        else:
            from ..library.vectors import load_or_build_arrays
            from ..media.hashing import file_sha256
            from .vocabulary import VOCABULARY_PATH

            def build():
                names, matrix = compute()
                return {"names": np.array(names), "matrix": matrix}

            arrays = load_or_build_arrays(store, f"term_matrix-{file_sha256(VOCABULARY_PATH, 16)}", build)
            table.derived["term_matrix"] = ([str(n) for n in arrays["names"]], arrays["matrix"])
    return table.derived["term_matrix"]


def distinctive_weights(term_scores: np.ndarray, mean: np.ndarray, std: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """How far above the library's typical confidence each term is (z-score minus `margin`, negatives cut to 0).

    Taggers differ in scale (YAMNet's genre classes rarely exceed 0.3, MTT tags often do), and every
    track is "music": what tells tracks apart is a term being stronger than usual. A margin keeps only the
    terms clearly present, so a hundred slightly-above-average terms do not drown the few strong ones.
    """
    return np.clip((term_scores - mean) / np.maximum(std, 1e-3) - margin, 0.0, None)


def query_term_weights(term_sims: np.ndarray, temperature: float) -> np.ndarray:
    """Texts' cosines to the term phrases [Q, T] -> weights [Q, T]: a softmax sharpened by `temperature`, so a
    query counts the few terms it names rather than a little of every term its embedding is near."""
    logits = term_sims / temperature
    logits = logits - logits.max(axis=1, keepdims=True)
    w = np.exp(logits)
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def orthonormal_rows(vectors: np.ndarray) -> np.ndarray:
    """The orthonormal rows nearest to `vectors` [T, D] (T <= D; polar factor U V^T of the SVD): one direction
    per term, so a window's score for a term-weighted query is the dot product of the two term weightings,
    not blurred by how alike the term phrases' embeddings are."""
    if vectors.shape[0] > vectors.shape[1]:
        raise ValueError(f"{vectors.shape[0]} terms cannot have orthonormal directions in {vectors.shape[1]} dimensions")
    u, _, vt = np.linalg.svd(np.asarray(vectors, np.float64), full_matrices=False)
    return (u @ vt).astype(np.float32)


def tagger_term_matrices(table: WindowTable) -> tuple[list[str], dict[str, np.ndarray]]:
    """(terms, {encoder: [N, T] term confidences from that tagger alone}); computed once per table."""
    if "tagger_term_matrices" not in table.derived:
        from .vocabulary import load_vocabulary

        vocab, out, names = load_vocabulary(), {}, []
        for enc, mat in table.scores.items():
            names, out[enc] = vocab.map_score_matrix(table.vocabularies[enc], table.labels[enc], mat)
        table.derived["tagger_term_matrices"] = (names, out)
    return table.derived["tagger_term_matrices"]


class TermCalibration:
    """Calibrated term evidence: each tagger's confidence in each term, z-scored against that tagger's own
    distribution over the library's windows, made soft (softplus of z, so a term just above its usual
    level still counts a little and none is cut by a threshold), then averaged over the taggers that
    cover the term. The max over raw confidences lets the tagger with the widest scale speak for every
    term it shares (MTT's "rock" drowns YAMNet's rarely-above-0.3 "Rock music"); z-scores put the taggers
    on one scale first, so MTT, MSD and AudioSet's genre, instrument and mood classes all count.
    """

    def __init__(self, table: WindowTable):
        _, mats = tagger_term_matrices(table)
        self.stats = {enc: (m.mean(axis=0), m.std(axis=0)) for enc, m in mats.items()}

    def evidence(self, table: WindowTable) -> np.ndarray:
        _, mats = tagger_term_matrices(table)
        total = count = None
        for enc, m in mats.items():
            if enc not in self.stats:
                continue
            mean, std = self.stats[enc]
            covers = std > 1e-6  # a term this tagger cannot see is constant over the library: no evidence
            z = np.where(covers, (m - mean) / np.maximum(std, 1e-6), 0.0)
            soft = np.logaddexp(0.0, z) * covers
            total = soft if total is None else total + soft
            count = covers.astype(np.float32) if count is None else count + covers
        return (total / np.maximum(count, 1.0)).astype(np.float32)
