"""Retrieval metrics on small similarity matrices whose answers are worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vml_demo.model.metrics import (
    ensemble_similarity,
    format_table,
    mean_average_precision,
    median_rank,
    pooled_metrics_from_similarity,
    pooled_retrieval_metrics,
    ranks,
    recall_at_k,
    retrieval_metrics,
)

# True pairs on the diagonal. Query 0 ranks its target 1st; query 1 ranks it 2nd (0.8 > 0.3);
# query 2 ranks it 2nd (0.7 > 0.6).
SIM = np.array([[0.9, 0.1, 0.5],
                [0.8, 0.3, 0.2],
                [0.1, 0.7, 0.6]])


def test_ranks_recall_and_median_by_hand():
    assert ranks(SIM).tolist() == [1, 2, 2]
    assert recall_at_k(SIM, 1) == pytest.approx(1 / 3)
    assert recall_at_k(SIM, 2) == 1.0
    assert median_rank(SIM) == 2.0
    m = retrieval_metrics(SIM, ks=(1, 2))
    assert m["mean_rank"] == pytest.approx(5 / 3) and m["rsum"] == pytest.approx(100 * (1 / 3 + 1))
    assert ranks(torch.tensor(SIM)).tolist() == [1, 2, 2]  # torch input too


def test_explicit_targets_and_ties_count_against_the_query():
    sim = np.array([[0.2, 0.1, 0.9], [0.5, 0.5, 0.1]])
    assert ranks(sim, targets=[2, 0]).tolist() == [1, 2]  # the 0.5 tie puts query 1's target 2nd
    assert recall_at_k(np.ones((4, 4)), 1) == 0.0  # a constant model never looks perfect
    assert median_rank(np.ones((4, 4))) == 4.0
    with pytest.raises(ValueError, match="targets"):
        ranks(np.ones((3, 2)))


def test_mean_average_precision_by_hand():
    sim = np.array([[0.9, 0.8, 0.7, 0.6],
                    [0.1, 0.9, 0.5, 0.3],
                    [0.0, 0.0, 0.0, 0.0]])
    relevance = np.array([[0, 1, 0, 1],   # relevant at ranks 2 and 4: (1/2 + 2/4) / 2 = 0.5
                          [1, 0, 0, 0],   # relevant ranked last of 4: 1/4
                          [0, 0, 0, 0]],  # no relevant item: skipped
                         dtype=bool)
    assert mean_average_precision(sim, relevance) == pytest.approx((0.5 + 0.25) / 2)
    assert mean_average_precision([[0.5, 0.5]], [[True, False]]) == pytest.approx(0.5)  # tie: pessimistic
    assert mean_average_precision([[0.9, 0.1]], [[True, True]]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shape"):
        mean_average_precision(sim, relevance[:2])


def test_pooled_metrics_rank_within_pools():
    n = 40
    worst = -np.eye(n)  # every true target scores below all others
    pooled = pooled_metrics_from_similarity(worst, pool_size=5, n_pools=7, seed=3)
    assert pooled["median_rank"] == 5.0 and pooled["R@1"] == 0.0  # rank = pool size, not 40
    assert pooled["pool_size"] == 5 and pooled["n_pools"] == 7
    best = np.eye(n)
    assert pooled_metrics_from_similarity(best, pool_size=5)["R@1"] == 1.0
    full = pooled_metrics_from_similarity(SIM, pool_size=None)
    assert full["R@1"] == pytest.approx(1 / 3) and full["pool_size"] == 3


def test_pooled_metrics_of_random_scores_sit_at_chance():
    rng = np.random.default_rng(0)
    sim = rng.standard_normal((1000, 1000))
    m = pooled_metrics_from_similarity(sim, pool_size=200, n_pools=10, seed=1)
    assert m["R@10"] == pytest.approx(10 / 200, abs=0.02)
    assert m["median_rank"] == pytest.approx(100, abs=15)


def test_pooled_retrieval_metrics_uses_cosine():
    rng = np.random.default_rng(1)
    q = rng.standard_normal((30, 8))
    t = q + 0.01 * rng.standard_normal((30, 8))
    a = pooled_retrieval_metrics(q, t, pool_size=10, n_pools=3)
    b = pooled_retrieval_metrics(q * rng.uniform(1, 100, (30, 1)), t, pool_size=10, n_pools=3)
    assert a == b and a["R@1"] == 1.0


def test_ensemble_similarity():
    a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    assert ensemble_similarity(a, b, 0.25).tolist() == [[0.25, 0.75]]
    assert ensemble_similarity(a, b, 1.0).tolist() == a.tolist()
    with pytest.raises(ValueError, match="weight"):
        ensemble_similarity(a, b, 1.5)
    with pytest.raises(ValueError, match="shape"):
        ensemble_similarity(a, np.zeros((2, 2)))


def test_format_table():
    text = format_table([{"run": "add", "R@1": 0.5, "median_rank": 2.0}, {"run": "mlp", "R@1": 0.25}],
                        title="Results")
    lines = text.splitlines()
    assert lines[0] == "Results" and lines[1].split() == ["run", "R@1", "median_rank"]
    assert lines[3].split() == ["add", "50.0", "2"] and lines[4].split() == ["mlp", "25.0"]


# Items 0 and 1 are clips of one source (group 5), item 2 its own source (group 9).
GROUPED_SIM = np.array([[0.2, 0.9, 0.5],   # best own-source clip 0.9: rank 1 (0.5 of the other source below)
                        [0.4, 0.1, 0.3],   # best own-source clip 0.4 > 0.3: rank 1 (its own clip 0.1 is no miss)
                        [0.8, 0.7, 0.6]])  # two clips of source 5 score above: rank 3


def test_grouped_ranks_count_any_clip_of_the_source_as_the_hit():
    groups = np.array([5, 5, 9])
    assert ranks(GROUPED_SIM, groups=groups).tolist() == [1, 1, 3]
    assert ranks(GROUPED_SIM).tolist() == [3, 3, 3]  # per-clip targets: near-duplicates counted as misses
    assert retrieval_metrics(GROUPED_SIM, groups=groups)["R@1"] == pytest.approx(2 / 3)
    assert ranks(GROUPED_SIM, groups=np.arange(3)).tolist() == ranks(GROUPED_SIM).tolist()
    tied = np.array([[0.5, 0.5], [0.5, 0.5]])
    assert ranks(tied, groups=np.array([0, 1])).tolist() == [2, 2]  # ties still count against the query
    with pytest.raises(ValueError, match="groups"):
        ranks(GROUPED_SIM[:2], groups=groups[:2])


def test_pooled_metrics_pass_groups_into_each_pool():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(50), 4)  # 4 clips per source
    sim = rng.standard_normal((200, 200))
    sim[groups[:, None] == groups[None, :]] += 10.0  # every clip of the own source scores high
    np.fill_diagonal(sim, -10.0)  # ... but the clip itself scores worst: per-clip ranks are bad
    grouped = pooled_metrics_from_similarity(sim, 50, n_pools=5, groups=groups)
    plain = pooled_metrics_from_similarity(sim, 50, n_pools=5)
    assert plain["R@1"] == 0.0
    # a query whose pool holds no other clip of its source has only its own clip (scoring -10) as the hit
    assert grouped["R@1"] > 0.4
    assert pooled_metrics_from_similarity(sim, None, groups=groups)["R@1"] == 1.0
