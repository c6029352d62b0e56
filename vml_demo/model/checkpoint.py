"""Checkpoint folders: saving and loading trained models (configs and the model factory: factory.py).

A checkpoint folder holds checkpoint.pt (weights, config, meta), config.yaml (the same config, for people),
checkpoint.json (its config and sha-256, read by search without torch: checkpoint_info.py) and model_card.md;
resumable training adds train_state.pt. Folders are written to a temporary sibling and renamed into place, so
a crash never leaves a half-written checkpoint under the final name.
"""
from __future__ import annotations

import datetime as dt
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch
import yaml

from ..errors import WeightsUnavailableError
from ..media.hashing import file_sha256
from .checkpoint_info import CheckpointMismatchError, check_features, info_of_payload, write_info
from .factory import create_model

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
WEIGHTS_FILE, CONFIG_FILE, CARD_FILE, TRAIN_STATE_FILE = "checkpoint.pt", "config.yaml", "model_card.md", "train_state.pt"


# --- saving ----------------------------------------------------------------------------------------
def _plain(obj):
    """Meta/config values as plain Python (torch.load(weights_only=True) refuses numpy objects)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.generic,)):
        return obj.item()
    if isinstance(obj, (np.ndarray, torch.Tensor)):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def code_version() -> str:
    from .. import __version__

    try:  # read-only query; a source tree without git still gets the package version
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"vml_demo {__version__}" + (f" (git {commit})" if commit else "")


def render_model_card(config: dict, meta: dict, model_card: dict, evaluation: dict | None = None) -> str:
    """Markdown card; `evaluation` is the checkpoint's metrics.json (none yet at training time)."""
    from .evaluation_card import render_evaluation_section

    card = dict(model_card or {})
    title = card.pop("title", f"{config.get('model', {}).get('kind', 'model')} checkpoint")
    lines = [f"# {title}", "", f"- Date: {meta.get('saved_at', '')}", f"- Code version: {meta.get('code_version', '')}", ""]
    for section in ("description", "data", "intended_use"):
        if section in card:
            lines += [f"## {section.replace('_', ' ').capitalize()}", "", str(card.pop(section)), ""]
    limitations = card.pop("limitations", None)
    for section, text in card.items():
        lines += [f"## {section.replace('_', ' ').capitalize()}", "", str(text), ""]
    metrics = meta.get("metrics") or {}
    if metrics:
        lines += ["## Metrics", "", f"Validation at epoch {meta.get('epoch', '?')}.", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items()]
        lines.append("")
    if evaluation or config.get("model", {}).get("kind") == "music_text":  # measured by `evaluate music-text`
        lines += [render_evaluation_section(evaluation), ""]
    if limitations:
        lines += ["## Limitations", "", str(limitations), ""]
    lines += ["## Settings", "", "```yaml", yaml.safe_dump(config, sort_keys=False).rstrip(), "```", ""]
    return "\n".join(lines)


def save_checkpoint(directory: str | Path, model: torch.nn.Module, config: dict, meta: dict | None = None,
                    model_card: dict | None = None, train_state: dict | None = None) -> Path:
    """Write checkpoint.pt + config.yaml + model_card.md (+ train_state.pt) into `directory`, atomically."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    config = _plain(config)
    meta = _plain(dict(meta or {}))
    meta.setdefault("saved_at", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    meta.setdefault("code_version", code_version())
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        payload = {"format_version": FORMAT_VERSION, "kind": getattr(model, "kind", None),
                   "state_dict": state, "config": config, "meta": meta}
        torch.save(payload, tmp / WEIGHTS_FILE)
        write_info(tmp, info_of_payload(payload, file_sha256(tmp / WEIGHTS_FILE)))  # read by search without torch
        (tmp / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False))
        (tmp / CARD_FILE).write_text(render_model_card(config, meta, model_card or {}))
        if train_state is not None:
            torch.save(train_state, tmp / TRAIN_STATE_FILE)
        old = None
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old-{tmp.name.rsplit('-', 1)[-1]}")
            directory.rename(old)
        tmp.rename(directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


# --- loading ---------------------------------------------------------------------------------------
def _read_payload(directory: Path, map_location) -> dict:
    path = directory / WEIGHTS_FILE
    if not path.is_file():
        raise WeightsUnavailableError(f"no model checkpoint at {directory} ({WEIGHTS_FILE} is missing)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for damaged files
        raise WeightsUnavailableError(f"{path} is not a readable checkpoint ({type(err).__name__})") from err
    if not isinstance(payload, dict) or "state_dict" not in payload or "config" not in payload:
        raise WeightsUnavailableError(f"{path} is not a vml_demo checkpoint")
    if int(payload.get("format_version", 0)) > FORMAT_VERSION:
        raise WeightsUnavailableError(f"{path} was written by a newer vml_demo (format {payload['format_version']})")
    return payload


def load_checkpoint(directory: str | Path, expect: dict | None = None, map_location="cpu"):
    """(model in eval mode, config, meta). `expect` e.g. {"text_dim": 384, "music_dim": 1074} is checked
    against the features the checkpoint was trained on (CheckpointMismatchError names both)."""
    directory = Path(directory)
    payload = _read_payload(directory, map_location)
    config = payload["config"]
    check_features(config, expect, source=f"checkpoint {directory.name}")
    try:
        model = create_model(config)
    except (ValueError, KeyError) as err:
        raise CheckpointMismatchError(f"checkpoint {directory.name} has an unusable config ({err})") from err
    try:
        result = model.load_state_dict(payload["state_dict"], strict=False)
    except RuntimeError as err:  # tensor shapes differ from what the config builds
        raise CheckpointMismatchError(f"checkpoint {directory.name} does not match this code's model "
                                      f"({str(err).splitlines()[-1].strip()})") from err
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointMismatchError(
            f"checkpoint {directory.name} does not match this code's {config['model']['kind']} model "
            f"(missing {len(result.missing_keys)} tensors, unexpected {len(result.unexpected_keys)})")
    model.eval()
    return model, config, payload.get("meta", {})


def load_train_state(directory: str | Path, map_location="cpu") -> dict:
    path = Path(directory) / TRAIN_STATE_FILE
    if not path.is_file():
        raise WeightsUnavailableError(f"cannot resume from {directory}: {TRAIN_STATE_FILE} is missing")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise WeightsUnavailableError(f"{path} is not a readable training state ({type(err).__name__})") from err
