"""Retrieval levers: hubness penalties, calibrated term evidence, the lever registry and its table."""
from __future__ import annotations

import numpy as np
import pytest

from vml_demo.search.hubness import window_penalty
from vml_demo.search.ranking import Ranker


def _unit(x):
    x = np.asarray(x, np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_csls_and_inverted_softmax_penalise_the_window_near_every_query():
    rng = np.random.default_rng(0)
    center = _unit(rng.standard_normal(8))
    bank = _unit(center + 0.6 * rng.standard_normal((40, 8)))  # generic queries share a direction
    hub = center  # close to the whole bank
    others = _unit(rng.standard_normal((5, 8)))
    windows = np.vstack([hub, others])
    for method in ("csls", "isoftmax"):
        p = window_penalty(windows, bank, method)
        assert p.shape == (6,) and p[0] > p[1:].max()
    assert window_penalty(windows, bank, "off") is None
    with pytest.raises(ValueError):
        window_penalty(windows, bank, "nonsense")


def test_ranker_subtracts_the_penalty_and_a_hub_stops_topping_every_list():
    rng = np.random.default_rng(1)
    center = _unit(rng.standard_normal(8))
    bank = _unit(center + 0.6 * rng.standard_normal((30, 8)))
    emb = np.vstack([center, _unit(center + 1.2 * rng.standard_normal((9, 8)))]).astype(np.float32)
    ids = np.arange(10, dtype=np.int64)
    slices = {i: slice(i, i + 1) for i in range(10)}
    plain = Ranker(emb, ids, slices)
    penalty = window_penalty(emb, bank, "csls")
    fair = Ranker(emb, ids, slices, window_penalty=penalty)
    queries = bank[:20]
    tops_plain = [plain.rank(q, 1)[0].track_id for q in queries]
    tops_fair = [fair.rank(q, 1)[0].track_id for q in queries]
    assert tops_plain.count(0) > tops_fair.count(0)
    q = queries[0]
    for hit in fair.rank(q, 10):  # the score is exactly cosine minus the window's penalty
        assert hit.score == pytest.approx(float(emb[hit.row] @ q - penalty[hit.row]), abs=1e-6)
    # two-stage ranking scores its candidates with the same formula
    assert [h.track_id for h in fair.rank(q, 3, exact=False)] == [h.track_id for h in fair.rank(q, 3)]


class _Table:
    """The fields of a WindowTable that term evidence reads."""

    def __init__(self, scores, labels, vocabularies):
        self.scores, self.labels, self.vocabularies, self.derived = scores, labels, vocabularies, {}


def test_calibrated_evidence_puts_a_small_scale_tagger_on_the_same_footing():
    from vml_demo.textsynth.terms import TermCalibration, term_matrix_from_scores

    rng = np.random.default_rng(0)
    n = 200
    # MTT's "rock" is high everywhere (wide scale, no information); YAMNet's "Rock music" is small but
    # clearly higher in the first 20 windows.
    mtt = rng.uniform(0.4, 0.9, (n, 1)).astype(np.float32)
    yam = np.full((n, 1), 0.02, np.float32)
    yam[:20] = 0.2
    table = _Table({"m": mtt, "y": yam}, {"m": ["rock"], "y": ["Rock music"]}, {"m": "mtt", "y": "audioset"})
    terms, raw_max = term_matrix_from_scores(table.scores, table.labels, table.vocabularies)
    j = terms.index("rock")
    rocky = np.arange(n) < 20
    # max over raw confidences: MTT's noise decides, the rock windows are not told apart
    assert abs(raw_max[rocky, j].mean() - raw_max[~rocky, j].mean()) < 0.1
    evidence = TermCalibration(table).evidence(table)
    assert evidence[rocky, j].min() > evidence[~rocky, j].max()
    assert (evidence >= 0).all()  # soft weights, never negative


def test_lever_registry_rows_and_settings():
    from vml_demo.evaluation.levers import LEVERS, configurations
    from vml_demo.errors import SettingsError
    from vml_demo.settings import get_settings, overridden

    rows = configurations()
    names = [name for name, _ in rows]
    assert names[0].startswith("baseline") and names[len(LEVERS) + 1].startswith("all chosen")
    assert len(rows) == 2 * len(LEVERS) + 2  # baseline, each alone, shipped, shipped with each flipped
    assert all(v == lv.off for lv in LEVERS for k, v in rows[0][1].items() if k == lv.env)
    shipped = rows[len(LEVERS) + 1][1]
    for (name, values), lv in zip(rows[len(LEVERS) + 2:], LEVERS):  # each flip differs from shipped in one setting
        assert lv.name in name and [k for k in values if values[k] != shipped[k]] == [lv.env]
        assert values[lv.env] == (lv.off if lv.default() == lv.on else lv.on)
    with overridden({"VML_HUBNESS": "isoftmax"}):
        assert get_settings().hubness == "isoftmax"
    with pytest.raises(SettingsError, match="VML_HUBNESS"):
        with overridden({"VML_HUBNESS": "sometimes"}):
            pass


def test_levers_table_renders_rows_and_definitions(tmp_path):
    from vml_demo.evaluation.results import dump_json
    from vml_demo.evaluation.tables import render_table

    doc = {"kind": "lever_evaluation", "split": "dev", "command": "python -m vml_demo evaluate levers --split dev",
           "date": "2026-12-02", "code_version": "x",
           "levers": [{"name": "hubness reduction (CSLS)", "setting": "VML_HUBNESS", "on": "csls", "off": "off",
                       "default": "csls", "what": "ranking penalty"}],
           "rows": [{"row": "baseline (every lever off)", "synthetic mAP bridge": 0.25, "synthetic top-10 max share": 0.3},
                    {"row": "+ hubness reduction (CSLS)", "synthetic mAP bridge": 0.27, "synthetic top-10 max share": 0.2}]}
    (tmp_path / "levers_dev.json").write_text(dump_json(doc))
    text = render_table("levers_dev", tmp_path)
    assert "| baseline (every lever off) | 0.250 | 30.0 |" in text and "`VML_HUBNESS` = csls / off" in text


def _eval_doc(split, command):
    rows = [{"space": "tag bridge", "kind": "bridge", "checkpoint": None, "mAP": 0.3},
            {"space": "tower ck", "kind": "tower", "checkpoint": "ck", "mAP": 0.2}]
    sets = {"synthetic": {"clips": 1, "queries": 1, "retrieval": rows, "tagging": []}}
    doc = {"split": split, "date": "d", "code_version": "v", "command": command, "ensembles": [], "sets": sets}
    if split != "dev":
        doc["dev"] = sets
    return doc


def test_checkpoint_metrics_name_the_command_that_computed_each_split():
    from vml_demo.evaluation.checkpoint_metrics import build_metrics

    dev = build_metrics(_eval_doc("dev", "evaluate --split dev"), "ck", "f")
    both = build_metrics(_eval_doc("test", "evaluate --split test"), "ck", "f", previous=dev)
    assert both["splits"]["dev"]["command"] == "evaluate --split dev"
    assert both["splits"]["test"]["command"] == "evaluate --split test"
    alone = build_metrics(_eval_doc("test", "evaluate --split test"), "ck", "f")
    assert alone["splits"]["dev"]["command"] == "dev rows computed by: evaluate --split test"
