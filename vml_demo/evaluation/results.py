"""Evaluation results as JSON files: one stable encoding, so committed files change only when numbers do."""
from __future__ import annotations

import json
import math


def _rounded(obj):
    if isinstance(obj, float):
        return None if math.isnan(obj) else round(obj, 6)  # 6 decimals: far below any difference we report
    if isinstance(obj, dict):
        return {str(k): _rounded(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_rounded(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalars
        return _rounded(obj.item())
    return obj


def dump_json(doc: dict) -> str:
    return json.dumps(_rounded(doc), indent=1, ensure_ascii=False) + "\n"


def load_json(path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
