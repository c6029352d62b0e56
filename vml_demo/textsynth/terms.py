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


def distinctive_weights(term_scores: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """How far above the library's typical confidence each term is (z-score, negatives cut to 0).

    Taggers differ in scale (YAMNet's genre classes rarely exceed 0.3, MTT tags often do), and every
    track is "music": what tells tracks apart is a term being stronger than usual.
    """
    return np.clip((term_scores - mean) / np.maximum(std, 1e-3), 0.0, None)
