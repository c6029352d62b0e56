"""Every environment variable the project reads, parsed and checked in one place.

`get_settings()` reads the environment on each call (cheap), so a variable set by a test, a Space or a
parent process takes effect without a restart. An empty value counts as unset. A value that cannot be
parsed raises `SettingsError`, a one-line message naming the variable. Constants (paths, window sizes)
stay in `config`. `python -m vml_demo.settings` prints the README's table of variables.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable, Mapping

from .config import ASSETS_DIR
from .errors import SettingsError

PROFILES = ("auto", "offline", "paper")
TERM_EVIDENCE = ("calibrated", "max")
HUBNESS = ("csls", "isoftmax", "off")
BRIDGE_QUERY = ("embedding", "terms")
BRIDGE_TEMPO = ("tagger", "bpm")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _var(env: str, default: str, doc: str):
    """A field read from environment variable `env`; `default` and `doc` are what the README table shows."""
    return field(metadata={"env": env, "default": default, "doc": doc})


@dataclass(frozen=True)
class Settings:
    # Where the app listens (Gradio reads the same two variables; a Space sets them).
    server_name: str = _var("GRADIO_SERVER_NAME", "127.0.0.1", "host the app listens on")
    server_port: int = _var("GRADIO_SERVER_PORT", "7860", "port the app listens on")
    # Python logging level of the app.
    log_level: str = _var("VML_LOG_LEVEL", "INFO", "the app's log level (DEBUG, INFO, WARNING, ERROR)")
    # Set by Hugging Face on a Space: app.py then installs the no-deps model packages itself.
    space_id: str | None = _var("SPACE_ID", "unset", "set on a Hugging Face Space (app.py then installs the no-deps packages)")
    # The library index the app and CLI open when none is named.
    db_dir: Path = _var("VML_DB", "assets/index", "the library index the app and CLI open by default")
    # Where libraries indexed from the app's Libraries tab are kept.
    libraries_dir: Path = _var("VML_LIBRARIES_DIR", "~/.cache/vml_demo/libraries",
                               "where libraries indexed from the UI are kept")
    # Longest video accepted for a query: bad input fails fast instead of tying up the CPU.
    max_video_s: float = _var("VML_MAX_VIDEO_S", "600", "longest video accepted, in seconds")
    # Encoder profile; auto takes paper when CLIP weights are on disk.
    profile: str = _var("VML_PROFILE", "auto", "encoder profile: auto, offline or paper (see Encoder profiles)")
    # torch device; a missing GPU falls back to the CPU and says so.
    device: str = _var("VML_DEVICE", "auto", "torch device: auto, cpu, cuda or cuda:N")
    # An open_clip ViT-B/32 checkpoint (file or folder), looked at before checkpoints/clip/ and the HF cache.
    clip_weights: Path | None = _var("VML_CLIP_WEIGHTS", "unset", "CLIP ViT-B/32 weights file or folder")
    # Whether CLIP weights may be fetched from the hub when none are on disk.
    allow_download: bool = _var("VML_ALLOW_DOWNLOAD", "0", "1 lets CLIP weights be downloaded from the hub")
    # Music-text space: auto takes the best mean dev mAP among the bridge, the candidate towers and their
    # ensembles in the towers' metrics.json (model/space_choice.py); ensemble: the best measured ensemble.
    space: str = _var("VML_SPACE", "auto",
                      "music-text space: auto (the best measured on dev: tag bridge, tower or their ensemble), bridge, "
                      "trained, ensemble, or a checkpoint folder")
    # Retrieval levers (evaluation/levers.py measures each on and off; the defaults are the dev-chosen ones).
    term_evidence: str = _var("VML_TERM_EVIDENCE", "max",
                              "tag bridge term evidence: calibrated (per-tagger z-scores over the library, soft) or max")
    hubness: str = _var("VML_HUBNESS", "off",
                        "hubness reduction in ranking: csls, isoftmax or off (query bank: the vocabulary's terms)")
    # Tag bridge levers (TagBridgeSpace; benchmarks/bridge_tuning.py chose the values on dev): a text as the whole
    # embedding or as sharpened weights on the terms it is like; how far above its library mean a term must be to
    # count in a window (0: on dev every margin lost); whether tempo terms also read each track's BPM.
    bridge_query: str = _var("VML_BRIDGE_QUERY", "terms",
                             "tag bridge text: terms (sharpened weights on the terms it is like, on orthonormal term "
                             "directions) or embedding (the whole MiniLM vector)")
    bridge_query_t: float = _var("VML_BRIDGE_QUERY_T", "0.1",
                                 "temperature of that softmax over a text's cosines to the term phrases (chosen on dev)")
    bridge_margin: float = _var("VML_BRIDGE_MARGIN", "0",
                                "tag bridge: a window keeps a term only by its z-score above this margin (0: any "
                                "term above the library mean)")
    bridge_tempo: str = _var("VML_BRIDGE_TEMPO", "bpm",
                             "tag bridge tempo terms: bpm (also each track's BPM: slow / medium / fast) or tagger "
                             "(MTT's fast/slow tags only)")
    # A trained ViML checkpoint for video search; unset: checkpoints/viml_<video encoder>_<text encoder>.
    viml_checkpoint: Path | None = _var("VML_VIML_CHECKPOINT", "unset",
                                        "a trained ViML checkpoint (default `checkpoints/viml_<video>_<text>`)")
    # prompt2text's local causal LM (textsynth/lm.py); unset: the packaged Gemma 3 270M when installed.
    text_lm: str | None = _var("VML_TEXT_LM", "unset",
                               "prompt2text's LM: unset or `gemma3-270m` = the packaged Gemma 3 270M when installed "
                               "(`setup.sh --with-lm`), else a `.gguf` file, model folder or cached repo id; "
                               "`none` = off (data2text is used)")
    # Server folders a visitor of the app may index (os.pathsep-separated); none: uploads only.
    index_roots: tuple[Path, ...] = _var("VML_INDEX_ROOTS", "unset",
                                         "folders on the server the app may index, separated by `:` (unset: uploads only)")
    # Bounds on one library upload in the app, so one visitor cannot fill the disk.
    max_uploads: int = _var("VML_MAX_UPLOADS", "200", "most audio files one library upload may hold")
    max_upload_mb: int = _var("VML_MAX_UPLOAD_MB", "1024", "largest file the app accepts, in MB")
    # Ratings export covers the visitor's own session unless the operator opens it to all sessions.
    export_all_ratings: bool = _var("VML_EXPORT_ALL_RATINGS", "0", "1 lets visitors export every session's ratings")
    # Zero-shot video path levers (measured on/off in `evaluate video`): what EfficientNet-Lite0 sees in the
    # frames, the rules over the hand-made visual descriptors, and how much the video's own music pulls the query.
    video_scenes: bool = _var("VML_VIDEO_SCENES", "1", "1: the video's ImageNet classes (EfficientNet-Lite0) become music words")
    # Default 1 (on): on the 10 dev videos fit@5 tied on the synthetic pool and won 38 vs 28 on the real one
    # (results/video_levers.json); with the first 4 dev videos alone they had lost.
    video_looks: bool = _var("VML_VIDEO_LOOKS", "1", "1: the video's brightness, colour, motion and cuts become music words")
    # Default 0 (off): on dev, 0 and 0.25 tied and more lost (benchmarks/own_music_weight.py).
    own_music_weight: float = _var("VML_OWN_MUSIC_WEIGHT", "0",
                                   "share of the video query taken by the music heard in the video (0: off, measured best on dev)")
    # torch threads per query: one query's small matrix products lose more to hand-offs than they gain.
    query_threads: int = _var("VML_QUERY_THREADS", "1", "torch threads per query")
    # The Hugging Face cache, found the way huggingface_hub finds it (CLIP weights are looked for there).
    hf_hub_cache: Path | None = _var("HF_HUB_CACHE", "$HF_HOME/hub", "Hugging Face hub cache")
    # Hugging Face home, when HF_HUB_CACHE is unset.
    hf_home: Path | None = _var("HF_HOME", "$XDG_CACHE_HOME/huggingface", "Hugging Face home")
    # Base of per-user caches (YAMNet's unpacked model, the HF cache when HF_* are unset).
    cache_home: Path = _var("XDG_CACHE_HOME", "~/.cache", "base folder of per-user caches")

    @property
    def on_hosted_space(self) -> bool:
        return self.space_id is not None

    @property
    def hf_hub_dir(self) -> Path:
        if self.hf_hub_cache is not None:
            return self.hf_hub_cache
        return (self.hf_home or self.cache_home / "huggingface") / "hub"


# ---------------------------------------------------------------- parsing


def _text(raw: str, env: str) -> str:
    return raw


def _path(raw: str, env: str) -> Path:
    return Path(raw).expanduser()


def _number(raw: str, env: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{env}={raw!r} is not a number") from None


def _positive_float(raw: str, env: str) -> float:
    value = _number(raw, env)
    if not value > 0 or value == float("inf"):
        raise SettingsError(f"{env}={raw!r} must be a positive number of seconds")
    return value


def _positive_number(raw: str, env: str) -> float:
    value = _number(raw, env)
    if not 0.0 < value < float("inf"):
        raise SettingsError(f"{env}={raw!r} must be a positive number")
    return value


def _non_negative_float(raw: str, env: str) -> float:
    value = _number(raw, env)
    if not 0.0 <= value < float("inf"):
        raise SettingsError(f"{env}={raw!r} must be a number >= 0")
    return value


def _unit_float(raw: str, env: str) -> float:
    value = _number(raw, env)
    if not 0.0 <= value <= 1.0:
        raise SettingsError(f"{env}={raw!r} must be between 0 and 1")
    return value


def _int_in(low: int, high: int) -> Callable[[str, str], int]:
    def parse(raw: str, env: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{env}={raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise SettingsError(f"{env}={raw!r} must be between {low} and {high}")
        return value

    return parse


def _paths(raw: str, env: str) -> tuple[Path, ...]:
    return tuple(Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip())


def _flag(raw: str, env: str) -> bool:
    value = raw.lower()
    if value in _TRUE | _FALSE:
        return value in _TRUE
    raise SettingsError(f"{env}={raw!r} must be 1 or 0 (also true/false, yes/no, on/off)")


def _profile(raw: str, env: str) -> str:
    value = raw.lower()
    if value not in PROFILES:
        raise SettingsError(f"{env}={raw!r} is not a profile (known: {', '.join(PROFILES)})")
    return value


def _device(raw: str, env: str) -> str:
    value = raw.lower()
    if not _DEVICE_RE.match(value):
        raise SettingsError(f"{env}={raw!r} is not a device (auto, cpu, cuda, cuda:N or mps)")
    return value


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(raw: str, env: str) -> str:
        value = raw.lower()
        if value not in allowed:
            raise SettingsError(f"{env}={raw!r} is not one of {', '.join(allowed)}")
        return value

    return parse


def _log_level(raw: str, env: str) -> str:
    value = raw.upper()
    if not isinstance(logging.getLevelName(value), int):
        raise SettingsError(f"{env}={raw!r} is not a log level (DEBUG, INFO, WARNING, ERROR)")
    return value


# How each field is parsed, and its value when the variable is unset (computed at call time: HOME may change).
_PARSERS: dict[str, Callable[[str, str], object]] = {
    "server_port": _int_in(1, 65535), "log_level": _log_level, "db_dir": _path, "libraries_dir": _path,
    "max_video_s": _positive_float, "profile": _profile, "device": _device, "clip_weights": _path,
    "allow_download": _flag, "term_evidence": _choice(*TERM_EVIDENCE), "hubness": _choice(*HUBNESS), "bridge_query": _choice(*BRIDGE_QUERY),
    "bridge_query_t": _positive_number, "bridge_margin": _non_negative_float, "bridge_tempo": _choice(*BRIDGE_TEMPO), "viml_checkpoint": _path,
    "index_roots": _paths, "max_uploads": _int_in(1, 1_000_000), "max_upload_mb": _int_in(1, 1_000_000),
    "export_all_ratings": _flag, "video_scenes": _flag, "video_looks": _flag, "own_music_weight": _unit_float,
    "query_threads": _int_in(1, 1024),
    "hf_hub_cache": _path, "hf_home": _path, "cache_home": _path,
}
_UNSET: dict[str, Callable[[], object]] = {
    "db_dir": lambda: ASSETS_DIR / "index",
    "libraries_dir": lambda: Path.home() / ".cache" / "vml_demo" / "libraries",
    "cache_home": lambda: Path.home() / ".cache",
}


def get_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings in `environ` (default: this process's environment), or SettingsError naming the bad one."""
    env = os.environ if environ is None else environ
    values = {}
    for f in fields(Settings):
        name, raw = f.metadata["env"], env.get(f.metadata["env"], "").strip()
        if raw:
            values[f.name] = _PARSERS.get(f.name, _text)(raw, name)
        elif f.name in _UNSET:
            values[f.name] = _UNSET[f.name]()
        elif f.name == "index_roots":
            values[f.name] = ()
        elif f.metadata["default"] == "unset" or f.metadata["default"].startswith("$"):
            values[f.name] = None
        else:
            values[f.name] = _PARSERS.get(f.name, _text)(f.metadata["default"], name)
    return Settings(**values)


@contextlib.contextmanager
def overridden(values: Mapping[str, str]):
    """Set some variables for the duration (checked first); the lever sweep switches settings this way."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        get_settings()  # a bad value fails here, with its one-line message
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def prefer_offline_hub() -> None:
    """Unless told otherwise, never let transformers/huggingface_hub wait ~50 s on an unreachable hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def markdown_table() -> str:
    """The README's table of environment variables, one row per Settings field."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for f in fields(Settings):
        default = f.metadata["default"]
        shown = default if default == "unset" else f"`{default}`"
        rows.append(f"| `{f.metadata['env']}` | {shown} | {f.metadata['doc']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
