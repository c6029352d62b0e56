"""Model configs as data and the one model factory (open_clip's `create_model` spirit).

The shipped configs are YAML files in configs/ (viml_default, music_text_default); a config names its
model kind, and `create_model` builds that class from it:

    model = create_model("music_text_default", {"model.fusion": "mlp"}, seed=0)
    model = create_model(load_config("viml_default"))
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch
import yaml

CONFIGS_DIR = Path(__file__).resolve().parent / "configs"


# --- configs as data ---------------------------------------------------------------------------------------
def merge_config(base: dict, overrides: dict | None) -> dict:
    """Deep-merge overrides into a copy of base. Keys may be nested dicts or dotted ("model.fusion")."""
    merged = copy.deepcopy(base)
    for key, value in (overrides or {}).items():
        path = key.split(".")
        node = merged
        for part in path[:-1]:
            node = node.setdefault(part, {})
        if isinstance(value, dict) and isinstance(node.get(path[-1]), dict):
            node[path[-1]] = merge_config(node[path[-1]], value)
        else:
            node[path[-1]] = copy.deepcopy(value)
    return merged


def unknown_keys(base: dict, overrides: dict, prefix: str = "") -> list[tuple[str, list[str]]]:
    """(dotted key, the valid keys at that level) for each override key `base` does not have."""
    bad = []
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        here = f"{prefix}{head}"
        if not isinstance(base, dict) or head not in base:
            bad.append((here, sorted(f"{prefix}{k}" for k in base) if isinstance(base, dict) else []))
            continue
        child = {rest: value} if rest else value
        if isinstance(child, dict) and isinstance(base[head], dict):
            bad += unknown_keys(base[head], child, f"{here}.")
    return bad


def load_config(name_or_path: str | Path = "viml_default", overrides: dict | None = None) -> dict:
    """A shipped config by name (viml_default, music_text_default) or a YAML path, with overrides merged.

    The shipped default of the same model kind is merged underneath, so a partial YAML still gets
    every key.
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = CONFIGS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml")))
        raise FileNotFoundError(f"no model config at {path} (shipped configs: {shipped})")
    loaded = yaml.safe_load(path.read_text()) or {}
    kind = loaded.get("model", {}).get("kind", "viml")
    default_path = CONFIGS_DIR / f"{kind}_default.yaml"
    base = yaml.safe_load(default_path.read_text()) if default_path.is_file() and default_path != path else {}
    return merge_config(merge_config(base, loaded), overrides)


# --- the factory -----------------------------------------------------------------------------------
def create_model(name_or_config: str | Path | dict = "viml_default", overrides: dict | None = None,
                 seed: int | None = None) -> torch.nn.Module:
    """The model class named by the config's model.kind; a name or path goes through `load_config` first.
    `seed` makes the initial weights reproducible."""
    from .music_text import MusicTextModel
    from .viml import VimlModel

    if isinstance(name_or_config, dict):
        config = merge_config(name_or_config, overrides) if overrides else name_or_config
    else:
        config = load_config(name_or_config, overrides)
    classes = {"viml": VimlModel, "music_text": MusicTextModel}
    kind = config.get("model", {}).get("kind")
    if kind not in classes:
        raise ValueError(f"unknown model kind {kind!r} (known: {', '.join(classes)})")
    if seed is not None:
        torch.manual_seed(seed)
    return classes[kind](config)
