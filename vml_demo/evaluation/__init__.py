"""Evaluation: the labelled sets and video judgements, reports written as JSON, README tables (retrieval metrics live in vml_demo.model.metrics)."""
