"""ViML learns the synthetic tied data set (vml_demo.evaluation.synthetic), and text dropout matters.

Three small models on one data set (about 15-20 s in all): text dropout p=0.8 (the paper's setting),
p=0, and p=0.8 on shuffled training pairs (the negative control). Test clips are cut 3 to a source and
positives are grouped by source (any clip of the query's source is its hit), so with 300 test clips of
100 sources chance R@1 is about 1% and the chance median rank about 50.
"""
from __future__ import annotations

import pytest
import torch

from vml_demo.evaluation.synthetic import make_synthetic_viml_data, train_synthetic_viml

N_TEST = 300


@pytest.fixture(scope="module")
def trained():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    sizes = dict(n_train=768, n_val=200, n_test=N_TEST, seed=0)
    data = make_synthetic_viml_data(**sizes)
    shuffled = make_synthetic_viml_data(**sizes, shuffle_train_pairs=True)
    short = {"train": {"epochs": 6}}
    n_sources = len(set(data.test.plain["target_id"].tolist()))
    runs = {
        "p=0.8": train_synthetic_viml(data, short)[1],
        "p=0": train_synthetic_viml(data, {**short, "model": {"text_dropout": 0.0}})[1],
        "shuffled": train_synthetic_viml(shuffled, short)[1],
    }
    torch.set_num_threads(before)
    return runs, n_sources


def test_a_far_above_chance(trained):
    m = trained[0]["p=0.8"]
    assert m["video/R@1"] > 0.12  # > 36x chance
    assert m["video/median_rank"] <= 10
    assert m["video+text/R@1"] > 0.3
    assert m["video+text/median_rank"] <= 3


def test_b_text_adds_information_video_lacks(trained):
    m = trained[0]["p=0.8"]
    assert m["video+text/R@1"] > m["video/R@1"] + 0.08
    assert m["video+text/R@5"] > m["video/R@5"]


def test_c_text_dropout_keeps_video_only_queries_good(trained):
    with_dropout, without = trained[0]["p=0.8"], trained[0]["p=0"]
    assert with_dropout["video/R@1"] > without["video/R@1"] + 0.07
    assert without["video/median_rank"] > 2 * with_dropout["video/median_rank"]
    assert without["video+text/R@1"] > 0.3  # p=0 still answers video+text queries


def test_shuffled_pairs_learn_nothing(trained):
    runs, n_sources = trained
    control = runs["shuffled"]
    assert control["video+text/R@1"] < 3 / n_sources
    assert control["video+text/median_rank"] > 0.3 * n_sources
    assert control["video/median_rank"] > 0.3 * n_sources
