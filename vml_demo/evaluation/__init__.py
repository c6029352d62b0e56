"""Retrieval metrics (retrieval.py) and a synthetic tri-modal dataset that proves training works (synthetic.py)."""
from ..model.metrics import (
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

__all__ = ["ensemble_similarity", "format_table", "mean_average_precision", "median_rank",
           "pooled_metrics_from_similarity", "pooled_retrieval_metrics", "ranks", "recall_at_k",
           "retrieval_metrics"]
