"""Visual descriptors of one 10 s video segment that need no learned weights (offline profile).

Input: RGB frames uint8 [N, H, W, 3] sampled at `fps` (6 by default) over one segment. Frames are
first shrunk to about 64 px on the short side (area average), so the cost hardly depends on the
source resolution. Raw values and their units (`describe_segment`):

  brightness         mean Rec.601 luma, 0 (black) .. 1 (white)
  contrast           per-frame std of luma, averaged over frames, 0 .. 0.5
  colourfulness      Hasler & Suesstrunk (2003) M on 0..255 RGB: 0 grey, ~33 moderate, ~59 quite, >82 highly colourful
  saturation         mean HSV saturation, 0 .. 1
  warmth             mean (R - B) / 255, -1 (blue) .. +1 (red/orange)
  brightness_change  std over frames of frame brightness, 0 .. 0.5 (flicker, fades, lighting changes)
  motion             mean |luma difference| between consecutive sampled frames on a 32x32 grid, 0 .. 1
                     (cut transitions excluded; measured over 1/fps seconds)
  cut_rate           hard cuts per minute (see CUT_THRESHOLD / CUT_ISOLATION); one cut in 10 s is 6/min
  edge_density       share of pixels whose luma gradient exceeds EDGE_THRESHOLD, 0 .. 1 (visual complexity)
  hue_<name> x 12    hue histogram weighted by chroma (= saturation x value), 30-degree bins centred on
                     red, orange, ..., rose; sums to 1 (all 0 for a grey segment)

`encode_segment` maps these to roughly zero-mean, unit-scale features for a model input, with fixed
documented transforms (below) or with a training set's statistics (`VisualDescriptors(mean, std)`).
"""
from __future__ import annotations

import numpy as np

TARGET_SHORT_SIDE = 64  # px after the initial shrink
MOTION_GRID = 32  # motion is measured on a fixed 32x32 luma grid, so it does not depend on resolution
HIST_BINS = 16  # per RGB channel, for cut detection
# Hard cuts: a cut changes the colour distribution abruptly. Between consecutive sampled frames we
# take the total-variation distance of their RGB histograms (0 identical .. 1 disjoint). A pair is a
# cut when that jump exceeds CUT_THRESHOLD and is CUT_ISOLATION times larger than both neighbouring
# jumps: within-shot motion at 6 fps stays below ~0.25, and fast camera moves that do reach the
# threshold spread over two or more pairs (on the sample videos: cuts 0.42 and 0.56 next to <= 0.09;
# a whip pan 0.42 next to 0.26). Fades spread over many frames and are not counted.
CUT_THRESHOLD = 0.3
CUT_ISOLATION = 2.0
EDGE_THRESHOLD = 0.1  # luma gradient (0..1 per pixel at ~64 px scale) that counts as an edge
HUE_NAMES = ("red", "orange", "yellow", "chartreuse", "green", "spring", "cyan", "azure", "blue", "violet", "magenta", "rose")
SCALAR_NAMES = (
    "brightness",
    "contrast",
    "colourfulness",
    "saturation",
    "warmth",
    "brightness_change",
    "motion",
    "cut_rate",
    "edge_density",
)
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)

# Fixed standardisation: feature -> (log offset or None, centre, scale), applied as
# (log(x + offset) if offset else x - centre) / scale. Centres and scales are typical values of
# natural video (mid-grey exposure, moderate colour); heavy-tailed features go through a log.
NOMINAL = {
    "brightness": (None, 0.4, 0.2),
    "contrast": (None, 0.2, 0.08),
    "colourfulness": (None, 35.0, 25.0),
    "saturation": (None, 0.3, 0.2),
    "warmth": (None, 0.0, 0.1),
    "brightness_change": (0.005, np.log(0.02), 1.0),
    "motion": (0.005, np.log(0.03), 1.0),
    "cut_rate": (1.0, 0.0, 1.5),  # log(1 + cuts/min): 0 for one shot, ~1.3 for one cut per 10 s
    "edge_density": (None, 0.15, 0.1),
}
HUE_CENTRE = np.sqrt(1.0 / 12.0)  # hue shares go through a square root (Hellinger), centred on uniform
HUE_SCALE = 0.25


def _as_frames(frames) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim == 3 and frames.shape[-1] != 3:  # [N, H, W] grey
        frames = np.repeat(frames[..., None], 3, axis=-1)
    if frames.ndim == 3:  # one [H, W, 3] image
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or min(frames.shape[:3]) == 0:
        raise ValueError(f"frames must be uint8 [N, H, W, 3] with N, H, W > 0, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    return frames


def shrink(frames: np.ndarray) -> np.ndarray:
    """uint8 [N, H, W, 3] -> planar float32 [3, N, h, w] in [0, 1], short side ~64 px.

    Stride first (cheap) to at most twice the target, then average f x f blocks. Summing the
    phase-shifted sub-grids in uint16 is several times faster than a float mean over reshaped axes
    and cannot overflow (f <= 3: 9 * 255 < 65536). Planar output keeps later per-channel maths contiguous.
    """
    n, h, w, _ = frames.shape
    stride = max(1, min(h, w) // (2 * TARGET_SHORT_SIDE))
    x = frames[:, ::stride, ::stride]
    f = max(1, min(x.shape[1], x.shape[2]) // TARGET_SHORT_SIDE)
    hh, ww = x.shape[1] // f, x.shape[2] // f
    total = np.zeros((n, hh, ww, 3), dtype=np.uint16)
    for dy in range(f):
        for dx in range(f):
            total += x[:, dy : hh * f : f, dx : ww * f : f]
    return np.moveaxis(total, -1, 0).astype(np.float32) * np.float32(1.0 / (255.0 * f * f))


def grid_mean(images: np.ndarray, size: int) -> np.ndarray:
    """Block means of [N, h, w] images on a size x size grid (fewer cells if the image is smaller)."""
    _, h, w = images.shape
    rows = np.linspace(0, h, min(size, h) + 1).astype(int)
    cols = np.linspace(0, w, min(size, w) + 1).astype(int)
    sums = np.add.reduceat(np.add.reduceat(images, rows[:-1], axis=1), cols[:-1], axis=2)
    return sums / np.outer(np.diff(rows), np.diff(cols)).astype(np.float32)


def colourfulness(planes: np.ndarray) -> np.ndarray:
    """Hasler & Suesstrunk M per frame on 0..255 values: sqrt(var_rg + var_yb) + 0.3 sqrt(mean_rg^2 + mean_yb^2)."""
    r, g, b = (planes[c].reshape(planes.shape[1], -1) * np.float32(255.0) for c in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    spread = np.sqrt(rg.var(axis=1) + yb.var(axis=1))
    offset = np.sqrt(rg.mean(axis=1) ** 2 + yb.mean(axis=1) ** 2)
    return spread + 0.3 * offset


def hue_and_chroma(planes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hue in degrees [0, 360), chroma = max - min, value = max) per pixel, as in HSV; planes [3, ...]."""
    r, g, b = planes
    value = np.maximum(np.maximum(r, g), b)
    chroma = value - np.minimum(np.minimum(r, g), b)
    inv = 1.0 / np.maximum(chroma, 1e-6)
    sector = np.where(value == r, (g - b) * inv, np.where(value == g, (b - r) * inv + 2.0, (r - g) * inv + 4.0))
    return np.where(chroma > 0, (sector % 6.0) * 60.0, 0.0), chroma, value


def detect_cuts(jumps: np.ndarray) -> np.ndarray:
    """Boolean [N - 1]: which consecutive-frame histogram jumps are hard cuts (rule above CUT_THRESHOLD)."""
    padded = np.concatenate([[0.0], jumps, [0.0]])
    neighbours = np.maximum(padded[:-2], padded[2:])
    return (jumps > CUT_THRESHOLD) & (jumps > CUT_ISOLATION * neighbours)


def histogram_distances(planes: np.ndarray) -> np.ndarray:
    """Total-variation distance between RGB histograms of consecutive frames, [N - 1] in [0, 1]."""
    n = planes.shape[1]
    bins = (planes * HIST_BINS).astype(np.int32)
    np.minimum(bins, HIST_BINS - 1, out=bins)
    bins += (np.arange(n, dtype=np.int32) * HIST_BINS)[None, :, None, None]
    bins += (np.arange(3, dtype=np.int32) * n * HIST_BINS)[:, None, None, None]
    hist = np.bincount(bins.ravel(), minlength=3 * n * HIST_BINS).reshape(3, n, HIST_BINS)
    hist = hist / float(planes[0, 0].size)
    return 0.5 * np.abs(np.diff(hist, axis=1)).sum(axis=2).mean(axis=0)


class VisualDescriptors:
    """Weight-free descriptors of a video segment: `describe_segment` (raw) and `encode_segment` (standardised)."""

    name = "visual_descriptors"
    names: list[str] = list(SCALAR_NAMES) + [f"hue_{h}" for h in HUE_NAMES]
    dim = len(names)

    def __init__(self, mean: np.ndarray | None = None, std: np.ndarray | None = None):
        """mean/std: statistics of the transformed features (see `transform`) fitted on a training set;
        None uses the fixed nominal centres and scales."""
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32)
        self.std = None if std is None else np.maximum(np.asarray(std, dtype=np.float32), 1e-6)

    def describe_segment(self, frames, fps: float = 6.0) -> np.ndarray:
        """Raw descriptors float32 [dim] (units in the module docstring) for frames of one segment."""
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        planes = shrink(_as_frames(frames))  # [3, N, h, w]
        n = planes.shape[1]
        luma = LUMA_WEIGHTS[0] * planes[0] + LUMA_WEIGHTS[1] * planes[1] + LUMA_WEIGHTS[2] * planes[2]
        frame_brightness = luma.mean(axis=(1, 2))
        hue, chroma, value = hue_and_chroma(planes)
        saturation = np.where(value > 0, chroma / np.maximum(value, 1e-6), 0.0)

        hue_bin = ((hue + 15.0) * (1.0 / 30.0)).astype(np.int32)  # bin 0 is centred on red: 345..15 deg
        hue_bin[hue_bin >= 12] = 0
        hue_hist = np.bincount(hue_bin.ravel(), weights=chroma.ravel(), minlength=12)
        grey = chroma.mean() < 0.5 / 255.0  # no colour worth a hue: report none rather than noise
        hue_hist = np.zeros(12) if grey else hue_hist / hue_hist.sum()

        if n > 1:
            cuts = detect_cuts(histogram_distances(planes))
            grid = grid_mean(luma, MOTION_GRID)
            pair_motion = np.abs(np.diff(grid, axis=0)).mean(axis=(1, 2))
            motion = float(pair_motion[~cuts].mean()) if (~cuts).any() else float(pair_motion.mean())
            cut_rate = float(cuts.sum()) / (n / float(fps)) * 60.0
        else:
            motion, cut_rate = 0.0, 0.0

        gx, gy = np.diff(luma, axis=2)[:, :-1, :], np.diff(luma, axis=1)[:, :, :-1]
        edges = (gx * gx + gy * gy > EDGE_THRESHOLD**2) if gx.size else np.zeros(1, dtype=bool)

        scalars = [
            frame_brightness.mean(),
            luma.std(axis=(1, 2)).mean(),
            colourfulness(planes).mean(),
            saturation.mean(),
            (planes[0] - planes[2]).mean(),
            frame_brightness.std(),
            motion,
            cut_rate,
            edges.mean(),
        ]
        return np.concatenate([np.asarray(scalars, dtype=np.float32), hue_hist.astype(np.float32)])

    def describe_named(self, frames, fps: float = 6.0) -> dict[str, float]:
        return dict(zip(self.names, (float(v) for v in self.describe_segment(frames, fps))))

    @staticmethod
    def transform(raw: np.ndarray) -> np.ndarray:
        """Fixed nominal standardisation of raw rows [..., dim] (logs for heavy tails, sqrt for hue shares)."""
        raw = np.asarray(raw, dtype=np.float32)
        out = np.empty_like(raw)
        for i, name in enumerate(SCALAR_NAMES):
            offset, centre, scale = NOMINAL[name]
            x = raw[..., i]
            x = np.log(np.maximum(x, 0.0) + offset) if offset else x
            out[..., i] = (x - centre) / scale
        out[..., len(SCALAR_NAMES) :] = (np.sqrt(np.maximum(raw[..., len(SCALAR_NAMES) :], 0.0)) - HUE_CENTRE) / HUE_SCALE
        return out

    def encode_segment(self, frames, fps: float = 6.0) -> np.ndarray:
        """Standardised float32 [dim] feature vector for a model input."""
        return self.encode_raw(self.describe_segment(frames, fps))

    def encode_raw(self, raw: np.ndarray) -> np.ndarray:
        """Standardise raw descriptors [..., dim] already computed by `describe_segment`."""
        t = self.transform(raw)
        if self.mean is not None:
            t = (t - self.mean) / self.std
        return t.astype(np.float32)
