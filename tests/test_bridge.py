"""Tag bridge levers: queries in term space, sparse window evidence, tempo terms from BPM, the new genre terms."""
from __future__ import annotations

import numpy as np
import pytest

from vml_demo.encoders.base import l2_normalize
from vml_demo.settings import overridden
from vml_demo.textsynth.vocabulary import load_vocabulary


class _PhraseEncoder:
    """Text encoder stand-in: each "<term> music" phrase has its own direction plus a shared "music" one; piano
    and harpsichord are nearly the same phrase (cosine ~0.95), as related terms are for a sentence encoder.
    Any other text is the sum of the phrases of the terms it names (so "piano music, no vocals" works)."""

    name = "phrases"

    def __init__(self):
        rng = np.random.default_rng(0)
        self.terms = load_vocabulary().terms()
        music = rng.standard_normal(256)
        self.rows = {t: music + 0.5 * rng.standard_normal(256) for t in self.terms}
        self.rows["harpsichord"] = self.rows["piano"] + 0.1 * rng.standard_normal(256)

    def encode(self, texts):
        out = []
        for text in texts:
            named = [t for t in load_vocabulary().match_terms(text)] or [text.removesuffix(" music")]
            out.append(sum(self.rows[t] for t in named))
        return l2_normalize(np.array(out))


class _Table:
    """The fields of a WindowTable that the bridge reads."""

    def __init__(self, scores, labels, vocabularies, track_ids):
        self.scores, self.labels, self.vocabularies, self.derived = scores, labels, vocabularies, {}
        self.track_ids = np.asarray(track_ids)


def _piano_harpsichord_table():
    """40 windows: the first 20 clearly piano, the last 20 clearly harpsichord (MTT tags)."""
    rng = np.random.default_rng(1)
    mtt = rng.uniform(0.0, 0.1, (40, 2)).astype(np.float32)
    mtt[:20, 0] = 0.9
    mtt[20:, 1] = 0.9
    return _Table({"m": mtt}, {"m": ["piano", "harpsichord"]}, {"m": "mtt"}, np.arange(40))


def _margin(space, table, text):
    """Mean score of the piano windows minus that of the harpsichord windows, for one text."""
    s = space.window_embeddings(table) @ space.embed_text([text])[0]
    return float(s[:20].mean() - s[20:].mean())


def test_query_in_term_space_separates_terms_whose_phrases_are_alike():
    from vml_demo.search.spaces import TagBridgeSpace

    table, enc = _piano_harpsichord_table(), _PhraseEncoder()
    with overridden({"VML_BRIDGE_QUERY": "embedding"}):
        plain = TagBridgeSpace(enc, table)
    with overridden({"VML_BRIDGE_QUERY": "terms", "VML_BRIDGE_QUERY_T": "0.01"}):
        terms = TagBridgeSpace(enc, table)
    gram = terms.term_vecs @ terms.term_vecs.T  # one orthonormal direction per term, 256-d vectors kept
    assert terms.term_vecs.shape == plain.term_vecs.shape
    assert np.allclose(gram, np.eye(len(terms.terms)), atol=1e-4)
    # the whole embedding hardly tells piano windows from harpsichord ones; term weights do
    assert _margin(terms, table, "piano music") > 0.3
    assert _margin(terms, table, "piano music") > 2 * abs(_margin(plain, table, "piano music"))
    assert _margin(terms, table, "harpsichord music") < -0.3


def test_term_space_queries_keep_negations_working():
    from vml_demo.search.query import parse_query
    from vml_demo.search.spaces import TagBridgeSpace

    with overridden({"VML_BRIDGE_QUERY": "terms", "VML_BRIDGE_QUERY_T": "0.05"}):
        space = TagBridgeSpace(_PhraseEncoder(), _piano_harpsichord_table())
    vec, negs = space.embed_query(parse_query("piano music, no vocals"))
    vocals = space.term_vecs[space.terms.index("vocals")]
    assert negs.shape == (1, vec.shape[0]) and float(negs[0] @ vocals) > 0.9
    assert float(vec @ vocals) < 0.1  # the negated term is not asked for


def test_each_clause_of_a_description_keeps_its_own_terms():
    from vml_demo.search.spaces import TagBridgeSpace

    with overridden({"VML_BRIDGE_QUERY": "terms", "VML_BRIDGE_QUERY_T": "0.01"}):
        space = TagBridgeSpace(_PhraseEncoder())
    w = space.text_term_weights(["piano music, vocals music", "vocals music"])
    cols = [space.terms.index(t) for t in ("piano", "vocals")]
    assert np.allclose(w.sum(axis=1), 1) and (w[0, cols] > 0.3).all() and w[1, cols[1]] > 0.9
    assert space.embed_text([]).shape == (0, space.term_vecs.shape[1])


def test_query_term_weights_are_a_sharpened_softmax():
    from vml_demo.textsynth.terms import query_term_weights

    sims = np.array([[0.9, 0.8, 0.1], [0.2, 0.2, 0.2]], np.float32)
    sharp, soft = query_term_weights(sims, 0.02), query_term_weights(sims, 1.0)
    assert np.allclose(sharp.sum(axis=1), 1) and np.allclose(soft.sum(axis=1), 1)
    assert sharp[0, 0] > 0.99 > soft[0, 0] and np.allclose(sharp[1], 1 / 3)


def test_margin_keeps_only_clearly_present_terms():
    from vml_demo.textsynth.terms import distinctive_weights

    scores = np.array([[0.5, 0.62, 0.9]], np.float32)
    mean, std = np.full(3, 0.5, np.float32), np.full(3, 0.1, np.float32)
    assert np.allclose(distinctive_weights(scores, mean, std), [[0.0, 1.2, 4.0]], atol=1e-5)
    assert np.allclose(distinctive_weights(scores, mean, std, margin=2.0), [[0.0, 0.0, 2.0]], atol=1e-5)


def test_tempo_labels_from_bpm():
    from vml_demo.textsynth.tempo_terms import tempo_label_scores

    s = tempo_label_scores(np.array([66.0, 108.0, 150.0, np.nan]))
    assert s[:3].argmax(axis=1).tolist() == [0, 1, 2] and (s[:3].max(axis=1) > 0.9).all()
    assert np.allclose(s[:3].sum(axis=1), 1) and (s[3] == 0).all()  # no steady beat: no evidence


def test_bridge_reads_tempo_terms_from_the_tracks_bpm_only_when_asked():
    from vml_demo.search.spaces import TagBridgeSpace
    from vml_demo.textsynth.tempo_terms import rhythm_term_scores

    table = _piano_harpsichord_table()
    table.track_ids = np.repeat(np.arange(4), 10)  # 4 tracks of 10 windows
    assert rhythm_term_scores(table) is None  # the table carries no tempos
    table.derived["track_tempos"] = {0: 70.0, 1: 110.0, 2: 150.0}  # track 3: no steady beat
    terms = load_vocabulary().terms()
    rhythm = rhythm_term_scores(table)
    cols = [terms.index(t) for t in ("slow", "medium tempo", "fast")]
    assert rhythm[::10][:, cols].argmax(axis=1)[:3].tolist() == [0, 1, 2] and (rhythm[30:] == 0).all()
    with overridden({"VML_BRIDGE_TEMPO": "tagger"}):
        assert (TagBridgeSpace(_PhraseEncoder(), table).term_scores(table)[:, cols] == 0).all()
    with overridden({"VML_BRIDGE_TEMPO": "bpm"}):
        got = TagBridgeSpace(_PhraseEncoder(), table).term_scores(table)
    assert np.allclose(got[:, cols], rhythm[:, cols])


def test_new_terms_have_real_tagger_classes_and_are_matched_in_text():
    vocab = load_vocabulary()
    assert vocab.term("disco").sources["audioset"] == (("/m/026z9", 1.0),)  # AudioSet "Disco"
    assert vocab.term("salsa").sources["audioset"] == (("/m/0ln16", 1.0),)  # AudioSet "Salsa music"
    assert vocab.broader("disco") == "dance" and vocab.broader("salsa") == "latin"
    assert list(vocab.match_terms("a mid-tempo disco tune, not salsa")) == ["medium tempo", "disco"]
    assert vocab.match_terms("a mid-tempo disco tune, not salsa").negated == ["salsa"]


@pytest.mark.parametrize("env,value", [("VML_BRIDGE_QUERY_T", "0"), ("VML_BRIDGE_MARGIN", "-1"),
                                       ("VML_BRIDGE_QUERY", "words"), ("VML_BRIDGE_TEMPO", "guess")])
def test_bad_bridge_settings_name_the_variable(env, value):
    from vml_demo.errors import SettingsError

    with pytest.raises(SettingsError, match=env):
        with overridden({env: value}):
            pass


def test_term_directions_are_cached_on_disk(tmp_path, monkeypatch):
    from vml_demo.encoders.cached_text import cached_array

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return np.eye(3, 4, dtype=np.float32)

    first = cached_array("term_directions", "k", compute, (3, 4))
    again = cached_array("term_directions", "k", compute, (3, 4))
    assert np.array_equal(first, again) and len(calls) == 1  # the second came from the file
    cached_array("term_directions", "k", lambda: np.zeros((2, 4), np.float32), (2, 4))  # other shape: recomputed
    assert cached_array("term_directions", "k", compute, (3, 4)).shape == (3, 4) and len(calls) == 2
