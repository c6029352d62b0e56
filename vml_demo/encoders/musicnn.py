"""musicnn music taggers (Pons & Serra, 2019) in PyTorch, loaded from the original TF1 checkpoints.

The `musicnn` package ships the MagnaTagATune and Million Song Dataset models as TensorFlow checkpoints;
they are read with `tf_checkpoint.read_tf_checkpoint` (numpy only) and run by `MusicnnNet`, a faithful
re-implementation of `musicnn.models.build_musicnn`. The front end reproduces `musicnn.extractor`
bit for bit where it matters: librosa's centred STFT (zero padding, periodic Hann, float64 FFT stored as
complex64), the Slaney mel filterbank of `melspec`, a cast to float16 and `log10(10000 x + 1)` evaluated in float32.
Patches are 187 frames (3 s), non-overlapping; the incomplete tail is dropped, as musicnn does.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vml_demo.encoders.base import AudioEncoder, AudioFrames
from vml_demo.encoders.device import pick_device
from vml_demo.encoders.melspec import mel_filterbank
from vml_demo.encoders.onnx_cache import use_onnxruntime
from vml_demo.encoders.tf_checkpoint import read_tf_checkpoint
from vml_demo.errors import CorruptMediaError, EmptyMediaError, WeightsUnavailableError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # 3 s: librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1
PATCH_S = PATCH_FRAMES * HOP / SAMPLE_RATE
# Part of the index key (with the weights' hash): bump when the front end or pooling changes the outputs.
OUTPUT_VERSION = "1"
# Shortest signal that yields one full patch (centred STFT: frames = 1 + samples // HOP).
MIN_SAMPLES = (PATCH_FRAMES - 1) * HOP
BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization default
MODELS = {"MTT_musicnn": ("musicnn_mtt", "mtt"), "MSD_musicnn": ("musicnn_msd", "msd")}


# ---- front end --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _periodic_hann(n: int) -> np.ndarray:
    return (0.5 + 0.5 * np.cos(np.linspace(-np.pi, np.pi, n + 1)))[:-1]


def _frame_count(n_samples: int) -> int:
    return 1 + n_samples // HOP


def mel16_frames(audio: np.ndarray, first: int = 0, stop: int | None = None) -> np.ndarray:
    """Mel power frames [first, stop) of the centred STFT of `audio`: [frames, 96], float16 as musicnn stores it.

    Computing a range at a time keeps memory flat for long tracks; frame k sees samples
    [k*HOP - N_FFT/2, k*HOP + N_FFT/2), zero outside the signal.
    """
    stop = _frame_count(len(audio)) if stop is None else stop
    lo, hi = first * HOP - N_FFT // 2, (stop - 1) * HOP + N_FFT // 2
    segment = np.zeros(hi - lo, dtype=np.float64)
    src_lo, src_hi = max(lo, 0), min(hi, len(audio))
    segment[src_lo - lo : src_hi - lo] = audio[src_lo:src_hi]
    frames = np.lib.stride_tricks.sliding_window_view(segment, N_FFT)[::HOP]
    spectrum = np.fft.rfft(frames * _periodic_hann(N_FFT), axis=-1).astype(np.complex64)
    power = np.abs(spectrum) ** 2
    mel = power @ mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS).T  # Slaney scale and norm, librosa's defaults
    # Audio far outside [-1, 1] could exceed float16's range; saturate rather than store inf.
    return np.minimum(mel, np.finfo(np.float16).max).astype(np.float16)


def log_mel_frames(audio: np.ndarray, first: int = 0, stop: int | None = None) -> np.ndarray:
    """The network's input: compressed mel frames [first, stop), [frames, 96] float32."""
    return compress_mel(mel16_frames(audio, first, stop))


def compress_mel(mel16: np.ndarray) -> np.ndarray:
    """musicnn's "logC" compression, log10(10000 x + 1), of the float16 mel, evaluated in float32.

    float32 is what NumPy 1.x (musicnn's era) computed for `10000 * float16_array`; NumPy 2 would stay in
    float16, overflow to inf above x = 6.55 and feed inf to the network.
    """
    return np.log10(np.float32(10000.0) * mel16.astype(np.float32) + np.float32(1.0))


# ---- network ----------------------------------------------------------------------------------


def _conv_bn_relu_max_over_mel(x: torch.Tensor, conv: nn.Conv2d, bn: nn.BatchNorm2d, block: int = 1) -> torch.Tensor:
    """amax over the mel axis of bn(relu(conv(x))), reducing first (about 40% of the net's time saved).

    relu is non-decreasing and eval-mode batch norm is a per-channel affine map a*x + b, so the max of
    bn(relu(z)) is bn(relu(max z)) where a >= 0 and bn(relu(min z)) where a < 0. The min is taken as
    -max(-z), with -z from the same convolution with negated filters (negation is exact in floating point),
    so every channel is one max pool over the mel axis. block > 1 pads the filters with zero filters to a
    multiple of `block` channels, sliced off after the pool: onnxruntime then keeps conv and pool in its
    blocked NCHWc layout (it pools there only whole channel blocks) instead of converting each large conv
    output back to NCHW and reducing it there, which took a quarter of musicnn's CPU time (measured: 17.5 ->
    14.0 ms a patch, outputs bit-identical). Training mode keeps the literal order (batch statistics depend
    on every value).
    """
    if bn.training:
        return bn(F.relu(conv(x))).amax(dim=3)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    sign = torch.where(scale < 0, -torch.ones_like(scale), torch.ones_like(scale))
    weight, bias = conv.weight * sign[:, None, None, None], conv.bias * sign
    channels = weight.shape[0]
    extra = -channels % block
    if extra:
        weight = torch.cat([weight, weight.new_zeros((extra, *weight.shape[1:]))])
        bias = torch.cat([bias, bias.new_zeros(extra)])
    width = N_MELS - conv.kernel_size[1] + 1  # static, so the ONNX export gets a fixed pool size
    pooled = F.max_pool2d(F.conv2d(x, weight, bias), kernel_size=(1, width))  # [B, C (+extra), T, 1]
    peak = pooled.flatten(2)[:, :channels] * sign[None, :, None]
    # batch norm on [B, C, T] (the reduced tensor) with the same statistics
    return F.batch_norm(F.relu(peak), bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


class MusicnnNet(nn.Module):
    """musicnn: musically motivated front end, dense mid end, temporal pooling back end."""

    channel_block = 1  # front-end filters padded to a multiple of this (16 in the ONNX export: musicnn_ort)

    def __init__(self, n_classes: int = 50, midend_filters: int = 64, backend_units: int = 200) -> None:
        super().__init__()
        timbral, temporal = int(1.6 * 128), int(1.6 * 32)
        self.input_bn = nn.BatchNorm2d(1, eps=BN_EPS)
        # Timbral: spectral shapes spanning 40% and 70% of the mel axis, 7 frames long.
        self.timbral = nn.ModuleList(
            [nn.Conv2d(1, timbral, (7, int(0.4 * N_MELS))), nn.Conv2d(1, timbral, (7, int(0.7 * N_MELS)))]
        )
        self.timbral_bn = nn.ModuleList([nn.BatchNorm2d(timbral, eps=BN_EPS) for _ in range(2)])
        # Temporal: 1-bin-tall filters over 128, 64 and 32 frames, TF "same" padding.
        self.temporal_lengths = (128, 64, 32)
        self.temporal = nn.ModuleList([nn.Conv2d(1, temporal, (k, 1)) for k in self.temporal_lengths])
        self.temporal_bn = nn.ModuleList([nn.BatchNorm2d(temporal, eps=BN_EPS) for _ in range(3)])
        frontend_dim = 2 * timbral + 3 * temporal
        self.midend = nn.ModuleList(
            [nn.Conv1d(frontend_dim if i == 0 else midend_filters, midend_filters, 7) for i in range(3)]
        )
        self.midend_bn = nn.ModuleList([nn.BatchNorm1d(midend_filters, eps=BN_EPS) for _ in range(3)])
        pooled_dim = 2 * (frontend_dim + 3 * midend_filters)
        self.pool_bn = nn.BatchNorm1d(pooled_dim, eps=BN_EPS)
        self.dense = nn.Linear(pooled_dim, backend_units)
        self.dense_bn = nn.BatchNorm1d(backend_units, eps=BN_EPS)
        self.output = nn.Linear(backend_units, n_classes)

    def forward(self, log_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log_mel [B, 187, 96] -> (logits [B, C], penultimate [B, backend_units])."""
        x = self.input_bn(log_mel.unsqueeze(1))  # [B, 1, time, mel]
        features = []
        padded = F.pad(x, (0, 0, 3, 3))  # pad time only; the mel axis is max-pooled away
        for conv, bn in zip(self.timbral, self.timbral_bn):
            features.append(_conv_bn_relu_max_over_mel(padded, conv, bn, self.channel_block))
        for length, conv, bn in zip(self.temporal_lengths, self.temporal, self.temporal_bn):
            same = F.pad(x, (0, 0, (length - 1) // 2, length // 2))  # TF "same": extra pad at the end
            features.append(_conv_bn_relu_max_over_mel(same, conv, bn, self.channel_block))
        frontend = torch.cat(features, dim=1)  # [B, 561, time]

        layers = [frontend]
        h = frontend
        for i, (conv, bn) in enumerate(zip(self.midend, self.midend_bn)):
            out = bn(F.relu(conv(F.pad(h, (3, 3)))))
            h = out if i == 0 else out + h  # residual from the second layer on
            layers.append(h)
        midend = torch.cat(layers, dim=1)  # [B, 753, time]

        # TF concatenates [max, mean] on a trailing axis before flattening: features interleave.
        pooled = torch.stack([midend.amax(dim=2), midend.mean(dim=2)], dim=2).flatten(1)
        penultimate = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))
        return self.output(penultimate), penultimate

    @classmethod
    def from_tf_checkpoint(cls, tensors: dict[str, np.ndarray]) -> "MusicnnNet":
        n_classes = tensors["dense_1/kernel"].shape[1]
        net = cls(
            n_classes=n_classes,
            midend_filters=tensors["conv2d_5/kernel"].shape[3],
            backend_units=tensors["dense/kernel"].shape[1],
        )
        # Variable names follow creation order in musicnn.models.build_musicnn.
        convs = list(net.timbral) + list(net.temporal) + list(net.midend)
        bns = [net.input_bn, *net.timbral_bn, *net.temporal_bn, *net.midend_bn, net.pool_bn, net.dense_bn]
        loaded: set[int] = set()
        for i, conv in enumerate(convs):
            kernel = tensors[_tf_name("conv2d", i) + "/kernel"]  # [kh, kw, in, out]
            if isinstance(conv, nn.Conv1d):  # a TF conv spanning the whole feature axis is a conv1d
                weight = kernel[:, :, 0, :].transpose(2, 1, 0)
            else:
                weight = kernel.transpose(3, 2, 0, 1)
            _put(loaded, conv.weight, weight)
            _put(loaded, conv.bias, tensors[_tf_name("conv2d", i) + "/bias"])
        for i, bn in enumerate(bns):
            prefix = _tf_name("batch_normalization", i)
            _put(loaded, bn.weight, tensors[prefix + "/gamma"])
            _put(loaded, bn.bias, tensors[prefix + "/beta"])
            _put(loaded, bn.running_mean, tensors[prefix + "/moving_mean"])
            _put(loaded, bn.running_var, tensors[prefix + "/moving_variance"])
        for i, linear in enumerate([net.dense, net.output]):
            _put(loaded, linear.weight, tensors[_tf_name("dense", i) + "/kernel"].T)
            _put(loaded, linear.bias, tensors[_tf_name("dense", i) + "/bias"])
        expected = [*net.parameters(), *(t for n, t in net.named_buffers() if "running" in n)]
        if any(id(t) not in loaded for t in expected):
            raise WeightsUnavailableError("musicnn checkpoint does not cover the musicnn architecture.")
        return net.eval()


def _tf_name(base: str, index: int) -> str:
    return base if index == 0 else f"{base}_{index}"


def _put(loaded: set[int], target: torch.Tensor, value: np.ndarray) -> None:
    if tuple(value.shape) != tuple(target.shape):
        raise WeightsUnavailableError(
            f"musicnn checkpoint tensor has shape {value.shape}, expected {tuple(target.shape)}."
        )
    with torch.no_grad():
        target.copy_(torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)))
    loaded.add(id(target))


# ---- encoder ----------------------------------------------------------------------------------


def musicnn_package_dir() -> Path:
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailableError(
            "The musicnn package is not installed: run `pip install --no-deps musicnn==0.1.0`."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def musicnn_labels(model: str) -> list[str]:
    from musicnn import configuration  # plain constants; importing it does not load TensorFlow

    return list(configuration.MTT_LABELS if model.startswith("MTT") else configuration.MSD_LABELS)


class MusicnnTagger(AudioEncoder):
    """Tag probabilities and the 200-d penultimate layer for each 3 s patch of 16 kHz mono audio."""

    sample_rate = SAMPLE_RATE
    # MTT and MSD musicnn read the same input: 16 kHz, Slaney log-mel, 96 bands, n_fft 512, hop 256, 3 s patches
    front_end = f"musicnn-logmel-{SAMPLE_RATE}-{N_FFT}-{HOP}-{N_MELS}-{PATCH_FRAMES}"

    def __init__(self, model: str = "MTT_musicnn", device: str | None = None, batch_size: int | None = None,
                 runtime: str = "auto") -> None:
        if model not in MODELS:
            raise WeightsUnavailableError(
                f"No musicnn model named {model!r}; available: {', '.join(MODELS)}."
            )
        self.model = model
        self.name, self.vocabulary = MODELS[model]
        self.labels = musicnn_labels(model)
        self.device = pick_device(device)
        # Small CPU batches: a 64-patch batch's conv output (~0.6 GB) is page-faulted in afresh on every call,
        # which cost as much system time as the arithmetic (measured: 64 -> 8 patches, 2.9 s -> 1.35 s per 64).
        self.batch_size = batch_size or (8 if self.device == "cpu" else 64)
        tensors = read_tf_checkpoint(musicnn_package_dir() / model)
        self.net = MusicnnNet.from_tf_checkpoint(tensors).to(self.device)
        self.embedding_dim = self.net.dense.out_features
        from vml_demo.encoders.musicnn_ort import weights_digest

        self.version = f"{OUTPUT_VERSION}-{weights_digest(self.net)}"
        if len(self.labels) != self.net.output.out_features:
            raise WeightsUnavailableError(f"musicnn {model}: label list and checkpoint disagree.")
        # On the CPU the same module runs through onnxruntime (faster convolutions); torch on a GPU.
        use_ort = use_onnxruntime(runtime, self.device)
        self._ort = None
        if use_ort:
            from vml_demo.encoders.musicnn_ort import OrtMusicnn

            # The indexer runs both musicnn models side by side (indexer.analyze_blocks): half the cores each.
            # One thread per session on 2 cores cost 20% less CPU per patch than two (32 vs 40 ms, batch 8).
            self._ort = OrtMusicnn(self.net, num_threads=max(1, (os.cpu_count() or 2) // 2))
        self.runtime = "onnxruntime" if use_ort else "torch"
        log.info("loaded musicnn %s on %s (%s)", model, self.device, self.runtime)

    def predict_log_mel(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log-mel patches [N, 187, 96] -> (probabilities [N, C], penultimate [N, D]), float32."""
        probs, embeddings = [], []
        with torch.no_grad():
            for start in range(0, len(patches), self.batch_size):
                batch = np.asarray(patches[start : start + self.batch_size], np.float32)
                if self._ort is not None:
                    p, e = self._ort(batch)
                    probs.append(p)
                    embeddings.append(e)
                    continue
                logits, penultimate = self.net(torch.from_numpy(batch).to(self.device))
                probs.append(torch.sigmoid(logits).cpu().numpy())
                embeddings.append(penultimate.cpu().numpy())
        if not probs:
            return np.zeros((0, len(self.labels)), np.float32), np.zeros((0, self.embedding_dim), np.float32)
        return np.concatenate(probs), np.concatenate(embeddings)

    def front(self, audio: np.ndarray) -> np.ndarray:
        """Log-mel patches [N, 187, 96] of the signal: the same for every musicnn model (FRONT_END)."""
        audio = _checked_audio(audio)
        if len(audio) < MIN_SAMPLES:
            # musicnn trained with "repeat-pad" for short clips; it still yields one full patch.
            audio = np.resize(audio, MIN_SAMPLES)
        n_patches = _frame_count(len(audio)) // PATCH_FRAMES
        return log_mel_frames(audio, 0, n_patches * PATCH_FRAMES).reshape(n_patches, PATCH_FRAMES, N_MELS)

    def analyze(self, audio: np.ndarray) -> AudioFrames:
        return self.analyze_front(self.front(audio))

    def analyze_front(self, patches: np.ndarray) -> AudioFrames:
        n_patches = len(patches)
        scores, embeddings = [], []
        for first in range(0, n_patches, self.batch_size):
            s, e = self.predict_log_mel(patches[first:first + self.batch_size])
            scores.append(s)
            embeddings.append(e)
        return AudioFrames(
            times=np.arange(n_patches, dtype=np.float64) * PATCH_S,
            patch_s=PATCH_S,
            scores=np.concatenate(scores),
            embeddings=np.concatenate(embeddings),
            labels=list(self.labels),
        )


def _checked_audio(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"musicnn expects mono audio as a 1-D array, got shape {audio.shape}")
    if audio.size == 0:
        raise EmptyMediaError("The audio has no samples.")
    if not np.isfinite(audio).all():
        raise CorruptMediaError("The audio contains invalid samples (NaN or infinity).")
    return audio


@functools.lru_cache(maxsize=None)
def _cached_tagger(model: str, device: str) -> MusicnnTagger:
    return MusicnnTagger(model, device=device)


def load_musicnn(model: str = "MTT_musicnn", device: str | None = None) -> MusicnnTagger:
    """One shared tagger per (model, device) in this process."""
    return _cached_tagger(model, pick_device(device))
