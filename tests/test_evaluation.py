"""Evaluation code: hubness, the random baseline, ignore/not handling, the JSON objects, metrics.json and the
model cards rendered from it, the README tables rendered from results/, and the measured space choice."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vml_demo import config
from vml_demo.evaluation.hubness import hubness, k_occurrence, random_hubness, skewness
from vml_demo.evaluation.music_text_eval import query_scores, text_to_music_metrics
from vml_demo.evaluation.random_baseline import expected_average_precision, random_ranking_metrics
from vml_demo.model.metrics import mean_average_precision


# --- hubness ---------------------------------------------------------------------------------------
def test_hubness_on_a_hand_computed_example():
    sim = np.array([[4.0, 3, 2, 1], [4, 1, 3, 2], [1, 4, 3, 2]])
    assert k_occurrence(sim, k=1).tolist() == [2, 1, 0, 0]
    # counts [2,1,0,0]: mean .75, m2 = .6875, m3 = .28125 -> skew = .28125 / .6875**1.5
    h = hubness(sim, k=1)
    assert h["skewness"] == pytest.approx(0.28125 / 0.6875**1.5) and h["max_share"] == pytest.approx(2 / 3)
    assert k_occurrence(sim, k=2).tolist() == [2, 2, 2, 0]
    exclude = np.zeros_like(sim, dtype=bool)
    exclude[0, 0] = True  # query 0 may not return candidate 0: its top 1 becomes candidate 1
    assert k_occurrence(sim, k=1, exclude=exclude).tolist() == [1, 2, 0, 0]
    assert skewness(np.array([3, 3, 3])) == 0.0


def test_random_hubness_is_seeded_and_matches_its_bounds():
    whole = random_hubness(7, 10, k=10, draws=20)  # the top 10 of 10 is the whole pool: every clip in every list
    assert whole["max_share"] == 1.0 and whole["skewness"] == 0.0
    a, b = random_hubness(300, 100, draws=50), random_hubness(300, 100, draws=50)
    assert a == b and a["draws"] == 50 and a["seed"] == 0
    # each clip is in Binomial(300, 0.1) lists: mean 30, sd ~5.2; the most frequent of 100 clips sits ~2.5 sd up
    assert 0.12 < a["max_share"] < 0.16 and abs(a["skewness"]) < 0.6
    relevance = np.zeros((300, 100), bool)
    relevance[:, 7] = True  # clip 7 is relevant to every query: a perfect ranking puts it in every top 10
    ideal = random_hubness(300, 100, draws=20, relevance=relevance)
    assert ideal["max_share"] == 1.0 and ideal["skewness"] > 5


def test_hubness_is_measured_over_whole_rankings_not_the_judged_ones():
    sim = np.array([[0.9, 0.5, 0.1], [0.9, 0.2, 0.6]])  # clip 0 tops both rankings
    relevance = np.array([[False, True, False], [False, False, True]])
    ignore = np.array([[True, False, False], [True, False, False]])  # ... but is ignored when judging both
    m = text_to_music_metrics(sim, relevance, ignore, hub_k=1)
    assert m["R@1"] == 1.0 and m["hubness"]["max_share"] == 1.0  # relevance without it, hubness with it


def test_zero_shot_tagging_reports_each_label():
    from vml_demo.evaluation.music_text_eval import zero_shot_tagging_metrics

    space = _WordSpace()
    clips = space.embed_text(["rock guitar", "rock", "piano", "piano music"])
    labels = [{"genre": "rock"}, {"genre": ["rock", "piano"]}, {"genre": "piano"}, {"genre": None}]
    m = zero_shot_tagging_metrics(space, clips, labels, ("genre",))["genre"]
    assert m["labels"] == 2 and set(m["per_label"]) == {"rock", "piano"}
    assert m["per_label"]["rock"]["positives"] == 2 and m["per_label"]["piano"]["positives"] == 2
    assert m["ROC-AUC"] == pytest.approx(np.mean([v["ROC-AUC"] for v in m["per_label"].values()]))


# --- random baseline -------------------------------------------------------------------------------
def test_random_baseline_exact_values_and_shuffles_agree():
    assert expected_average_precision(2, 1) == pytest.approx(0.75)  # rank 1 or 2, equally likely
    assert expected_average_precision(5, 5) == pytest.approx(1.0)
    sizes = [(12, 1), (12, 3), (9, 4)]
    exact = random_ranking_metrics(sizes)
    assert exact["R@1"] == pytest.approx(np.mean([1 / 12, 3 / 12, 4 / 9]))
    rng = np.random.default_rng(0)
    sims, rels = [], []
    for _ in range(4000):
        for n, r in sizes:
            rel = np.zeros(n, bool)
            rel[:r] = True
            sims.append(rng.permutation(n).astype(float))
            rels.append(rel)
    sampled_map = np.mean([mean_average_precision(s[None], r[None]) for s, r in zip(sims, rels)])
    assert exact["mAP"] == pytest.approx(sampled_map, abs=0.01)
    ranks = [int((s[~r] >= s[r].max()).sum()) + 1 for s, r in zip(sims, rels)]
    for k in (5, 10):
        assert exact[f"R@{k}"] == pytest.approx(np.mean(np.array(ranks) <= k), abs=0.015)
    assert exact["medR"] == float(np.median(ranks))


# --- ignore and not --------------------------------------------------------------------------------
def test_ignored_clips_count_neither_way():
    sim = np.array([[0.9, 0.5, 0.1]])  # clip 0 ignored (say its instrument is only in the accompaniment)
    relevance = np.array([[False, True, False]])
    ignore = np.array([[True, False, False]])
    plain, dropped = text_to_music_metrics(sim, relevance), text_to_music_metrics(sim, relevance, ignore)
    assert plain["R@1"] == 0.0 and plain["mAP"] == pytest.approx(0.5)
    assert dropped["R@1"] == 1.0 and dropped["mAP"] == 1.0 and dropped["medR"] == 1.0
    assert set(dropped) >= {"R@1", "R@5", "R@10", "medR", "mAP", "queries", "hubness"}


class _WordSpace:
    """A toy music-text space: a text is its bag of known words, so scores are hand-checkable."""
    WORDS = ("rock", "guitar", "piano", "music")

    def embed_text(self, texts):
        out = np.array([[float(w in t.lower().split()) for w in self.WORDS] for t in texts]) + 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_query(self, query):
        from vml_demo.search.spaces import MusicSpace

        return MusicSpace.embed_query(self, query)

    def window_penalty(self, window_emb):
        return None  # no hubness reduction in the toy space


def _toy_table(vectors: list[np.ndarray]):
    from types import SimpleNamespace

    track_ids = np.arange(len(vectors))
    table = SimpleNamespace(track_ids=track_ids)
    table.track_slices = lambda: {int(t): slice(int(t), int(t) + 1) for t in track_ids}
    emb = np.stack(vectors)
    return table, emb / np.linalg.norm(emb, axis=1, keepdims=True)


def test_negated_queries_go_through_the_products_penalties():
    space = _WordSpace()
    rock_guitar, rock_piano = np.array([1.0, 1.0, 0, 0.1]), np.array([1.0, 0, 0.8, 0.1])
    table, emb = _toy_table([rock_guitar, rock_piano])
    wanted = query_scores(space, emb, table, [0, 1], ["rock guitar"])
    negated = query_scores(space, emb, table, [0, 1], ["rock without guitar"])
    assert wanted[0, 0] > wanted[0, 1]  # guitar asked for: the guitar clip first
    assert negated[0, 1] > negated[0, 0]  # "without guitar": cut from the text AND penalised
    positive_only = query_scores(space, emb, table, [0, 1], ["rock"])
    assert negated[0, 0] < positive_only[0, 0]


# --- results files, README tables, model cards -----------------------------------------------------
def _row(space, kind, checkpoint=None, m=0.3):
    return {"space": space, "kind": kind, "checkpoint": checkpoint, "R@1": m, "R@5": 0.5, "R@10": 0.7, "medR": 3.0,
            "mAP": m, "queries": 4, "hubness": {"k": 10, "skewness": 0.5, "max_share": 0.75}}


def _doc(split="test", bridge=0.3, tower=0.2):
    result = {"folder": "data/x", "clips": 6, "queries": 4,
              "retrieval": [_row("tag bridge", "bridge", m=bridge), _row("tower ck", "tower", "ck", tower),
                            {**_row("ensemble 0.6 bridge + tower ck", "ensemble", "ck", 0.31), "bridge_weight": 0.6},
                            _row("random ranking (expected)", "random", m=0.1)],
              "tagging": [{"space": "tag bridge", "kind": "bridge", "checkpoint": None, "category": "genre",
                           "ROC-AUC": 0.7, "PR-AUC": 0.4, "labels": 3}]}
    doc = {"kind": "music_text_evaluation", "split": split, "date": "2026-12-02T00:00:00+00:00",
           "code_version": "vml_demo test", "command": "python -m vml_demo evaluate music-text",
           "checkpoints": [{"name": "ck", "fingerprint": "abc"}],
           "ensembles": [{"checkpoint": "ck", "tower": "tower ck", "bridge_weight": 0.6, "chosen_on": "dev",
                          "criterion": "mean dev mAP over the synthetic sets", "scoring": "ensemble_space",
                          "dev_mAP_by_weight": {}}],
           "sets": {"synthetic": result}}
    if split != "dev":
        doc["dev"] = {"synthetic": json.loads(json.dumps(result))}
    return doc


def test_metrics_json_and_card_from_an_evaluation(tmp_path):
    from vml_demo.evaluation.checkpoint_metrics import write_checkpoint_metrics
    from vml_demo.model.evaluation_card import evaluation_section_of, render_evaluation_section

    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "checkpoint.pt").write_bytes(b"weights")
    (ck / "model_card.md").write_text("# ck\n\n## Data\n\nsome music\n\n## Limitations\n\nfew windows\n")
    write_checkpoint_metrics(ck, _doc("dev"))
    metrics = json.loads((ck / "metrics.json").read_text())
    assert set(metrics["splits"]) == {"dev"} and metrics["fingerprint"] == "abc"
    write_checkpoint_metrics(ck, _doc("test", bridge=0.25, tower=0.4))
    metrics = json.loads((ck / "metrics.json").read_text())
    assert set(metrics["splits"]) == {"dev", "test"}
    rows = metrics["splits"]["test"]["sets"]["synthetic"]["retrieval"]
    assert [r["kind"] for r in rows] == ["bridge", "tower", "ensemble", "random"]
    card = (ck / "model_card.md").read_text()
    assert card.index("## Evaluation") < card.index("## Limitations") and "some music" in card
    assert evaluation_section_of(card) == render_evaluation_section(metrics)
    # a test run keeps the dev entry its dev run wrote: dev decides (ensemble 0.31 > bridge 0.3 > tower 0.2),
    # test is reported
    assert "ensemble 0.6 bridge + tower ck measures best" in card and "0.400" in card
    assert "tower ck 0.200" in card and "VML_SPACE=auto" not in card  # no config.yaml: no shipped sentence
    write_checkpoint_metrics(ck, _doc("dev"))  # re-evaluated: one section, the other split kept
    assert (ck / "model_card.md").read_text().count("## Evaluation") == 1
    assert set(json.loads((ck / "metrics.json").read_text())["splits"]) == {"dev", "test"}


def _limitations(card: str) -> str:
    return card.split("## Limitations", 1)[1].split("\n## ", 1)[0] if "## Limitations" in card else ""


@pytest.mark.parametrize("folder", sorted(p.parent for p in config.CHECKPOINTS_DIR.glob("*/model_card.md")),
                         ids=lambda p: p.name)
def test_shipped_model_cards_match_their_metrics(folder):
    from vml_demo.evaluation.checkpoint_metrics import card_section
    from vml_demo.model.evaluation_card import evaluation_section_of

    card = (folder / "model_card.md").read_text()
    metrics_path = folder / "metrics.json"
    if not metrics_path.exists():
        assert evaluation_section_of(card) is None or "Not evaluated yet" in evaluation_section_of(card)
        return
    section = evaluation_section_of(card)
    assert section == card_section(folder, json.loads(metrics_path.read_text())), \
        f"{folder.name}: card is stale, re-run python -m vml_demo evaluate music-text --checkpoint {folder}"
    assert "`VML_SPACE=auto` compares" in section and " in use: " in section  # which space ships, and why
    outside = card.replace(section, "")
    assert "| tag bridge" not in outside  # no typed copy of the evaluation table
    assert not any(ch.isdigit() for ch in _limitations(card)), "Limitations must not state numbers"


def test_readme_tables_are_rendered_from_results():
    from vml_demo.evaluation.tables import render_readme

    readme = (config.REPO_ROOT / "README.md").read_text()
    rendered, names = render_readme(readme, config.REPO_ROOT / "results")
    assert rendered == readme, "README tables are stale: python -m vml_demo evaluate render-readme"
    assert {"music_text_test_synthetic", "video_test"} <= set(names)


def test_table_renderer_uses_the_file(tmp_path):
    from vml_demo.evaluation.results import dump_json
    from vml_demo.evaluation.tables import render_readme

    (tmp_path / "music_text_test.json").write_text(dump_json(_doc()))
    text = "a\n<!-- table:music_text_test_synthetic -->\nold\n<!-- /table -->\nb\n"
    out, names = render_readme(text, tmp_path)
    assert names == ["music_text_test_synthetic"] and "old" not in out and "| tag bridge | 30.0 |" in out
    assert out.startswith("a\n") and out.endswith("<!-- /table -->\nb\n")
    assert render_readme(out, tmp_path)[0] == out


def test_label_table_splits_labels_by_vocabulary(tmp_path):
    from vml_demo.evaluation.results import dump_json
    from vml_demo.evaluation.tables import render_table

    doc = _doc()
    per_label = {"rock": {"ROC-AUC": 0.8, "PR-AUC": 0.5, "positives": 3},
                 "waltz": {"ROC-AUC": 0.4, "PR-AUC": 0.2, "positives": 2}}
    for sets in (doc["sets"], doc["dev"]):
        sets["synthetic"]["tagging"][0]["per_label"] = per_label
    (tmp_path / "music_text_test.json").write_text(dump_json(doc))
    text = render_table("music_text_test_synthetic_genre_labels", tmp_path)
    assert "| rock | yes | 80.0 (3) | 80.0 (3) |" in text and "| waltz | no | 40.0 (2) | 40.0 (2) |" in text
    assert "mean, not in the vocabulary (1)" in text


def test_quality_goals_table_reads_both_results_files(tmp_path):
    from vml_demo.evaluation.results import dump_json
    from vml_demo.evaluation.tables import render_table

    assert "no `results/music_text_test.json`" in render_table("quality_goals", tmp_path, tmp_path)
    (tmp_path / "music_text_test.json").write_text(dump_json(_doc()))
    video = {"kind": "video_evaluation", "split": "test", "videos": [], "command": "python -m vml_demo evaluate video",
             "pools": {"real": {"clips": 9, "rows": [], "mean": [{"space": "tag bridge", "videos": 2, "fit@5": 0.5,
                                                                  "random": 0.2}]}}}
    (tmp_path / "video_test.json").write_text(dump_json(video))
    text = render_table("quality_goals", tmp_path, tmp_path)  # no checkpoints there: the bridge ships
    assert "Space: tag bridge" in text and "| video fit@5, real pool (%) | 50.0 | 20.0 | >= 2 x random | yes (2.50 x) |" in text
    assert "| top-10 max share, synthetic set (%) | 75.0 | 75.0 | <= 25 | no |" in text
    assert "| zero-shot genre ROC-AUC, synthetic set (%) | 70.0 | 50.0 | >= 75 | no |" in text


def test_speed_table_reads_the_benchmarks_json(tmp_path):
    import json

    from vml_demo.evaluation.tables import render_table

    assert "no speed benchmark JSON" in render_table("speed", tmp_path)
    cli = {"wall_s_median": 1.5, "cpu_s_median": 1.2, "runs": [{}, {}, {}]}
    (tmp_path / "search_latency.json").write_text(json.dumps(
        {"command": "python benchmarks/search_latency.py", "load_average_1min_before": 0.5,
         "cold_cli_cached": cli, "cold_cli_uncached": {**cli, "wall_s_median": 2.5}}))
    (tmp_path / "index_speed.json").write_text(json.dumps(
        {"x_real_time": 55.0, "cpu_s_per_audio_min": 2.0, "peak_rss_gib": 1.5, "load_avg_before": 0.3}))
    rows = render_table("speed", tmp_path).splitlines()
    assert any("indexing" in r and "55.0x" in r and "| no |" in r for r in rows)  # 55x misses >= 60x
    assert any("derived files cached" in r and "1.50 s wall" in r and "| yes |" in r and "search_latency.py" in r
               for r in rows)


# --- the ensemble space: what the evaluation reports is what search ranks ---------------------------
class _ToySpace:
    """A toy space of fixed window vectors; texts are bags of known words (hand-checkable scores)."""

    def __init__(self, words, window_vectors, key):
        self.WORDS, self.key, self.text_encoder = words, key, None
        self.emb = np.asarray(window_vectors, np.float32)
        self.emb /= np.linalg.norm(self.emb, axis=1, keepdims=True)

    embed_text = _WordSpace.embed_text
    embed_query = _WordSpace.embed_query
    window_penalty = _WordSpace.window_penalty

    def window_embeddings(self, table):
        return self.emb

    def describe(self):
        return self.key


def _ensemble_case():
    from types import SimpleNamespace

    from vml_demo.search.ensemble_space import EnsembleSpace

    rng = np.random.default_rng(3)
    track_ids = np.array([0, 0, 1, 1, 1, 2, 3, 3])  # several windows per clip: best window != per-space best
    table = SimpleNamespace(track_ids=track_ids)
    table.track_slices = lambda: {int(t): slice(int(np.flatnonzero(track_ids == t)[0]),
                                                int(np.flatnonzero(track_ids == t)[-1]) + 1) for t in set(track_ids)}
    bridge = _ToySpace(("rock", "guitar", "piano", "music"), rng.random((8, 4)) + 0.05, "b")
    tower = _ToySpace(("calm", "piano", "guitar", "drums", "rock"), rng.random((8, 5)) + 0.05, "t")
    return table, bridge, tower, EnsembleSpace


def test_ensemble_space_cosine_is_the_weighted_sum_of_the_parts():
    table, bridge, tower, EnsembleSpace = _ensemble_case()
    ens = EnsembleSpace(bridge, tower, 0.3)
    texts = ["rock guitar", "calm piano music"]
    q, w = ens.embed_text(texts), ens.window_embeddings(table)
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0) and np.allclose(np.linalg.norm(w, axis=1), 1.0)
    expected = 0.3 * bridge.emb @ bridge.embed_text(texts).T + 0.7 * tower.emb @ tower.embed_text(texts).T
    assert np.allclose(w @ q.T, expected, atol=1e-6)
    with pytest.raises(ValueError):
        EnsembleSpace(bridge, tower, 1.5)


def test_evaluated_ensemble_is_what_the_products_ranking_gives():
    """query_scores (what `evaluate music-text` reports, through the product's Ranker) with the ensemble space
    equals a hand computation of search's formula: per window w*cos_b + (1-w)*cos_t minus the negation
    penalty, a clip's score its best window's. The weight's ends are the two spaces themselves."""
    from vml_demo.search.query import parse_query

    table, bridge, tower, EnsembleSpace = _ensemble_case()
    order, texts = [0, 1, 2, 3], ["rock guitar", "piano music", "rock without guitar"]
    w = 0.4
    ens = EnsembleSpace(bridge, tower, w)
    got = query_scores(ens, ens.join(bridge.emb, tower.emb), table, order, texts)
    joined = ens.window_embeddings(table)
    slices = table.track_slices()
    track_mean = np.stack([joined[slices[t]].mean(0) / np.linalg.norm(joined[slices[t]].mean(0)) for t in order]).mean(0)
    for i, text in enumerate(texts):
        parsed = parse_query(text)
        s = w * bridge.emb @ bridge.embed_text([parsed.positive])[0] + (1 - w) * tower.emb @ tower.embed_text([parsed.positive])[0]
        if parsed.negated_phrases:
            neg = ens.embed_text(parsed.negated_phrases)
            s = s - np.clip(joined @ neg.T - track_mean @ neg.T, 0, None).max(axis=1)
        assert np.allclose(got[i], [s[slices[t]].max() for t in order], atol=1e-5), text
    for weight, part in ((1.0, bridge), (0.0, tower)):
        ends = EnsembleSpace(bridge, tower, weight)
        assert np.allclose(query_scores(ends, ends.join(bridge.emb, tower.emb), table, order, texts),
                           query_scores(part, part.emb, table, order, texts), atol=1e-6)


# --- choosing the space by measurement --------------------------------------------------------------
class _Encoder:
    name, dim = "toy", 4

    def encode(self, texts):
        return np.ones((len(texts), 4), np.float32)


def _measured_checkpoint(root, suffix, bridge, tower, ensemble, weight=0.6, scoring="ensemble_space"):
    """A candidate checkpoint folder with weights and a metrics.json of these dev mAPs (test split: 0.9)."""
    from vml_demo.evaluation.checkpoint_metrics import build_metrics
    from vml_demo.evaluation.results import dump_json
    from vml_demo.media.hashing import file_sha256

    ck = root / f"music_text_toy{suffix}"
    ck.mkdir(exist_ok=True)
    (ck / "checkpoint.pt").write_bytes(f"weights {suffix}".encode())
    doc = json.loads(json.dumps(_doc("test", bridge=bridge, tower=tower)).replace('"ck"', f'"{ck.name}"')
                     .replace("tower ck", f"tower {ck.name}"))
    for result in doc["dev"].values():
        result["retrieval"][2].update({"mAP": ensemble, "bridge_weight": weight, "space": f"ensemble {weight:g}"})
    doc["ensembles"][0].update({"bridge_weight": weight, "scoring": scoring})
    doc["sets"]["synthetic"]["retrieval"][1]["mAP"] = 0.9  # test numbers never decide
    (ck / "metrics.json").write_text(dump_json(build_metrics(doc, ck.name, file_sha256(ck / "checkpoint.pt", 12))))
    return ck


@pytest.fixture
def fake_spaces(tmp_path, monkeypatch):
    """choose_space over checkpoints in tmp_path, building stand-in spaces that record what was built."""
    from vml_demo.search import ensemble_space, spaces

    monkeypatch.setattr(config, "CHECKPOINTS_DIR", tmp_path)
    built = []

    class Fake(spaces.MusicSpace):
        def describe(self):
            return self.label

    def space(label):
        s = Fake(_Encoder())
        s.label = label
        built.append(label)
        return s

    def tower(enc, path, table):
        if (Path(path) / "broken").exists():
            raise spaces.VmlError("feature layout differs")
        return space(f"tower {Path(path).name}")

    monkeypatch.setattr(spaces, "TagBridgeSpace", lambda enc, table: space("bridge"))
    monkeypatch.setattr(spaces, "TrainedSpace", tower)
    monkeypatch.setattr(ensemble_space, "EnsembleSpace", lambda b, t, w: space(f"ensemble {w:g}"))
    return tmp_path, built, spaces


def test_auto_ships_the_best_dev_measurement_of_bridge_towers_and_ensembles(fake_spaces):
    root, built, spaces = fake_spaces
    # nothing measured: the bridge, saying the tower is unmeasured (and the other one absent)
    (root / "music_text_toy").mkdir()
    (root / "music_text_toy" / "checkpoint.pt").write_bytes(b"weights")
    chosen = spaces.choose_space("auto", None, _Encoder())
    assert built == ["bridge"] and "no candidate checkpoint has dev numbers" in chosen.notes[0]
    assert any("music_text_toy is unmeasured" in n for n in chosen.notes)
    assert any("music_text_toy_realtext not used: no checkpoint" in n for n in chosen.notes)
    # default tower: bridge 0.30 > tower 0.20, ensemble 0.31; realtext tower: ensemble 0.45 > tower 0.40 > 0.30
    _measured_checkpoint(root, "", bridge=0.3, tower=0.2, ensemble=0.31)
    realtext = _measured_checkpoint(root, "_realtext", bridge=0.3, tower=0.4, ensemble=0.45, weight=0.4)
    built.clear()
    chosen = spaces.choose_space("auto", None, _Encoder())
    assert built[-1] == "ensemble 0.4" and "tower music_text_toy_realtext" in built
    assert chosen.notes[0].startswith("ensemble 0.4 bridge + tower music_text_toy_realtext in use: the best")
    assert "tower music_text_toy_realtext 0.400" in chosen.notes[0] and "tag bridge 0.300" in chosen.notes[0]
    assert "synthetic" in chosen.notes[0] and "0.900" not in chosen.notes[0]
    # the README's table reads the same files: the shipped row, dev beside test (test never decides)
    from vml_demo.evaluation.tables import render_table

    table = render_table("shipped_space_toy", root / "results", root)
    assert "| ensemble 0.4 bridge + tower music_text_toy_realtext | 0.450 |" in table and table.count("| yes |") == 1
    assert "tower music_text_toy_realtext in use" in table
    # the winner does not load here (another feature layout): the next best that does, saying why
    (realtext / "broken").write_text("")
    built.clear()
    chosen = spaces.choose_space("auto", None, _Encoder())
    assert built == ["tower music_text_toy", "bridge", "ensemble 0.6"]
    assert "not the best" in chosen.notes[0] and any("feature layout differs" in n for n in chosen.notes)
    (realtext / "broken").unlink()
    # forced: the bridge says what was measured; ensemble takes the best measured ensemble
    assert "tag bridge 0.300" in spaces.choose_space("bridge", None, _Encoder()).notes[0]
    built.clear()
    forced = spaces.choose_space("ensemble", None, _Encoder())
    assert built[-1] == "ensemble 0.4" and forced.notes[0].startswith("ensemble 0.4 in use (VML_SPACE=ensemble)")
    assert "(VML_SPACE=trained)" in spaces.choose_space("trained", None, _Encoder()).notes[0]
    assert built[-1] == "tower music_text_toy"


def test_auto_ignores_stale_metrics(fake_spaces):
    root, built, spaces = fake_spaces
    ck = _measured_checkpoint(root, "", bridge=0.3, tower=0.35, ensemble=0.5, scoring=None)
    chosen = spaces.choose_space("auto", None, _Encoder())  # ensembles scored per clip are not shippable
    assert built == ["tower music_text_toy"] and any("scored per clip" in n for n in chosen.notes)
    with pytest.raises(spaces.VmlError, match="no candidate checkpoint has measured ensembles"):
        spaces.choose_space("ensemble", None, _Encoder())
    (ck / "checkpoint.pt").write_bytes(b"retrained")  # metrics of other weights: unmeasured
    built.clear()
    chosen = spaces.choose_space("auto", None, _Encoder())
    assert built == ["bridge"] and any("measured other weights" in n for n in chosen.notes)


# --- end to end on a tiny labelled set --------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_labelled_set(small_library, tmp_path_factory):
    """The six small-library excerpts labelled by hand-checkable genre words, with queries in both splits."""
    from conftest import SMALL_LIBRARY_TRACKS
    from vml_demo.library.store import LibraryStore

    store = LibraryStore(small_library)
    folder = Path(store.tracks()[0].abs_path).parent
    store.close()
    genres = {"metal": "metal", "rock": "rock", "ambient": "ambient", "classical": "orchestral",
              "chiptune": "chiptune", "metal with female vocals": "metal"}
    clips = [{"id": f"c{i}", "file": name, "split": "dev" if i % 2 == 0 else "test",
              "genre": [genres[src]], "vocals": "vocals" if "vocals" in src else None}
             for i, (name, src) in enumerate(SMALL_LIBRARY_TRACKS.items())]
    cats = {"genre": sorted(set(genres.values())), "vocals": ["vocals", "instrumental"]}
    queries = []
    for split in ("dev", "test"):
        mine = [c for c in clips if c["split"] == split]
        for text, genre in (("heavy metal riffs", "metal"), ("calm ambient, no drums", "ambient"),
                            ("some orchestral music", "orchestral"), ("retro 8-bit tune", "chiptune")):
            relevant = [c["id"] for c in mine if genre in c["genre"]]
            if relevant:
                queries.append({"id": f"q{len(queries)}", "text": text, "split": split, "kind": "genre",
                                "labels": {"genre": genre}, "relevant": relevant,
                                "ignore": [c["id"] for c in mine if c["vocals"] is None and genre == "metal"]})
    # labels beside the small library's audio, and a copy of its index: nothing needs indexing again
    (folder / "labels.json").write_text(json.dumps({"version": 1, "categories": cats, "clips": clips}))
    (folder / "queries.json").write_text(json.dumps({"version": 1, "queries": queries}))
    cache = tmp_path_factory.mktemp("tiny_index")
    shutil.copytree(small_library, cache / "synthetic")
    return folder, cache


def test_music_text_evaluation_json_has_the_keys(tiny_labelled_set):
    from vml_demo.evaluation.music_text_report import evaluate_music_text, format_music_text

    folder, cache = tiny_labelled_set
    doc = evaluate_music_text("test", [], which="synthetic", testset_dir=folder, index_cache=cache,
                              progress=False, triplets=False)
    assert {"kind", "split", "date", "code_version", "command", "sets", "dev", "ensembles"} <= set(doc)
    result = doc["sets"]["synthetic"]
    assert result["clips"] == 3 and result["queries"] >= 2
    kinds = [r["kind"] for r in result["retrieval"]]
    assert kinds == ["bridge", "random", "ideal"]
    for row in result["retrieval"]:
        assert {"R@1", "R@5", "R@10", "medR", "mAP", "queries"} <= set(row)
    assert {"skewness", "max_share", "k"} <= set(result["retrieval"][0]["hubness"])
    assert {t["category"] for t in result["tagging"]} <= {"genre", "vocals"}
    assert "Text -> music, synthetic set, test split" in format_music_text(doc)
    json.dumps(doc)  # serialisable as it is


def test_video_evaluation_json_has_the_keys(tiny_labelled_set, tmp_path, monkeypatch):
    from media_factory import dark_still_video
    from vml_demo.evaluation.video_eval import evaluate_video, format_video

    monkeypatch.setenv("VML_VIDEO_LOOKS", "1")  # so the still picture gets words and reasons (as shipped)

    folder, cache = tiny_labelled_set
    video = dark_still_video(tmp_path / "dark.mp4")
    judgements = tmp_path / "judgements.json"
    judgements.write_text(json.dumps({"version": 1, "videos": [
        {"id": "dark", "file": str(video), "split": "test", "description": "a dark still picture",
         "fitting": {"genre": ["ambient", "orchestral"]}, "misfitting": {"genre": ["metal"]}}]}))
    doc = evaluate_video("test", judgements=judgements, index_cache=cache, testset_dir=folder,
                         realset_dir=tmp_path / "none", progress=False)
    assert {"kind", "split", "date", "code_version", "command", "videos", "pools"} <= set(doc)
    assert doc["videos"][0]["query_text"] and doc["videos"][0]["reasons"]
    pool = doc["pools"]["synthetic"]
    row = pool["rows"][0]
    assert {"space", "video", "fit@5", "random", "top5"} <= set(row) and len(row["top5"]) == pool["clips"] == 3
    # the test half holds rock, orchestral and metal+vocals: one of three fits
    assert row["random"] == pytest.approx(1 / 3) and row["fit@5"] == pytest.approx(1 / 3)  # top 5 = all 3 clips
    assert "Judged fit" in format_video(doc)


def test_lever_sweep_runs_every_configuration_on_a_tiny_set(tiny_labelled_set):
    from vml_demo.evaluation.levers import LEVERS, evaluate_levers, format_levers

    folder, cache = tiny_labelled_set
    doc = evaluate_levers("dev", [], video=False, which="synthetic", testset_dir=folder, index_cache=cache)
    assert [r["row"] for r in doc["rows"]][0].startswith("baseline") and len(doc["rows"]) == 2 * len(LEVERS) + 2
    assert all("synthetic mAP bridge" in r and "synthetic top-10 max share" in r for r in doc["rows"])
    assert {lv["setting"] for lv in doc["levers"]} == {lv.env for lv in LEVERS}
    assert "Levers, dev split" in format_levers(doc)


def test_video_lever_summary_is_one_row_per_run():
    from vml_demo.evaluation.video_eval import lever_summary

    def run(split, scenes, fits):
        rows = [{"space": "tag bridge", "video": v, "fit@5": f, "random": 0.25} for v, f in fits.items()]
        return {"split": split, "levers": {"video_scenes": scenes, "video_looks": True, "own_music_weight": 0.5},
                "pools": {"real": {"rows": rows, "mean": [{"space": "tag bridge", "fit@5": float(np.mean(list(fits.values()))),
                                                          "random": 0.25}]}}}

    doc = lever_summary([run("dev", True, {"rocket_launch": 0.6, "bunny": 0.2}), run("test", False, {"cockatoo": 0.4})])
    assert [r["split"] for r in doc["rows"]] == ["dev", "test"] and doc["rows"][1]["video_scenes"] is False
    assert doc["rows"][0]["real fit@5 (%)"] == 40.0 and doc["rows"][0]["rocket_launch fit@5 (%)"] == 60.0
    assert doc["rows"][1]["rocket_launch fit@5 (%)"] is None
