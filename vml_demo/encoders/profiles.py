"""The two encoder profiles from one code base, and which one is active on this machine.

- paper:   CLIP ViT-B/32 for video frames and text (as ViML), when its weights are on disk.
- offline: MiniLM for text; for video EfficientNet-Lite0's ImageNet features + the weight-free visual descriptors
  (the descriptors alone when the EfficientNet packages are missing) and the video's own sound scene.
Both use the same music encoders (musicnn MTT + MSD taggers, YAMNet), so one library index serves both.
VML_PROFILE=offline|paper|auto picks (auto: paper when CLIP weights are found).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

from ..settings import get_settings
from .base import AudioEncoder
from .device import pick_device

MUSIC_ENCODER_NAMES = ("musicnn_mtt", "musicnn_msd", "yamnet")


@dataclass
class Profile:
    name: str  # "offline" or "paper"
    text_encoder: str  # "minilm" or "clip"
    video_encoder: str  # "efficientnet_lite0", "visual_descriptors" or "clip_vit_b32"
    device: str
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.name} profile: text={self.text_encoder}, video={self.video_encoder}, device={self.device}"


@functools.lru_cache(maxsize=None)
def load_music_encoder(name: str) -> AudioEncoder:
    if name == "musicnn_mtt":
        from .musicnn import load_musicnn

        return load_musicnn("MTT_musicnn")
    if name == "musicnn_msd":
        from .musicnn import load_musicnn

        return load_musicnn("MSD_musicnn")
    if name == "yamnet":
        from .yamnet import YamnetTagger

        return YamnetTagger()
    raise ValueError(f"unknown music encoder {name!r} (known: {', '.join(MUSIC_ENCODER_NAMES)})")


def music_encoders(names=MUSIC_ENCODER_NAMES) -> list[AudioEncoder]:
    return [load_music_encoder(n) for n in names]


def active_profile(requested: str | None = None) -> Profile:
    from .clip import clip_status, find_clip_weights

    settings = get_settings()
    choice = (requested or settings.profile).lower()
    device = pick_device()
    reasons = []
    if settings.device.startswith("cuda") and device == "cpu":
        reasons.append("a GPU was requested but torch sees none: running on the CPU")
    reasons.append(clip_status())
    has_clip = find_clip_weights() is not None
    if choice == "paper" and not has_clip:
        reasons.append("the paper profile was requested but CLIP weights are missing: using the offline profile")
    if choice in {"paper", "auto"} and has_clip:
        return Profile("paper", "clip", "clip_vit_b32", device, reasons)
    from .efficientnet import available

    if not available():
        reasons.append("EfficientNet-Lite0 is not installed: video features are the visual descriptors alone")
        return Profile("offline", "minilm", "visual_descriptors", device, reasons)
    return Profile("offline", "minilm", "efficientnet_lite0", device, reasons)
