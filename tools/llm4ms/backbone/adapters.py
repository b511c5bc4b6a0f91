"""``--adapter``: a PEFT LoRA folder, ``auto`` (the adapter shipped for the table's template) or ``none``;
and the checks that an adapter meets the backbone, layers and texts it was trained for."""

import json
from importlib import resources
from pathlib import Path

from ..errors import IncompatibleError, ModelError
from .cache import file_digest
from .resolve import DEFAULT_MODEL, ResolvedModel

AUTO = "auto"
NONE = "none"
METADATA = "llm4ms_adapter.json"

# Template → adapter shipped in llm4ms/adapters/ (trained on the default backbone; docs/model_card.md).
SHIPPED = {"ei": "ei", "msms": "msms"}


def read_metadata(folder: Path) -> dict | None:
    path = Path(folder) / METADATA
    return json.loads(path.read_text()) if path.exists() else None


def shipped_adapter(template: str) -> Path | None:
    name = SHIPPED.get(template)
    if name is None:
        return None
    folder = Path(str(resources.files("llm4ms") / "adapters" / name))
    return folder if (folder / "adapter_config.json").exists() else None


def choose_adapter(spec: str, model: str, templates: set[str]) -> str | None:
    """The adapter folder to load, or None for the bare backbone."""
    if spec == NONE:
        return None
    if spec != AUTO:
        return spec
    if model != DEFAULT_MODEL:
        return None  # shipped adapters belong to the default backbone
    folders = {shipped_adapter(t) for t in templates}
    if len(folders) > 1:
        raise IncompatibleError(f"the table mixes templates ({', '.join(sorted(templates))}) whose shipped "
                                "adapters differ; one index needs one embedding space",
                                hint="textualize EI and MS/MS spectra into separate tables, or pass --adapter none")
    folder = folders.pop() if folders else None
    return str(folder) if folder else None


def resolve_adapter(spec: str | None) -> dict | None:
    """Provenance record of a PEFT LoRA folder, or None for the bare backbone."""
    if spec is None:
        return None
    folder = Path(spec)
    config = folder / "adapter_config.json"
    if not config.exists():
        raise ModelError(f"{spec}: not a PEFT adapter folder (no adapter_config.json)")
    weights = sorted(folder.glob("adapter_model.*"))
    if not weights:
        raise ModelError(f"{spec}: adapter folder has no adapter_model.safetensors or .bin")
    settings = json.loads(config.read_text())
    return {"name": folder.name, "fingerprint": file_digest([config, *weights]),
            "peft_type": settings.get("peft_type"), "r": settings.get("r")}


def check_adapter_base(metadata: dict, model: ResolvedModel, where: str) -> None:
    base = metadata.get("base_model", {})
    if base.get("fingerprint") != model.fingerprint:
        raise ModelError(f"{where}: adapter was trained on {base.get('name')} [{base.get('fingerprint', '')[:12]}], "
                         f"not on {model.name} [{model.fingerprint[:12]}]",
                         hint="pass the --model it was trained on, or --adapter none")


def adapter_layers(metadata: dict | None, layers: int | None, where: str) -> int | None:
    """--layers for an adapter: the depth it was trained at, which an explicit different value contradicts."""
    if metadata is None:
        return layers
    if layers is not None and layers != metadata["layers"]:
        raise ModelError(f"--layers {layers}: adapter {where} was trained on the first {metadata['layers']} layers",
                         hint=f"leave --layers out or pass --layers {metadata['layers']}")
    return metadata["layers"]


def check_adapter_texts(metadata: dict | None, textualization: dict, templates: set[str], where: str) -> None:
    if metadata is None:
        return
    trained = metadata["textualization"]
    if trained.get("templates_version") != textualization.get("templates_version"):
        raise IncompatibleError(
            f"adapter {where} was trained on texts of llm4ms templates version {trained.get('templates_version')}; "
            f"this table's texts are version {textualization.get('templates_version')}",
            hint="textualize the spectra again with this llm4ms, or pass --adapter none")
    for template in sorted(templates):
        if template not in metadata["templates"] or \
                trained["templates"].get(template) != textualization["templates"].get(template):
            raise IncompatibleError(
                f"adapter {where} was trained on {', '.join(metadata['templates'])} texts made with "
                f"{json.dumps({t: trained['templates'][t] for t in metadata['templates']}, sort_keys=True)}; "
                f"this table has {template} texts made with "
                f"{json.dumps(textualization['templates'].get(template), sort_keys=True)}",
                hint="textualize with the adapter's settings, or pass --adapter none")
