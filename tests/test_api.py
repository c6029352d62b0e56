"""The public facade (vml_demo.api): one loaded library searches, embeds and tags in one space."""
from __future__ import annotations

import numpy as np
import pytest

from vml_demo import api
from vml_demo.errors import QueryError
from vml_demo.search.engine import SearchEngine

METAL = "fretsonfire_metal_madness.ogg"


@pytest.fixture(scope="module")
def library(small_library):
    return api.load_library(small_library, space="bridge")


def test_library_is_the_search_engine_of_its_index(library, small_library):
    assert isinstance(library, SearchEngine) and library.db_dir == small_library
    via_module = api.search(text="heavy metal with distorted guitar, no vocals", k=3, library=library)
    direct = SearchEngine.search(library, text="heavy metal with distorted guitar, no vocals", k=3)
    assert [r.track_id for r in via_module.results] == [r.track_id for r in direct.results]
    assert len(via_module.results) == 3 and "vocals" in via_module.negated


def test_embed_music_and_text_share_one_space(library, library_dir):
    from vml_demo.media.audio import load_audio

    words = api.embed_text(["heavy metal", "lullaby"], library=library)
    assert words.shape == (2, library.space.embed_text(["x"]).shape[1])
    assert np.allclose(np.linalg.norm(words, axis=1), 1.0, atol=1e-5)
    assert np.allclose(library.embed_text("heavy metal"), words[:1])
    song = library.embed_music(library_dir / METAL)
    assert song.shape == (words.shape[1],) and np.isclose(np.linalg.norm(song), 1.0, atol=1e-5)
    assert song @ words[0] > song @ words[1]  # the metal track is nearer "heavy metal" than "lullaby"
    samples = load_audio(library_dir / METAL, 16000)
    assert np.allclose(library.embed_music(samples), song, atol=1e-4)  # samples or the file: the same vector
    windows = library.embed_music(samples, per_window=True)
    assert windows.ndim == 2 and windows.shape[1] == song.shape[0]


def test_tag_zero_shot_and_tagger_top_tags(library, library_dir):
    ranked = api.tag(library_dir / METAL, ["lullaby", "heavy metal", "jazz"], library=library)
    assert [r["label"] for r in ranked][0] == "heavy metal"
    assert np.all(np.diff([r["score"] for r in ranked]) <= 0)
    top = library.tag(library_dir / METAL, top=2)
    assert set(top["vocabularies"]) == {"mtt", "msd", "audioset"}
    assert all(len(rows) == 2 for rows in top["vocabularies"].values())


@pytest.mark.parametrize("audio, message", [
    (np.zeros((2, 16000), np.float32), "mono"),
    (np.full(16000, np.nan, np.float32), "NaN"),
    (np.zeros(10, np.float32), "too short"),
])
def test_bad_samples_get_one_line_messages(library, audio, message):
    with pytest.raises(QueryError, match=message) as err:
        library.embed_music(audio)
    assert "\n" not in str(err.value)


def test_labels_must_be_given(library, library_dir):
    with pytest.raises(QueryError, match="at least one label"):
        library.tag(library_dir / METAL, labels=[" "])
    with pytest.raises(QueryError, match="as a list"):
        library.tag(library_dir / METAL, labels="jazz,rock")
