"""CLIP ViT-B/32 (OpenAI weights, as in ViML) through open_clip: frame and text encoders for the paper profile.

No CLIP weights ship in any package, so they are looked for on disk (see `find_clip_weights`) and
fetched from the hub only when VML_ALLOW_DOWNLOAD=1. Without weights the offline encoders are used;
tests build a randomly initialised ViT-B/32 (`allow_random=True`) to exercise the same code.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import config
from ..compat import ensure_torchvision_importable
from ..errors import WeightsUnavailableError
from ..settings import get_settings
from .base import ImageEncoder, l2_normalize
from .cached_text import CachedTextEncoder
from .device import pick_device

log = logging.getLogger(__name__)

MODEL_NAME = "ViT-B-32"
PRETRAINED_TAG = "openai"
# Read from open_clip 3.3.0's pretrained registry (ViT-B-32 / 'openai' -> hf_hub); a test checks it.
HF_REPO_ID = "timm/vit_base_patch32_clip_224.openai"
CHECKPOINT_NAMES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pt",
    "ViT-B-32.pt",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
IMAGE_SIZE = 224
EMBED_DIM = 512
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
RANDOM_SEED = 0

# ---------------------------------------------------------------- finding weights


def hf_hub_cache_dir() -> Path:
    return get_settings().hf_hub_dir


def _weights_in_folder(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    for name in CHECKPOINT_NAMES:
        if (folder / name).is_file():
            return folder / name
    others = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    return others[0] if others else None


def _weights_in_hf_cache(hub_dir: Path) -> Path | None:
    repo_dir = hub_dir / ("models--" + HF_REPO_ID.replace("/", "--"))
    snapshots = repo_dir / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repo_dir / "refs" / "main"
    ordered = []
    if ref.is_file():
        ordered.append(snapshots / ref.read_text().strip())
    ordered += sorted(p for p in snapshots.iterdir() if p.is_dir())
    for snap in ordered:
        for name in CHECKPOINT_NAMES[:3]:  # the hub repo holds open_clip's own file names
            if (snap / name).is_file():
                return snap / name
    return None


def locate_clip_weights() -> tuple[Path | None, str, list[str]]:
    """(path or None, where it was found, the places looked in), without downloading anything."""
    looked = []
    candidate = get_settings().clip_weights
    if candidate is not None:
        looked.append(f"VML_CLIP_WEIGHTS={candidate}")
        found = _weights_in_folder(candidate) if candidate.is_dir() else candidate
        if found is not None and found.is_file():
            return found, "VML_CLIP_WEIGHTS", looked
    local = config.CHECKPOINTS_DIR / "clip"
    looked.append(str(local))
    found = _weights_in_folder(local)
    if found is not None:
        return found, "checkpoints/clip", looked
    hub_dir = hf_hub_cache_dir()
    looked.append(f"{hub_dir} ({HF_REPO_ID})")
    found = _weights_in_hf_cache(hub_dir)
    if found is not None:
        return found, "Hugging Face cache", looked
    openai_cache = Path.home() / ".cache" / "clip" / "ViT-B-32.pt"  # where OpenAI's clip package saves it
    looked.append(str(openai_cache))
    if openai_cache.is_file():
        return openai_cache, "OpenAI CLIP cache", looked
    return None, "", looked


def find_clip_weights() -> Path | None:
    """Path of ViT-B/32 weights on this machine: VML_CLIP_WEIGHTS, checkpoints/clip/, then the HF cache."""
    return locate_clip_weights()[0]


def clip_status() -> str:
    """One line: whether CLIP is available and from where."""
    path, source, looked = locate_clip_weights()
    if path is not None:
        return f"CLIP ViT-B/32 available: weights from {source} ({path})"
    env_note = ""
    settings = get_settings()
    if settings.clip_weights is not None:
        env_note = f" VML_CLIP_WEIGHTS={settings.clip_weights} is not a weights file;"
    download = " downloads are allowed and happen on first use" if settings.allow_download else ""
    return f"CLIP ViT-B/32 not available:{env_note} no weights in {', '.join(looked)};{download or ' the offline encoders are used'}"


def not_found_message(looked: list[str]) -> str:
    return (
        f"CLIP ViT-B/32 weights not found (looked in {', '.join(looked)}); the offline encoders are used "
        "instead. Set VML_CLIP_WEIGHTS=/path/to/open_clip_pytorch_model.bin to enable the paper profile."
    )


def download_clip_weights() -> Path:
    """Fetch the OpenAI ViT-B/32 weights into the HF cache (only called when downloads are allowed)."""
    ensure_torchvision_importable()
    from open_clip import pretrained

    try:
        path = pretrained.download_pretrained(pretrained.get_pretrained_cfg(MODEL_NAME, PRETRAINED_TAG))
    except Exception as err:  # network, hub or disk errors: one line for the user
        raise WeightsUnavailableError(f"CLIP ViT-B/32 weights could not be downloaded: {err}".splitlines()[0]) from err
    return Path(path)


# ---------------------------------------------------------------- model


def read_state_dict(path: Path) -> dict:
    """Tensors of a ViT-B/32 checkpoint: open_clip .bin/.pt/.safetensors, a training checkpoint
    ({"state_dict": ...}, "module." prefixes), or OpenAI's original TorchScript archive."""
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            try:
                state = torch.load(str(path), map_location="cpu", weights_only=True)
            except Exception:
                state = torch.jit.load(str(path), map_location="cpu").state_dict()  # OpenAI's ViT-B-32.pt
    except Exception as err:
        raise WeightsUnavailableError(f"CLIP weights at {path} could not be read: {err}".splitlines()[0]) from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise WeightsUnavailableError(f"CLIP weights at {path} hold no state dict")
    state = {(k[7:] if k.startswith("module.") else k): v for k, v in state.items()}
    for key in ("input_resolution", "context_length", "vocab_size"):  # TorchScript extras
        state.pop(key, None)
    return state


def build_clip_model(weights: Path | None, device: str):
    """open_clip ViT-B/32 with QuickGELU (OpenAI's activation), eval mode; seeded random init when weights is None."""
    state = read_state_dict(Path(weights)) if weights is not None else None  # fail fast, before building
    ensure_torchvision_importable()
    import open_clip
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        model = open_clip.create_model(MODEL_NAME, pretrained=None, force_quick_gelu=True)
    if state is not None:
        if "logit_scale" in state:
            state["logit_scale"] = state["logit_scale"].reshape(model.logit_scale.shape)
        try:
            model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        except Exception as err:
            raise WeightsUnavailableError(f"CLIP weights at {weights} do not fit ViT-B/32: {err}".splitlines()[0]) from err
    model = model.to(device).eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model, open_clip.get_tokenizer(MODEL_NAME)


def preprocess_frames(frames: np.ndarray, device: str = "cpu"):
    """uint8 [N, H, W, 3] RGB -> normalised float tensor [N, 3, 224, 224] as CLIP's transform does:
    bicubic resize of the shorter side to 224 (antialiased, like PIL), centre crop, CLIP mean/std."""
    import torch
    import torch.nn.functional as F

    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [N, H, W, 3], got shape {frames.shape}")
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float()
    h, w = x.shape[-2:]
    scale = IMAGE_SIZE / min(h, w)
    new_h, new_w = max(IMAGE_SIZE, int(h * scale)), max(IMAGE_SIZE, int(w * scale))
    if (new_h, new_w) != (h, w):
        x = F.interpolate(x, size=(new_h, new_w), mode="bicubic", align_corners=False, antialias=True)
    top, left = (new_h - IMAGE_SIZE) // 2, (new_w - IMAGE_SIZE) // 2
    x = x[:, :, top : top + IMAGE_SIZE, left : left + IMAGE_SIZE].clamp(0.0, 255.0) / 255.0
    mean = torch.tensor(CLIP_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


class ClipImageEncoder(ImageEncoder):
    """CLIP ViT-B/32 image tower; uint8 frames [N, H, W, 3] -> float32 [N, 512], L2-normalised."""

    name = "clip_vit_b32"
    dim = EMBED_DIM

    def __init__(self, model, device: str, lock: threading.Lock, batch_size: int = 32):
        self._model, self.device, self._lock, self.batch_size = model, device, lock, batch_size

    def encode_frames(self, frames: np.ndarray) -> np.ndarray:
        import torch

        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if len(frames) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(frames), self.batch_size):
                pixels = preprocess_frames(frames[start : start + self.batch_size], self.device)
                rows.append(self._model.encode_image(pixels).float().cpu().numpy())
        return l2_normalize(np.concatenate(rows))


class ClipTextEncoder(CachedTextEncoder):
    """CLIP ViT-B/32 text tower (open_clip BPE tokenizer, 77 tokens); float32 [N, 512], L2-normalised."""

    name = "clip_text"
    dim = EMBED_DIM

    def __init__(self, model, tokenizer, device: str, lock: threading.Lock, batch_size: int = 64, cache_size: int = 4096):
        super().__init__(cache_size)
        self._model, self._tokenizer, self.device, self._lock = model, tokenizer, device, lock
        self.batch_size = batch_size

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        import torch

        rows = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                tokens = self._tokenizer(texts[start : start + self.batch_size]).to(self.device)
                rows.append(self._model.encode_text(tokens).float().cpu().numpy())
        return l2_normalize(np.concatenate(rows))


@dataclass
class ClipEncoders:
    image: ClipImageEncoder
    text: ClipTextEncoder
    weights: Path | None  # None: randomly initialised (tests only)
    device: str


def load_clip(device: str | None = None, weights: str | os.PathLike | None = None, allow_random: bool = False) -> ClipEncoders:
    """Shared CLIP encoders. weights: a checkpoint path, else `find_clip_weights()`, else a download when
    VML_ALLOW_DOWNLOAD=1; otherwise WeightsUnavailableError, unless allow_random (seeded random init)."""
    device = pick_device(device)
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsUnavailableError(f"CLIP weights file {path} does not exist")
        return _cached_clip(str(path.resolve()), device)
    found, _, looked = locate_clip_weights()
    if found is not None:
        return _cached_clip(str(found.resolve()), device)
    if get_settings().allow_download:
        return _cached_clip(str(download_clip_weights().resolve()), device)
    if allow_random:
        return _cached_clip("", device)
    raise WeightsUnavailableError(not_found_message(looked))


@functools.lru_cache(maxsize=4)
def _cached_clip(weights: str, device: str) -> ClipEncoders:
    path = Path(weights) if weights else None
    model, tokenizer = build_clip_model(path, device)
    lock = threading.Lock()  # one forward pass at a time per model (app threads share it)
    if path is None:
        log.warning("CLIP ViT-B/32 is randomly initialised: for tests only")
    else:
        log.info("CLIP ViT-B/32 loaded from %s on %s", path, device)
    return ClipEncoders(ClipImageEncoder(model, device, lock), ClipTextEncoder(model, tokenizer, device, lock), path, device)
