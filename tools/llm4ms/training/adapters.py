"""Adapter folders: PEFT's own files plus llm4ms_adapter.json (what it was trained on and how).

A stage that starts from an earlier adapter trains fresh LoRA weights on the merged network. Its folder
holds both: the earlier A and B matrices concatenated with the new ones along the rank (each B scaled by
its own alpha/r, the result saved with alpha = r), which is exactly the sum of the two updates, so every
folder loads alone with plain PEFT and ``llm4ms embed --adapter``. Each stage adds its rank to the folder;
``max_rank`` cuts the summed update of every module to its strongest directions (a truncated SVD, the best
approximation of that rank) and records how much of it was cut. The same stacking writes any linear
combination of saved adapters (``combine_adapters``: a stage scaled, or stages averaged in weight space).
"""

import json
import shutil
from pathlib import Path

import torch

from ..backbone.adapters import METADATA
from ..streams import atomic_folder

WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
LOG = "train_log.tsv"
ADAPTER_FILES = {WEIGHTS, CONFIG, METADATA, LOG}
SAVE_DTYPE = torch.float16  # halves the folder; LoRA factors lose nothing that shows in the embeddings


def _scaling(config: dict) -> float:
    return config["lora_alpha"] / config["r"]


def save_adapter(network, folder: Path, init_adapter: str | None, metadata: dict,
                 max_rank: int | None = None) -> None:
    """Write the folder; with max_rank below the saved rank, metadata's last stage gets a "fold" record."""
    from safetensors.torch import load_file

    network.save_pretrained(str(folder))
    config = json.loads((folder / CONFIG).read_text())
    weights = load_file(str(folder / WEIGHTS))
    if init_adapter:
        earlier_config = json.loads((Path(init_adapter) / CONFIG).read_text())
        earlier = load_file(str(Path(init_adapter) / WEIGHTS))
        if set(earlier) != set(weights):
            raise ValueError(f"{init_adapter}: adapter covers other modules or layers than this stage")
        weights = {key: _stack(key, [(earlier[key], _scaling(earlier_config)), (weights[key], _scaling(config))])
                   for key in weights}
        config["r"] = config["r"] + earlier_config["r"]
    else:
        weights = {key: value * _scaling(config) if ".lora_B." in key else value for key, value in weights.items()}
    config["lora_alpha"] = config["r"]
    weights = _cap_rank(weights, config, metadata, max_rank)
    _write(folder, weights, config, metadata)


def fold_adapter(source: Path, target: Path, rank: int) -> dict:
    """A copy of an adapter folder saved by save_adapter, with its rank capped as ``max_rank`` would have;
    returns the fold record (empty when the rank is already within the cap)."""
    from safetensors.torch import load_file

    config = json.loads((source / CONFIG).read_text())
    metadata = json.loads((source / METADATA).read_text())
    weights = _cap_rank(load_file(str(source / WEIGHTS)), config, metadata, rank)
    target.mkdir(parents=True, exist_ok=True)
    for extra in source.iterdir():
        if extra.name not in (CONFIG, WEIGHTS, METADATA):
            shutil.copyfile(extra, target / extra.name)
    _write(target, weights, config, metadata)
    return metadata["stages"][-1].get("fold", {})


def combine_adapters(terms: list[tuple[float, Path]], target: Path) -> dict:
    """An adapter folder whose update is sum c * (each folder's update), exactly: the A factors stacked
    along the rank, each B times its c (folders saved here carry alpha = r, so B holds the scaling).
    The folders must share the backbone, layers and texts; the metadata is the first folder's, with a
    "combined_from" record of every term. Returns that record."""
    from safetensors.torch import load_file

    from ..backbone.adapters import resolve_adapter

    if target.exists():
        raise ValueError(f"{target}: already exists; an adapter folder is not overwritten")
    configs = [json.loads((Path(f) / CONFIG).read_text()) for _, f in terms]
    metadatas = [json.loads((Path(f) / METADATA).read_text()) for _, f in terms]
    weights = [load_file(str(Path(f) / WEIGHTS)) for _, f in terms]
    for (_, folder), metadata, tensors in zip(terms, metadatas, weights):
        for field, read in (("backbone weights", lambda m: m["base_model"]["fingerprint"]),
                            ("layers", lambda m: m["layers"]), ("texts", _trained_texts)):
            if read(metadata) != read(metadatas[0]):
                raise ValueError(f"{folder}: trained on other {field} than {terms[0][1]}; only adapters of one "
                                 "backbone, depth and text can be combined")
        if set(tensors) != set(weights[0]):
            raise ValueError(f"{folder}: adapter covers other modules or layers than {terms[0][1]}")
    combined = {key: _stack(key, [(tensors[key], c * _scaling(config))
                                  for (c, _), config, tensors in zip(terms, configs, weights)])
                for key in weights[0]}
    config = dict(configs[0])
    config["r"] = config["lora_alpha"] = sum(c["r"] for c in configs)
    record = [{"coefficient": c, **resolve_adapter(str(folder)), "stages": len(metadata["stages"])}
              for (c, folder), metadata in zip(terms, metadatas)]
    metadata = dict(metadatas[0], combined_from=record)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(target) as partial:  # a folder the harness could half-read is never at target
        _write(partial, combined, config, metadata)
    return record


def _trained_texts(metadata: dict) -> tuple:
    # Only the templates an adapter was trained on count: later llm4ms versions add settings to others.
    textualization = metadata["textualization"]
    return (textualization.get("templates_version"),
            {t: textualization["templates"].get(t) for t in metadata["templates"]})


def _cap_rank(weights: dict, config: dict, metadata: dict, max_rank: int | None) -> dict:
    if max_rank is None or config["r"] <= max_rank:
        return weights
    weights, errors = fold(weights, max_rank)
    metadata["stages"][-1]["fold"] = {"from_rank": config["r"], "rank": max_rank,
                                      "relative_error_max": round(max(errors), 5),
                                      "relative_error_mean": round(sum(errors) / len(errors), 5)}
    config["r"] = config["lora_alpha"] = max_rank  # alpha = r: the factors carry their scaling
    return weights


def _write(folder: Path, weights: dict, config: dict, metadata: dict) -> None:
    from safetensors.torch import save_file

    (folder / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True))
    save_file({k: v.to(SAVE_DTYPE).contiguous() for k, v in weights.items()}, str(folder / WEIGHTS))
    (folder / METADATA).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    (folder / "README.md").unlink(missing_ok=True)  # PEFT's empty model-card template; see llm4ms_adapter.json
    for path in folder.iterdir():
        path.chmod(0o644)


def _stack(key: str, parts: list) -> torch.Tensor:
    """One module's factors of several updates (tensor, scale) along the rank: their updates' sum."""
    if ".lora_A." in key:
        return torch.cat([tensor.float() for tensor, _ in parts], dim=0)
    return torch.cat([tensor.float() * scale for tensor, scale in parts], dim=1)


def fold(weights: dict, rank: int) -> tuple[dict, list]:
    """Each module's update B·A (scaling 1) as its best rank-``rank`` factors, and the relative Frobenius
    error of each. QR of both factors first, so the SVD is of an r×r matrix, not of the full weight shape."""
    folded, errors = {}, []
    for key_a in sorted(k for k in weights if ".lora_A." in k):
        key_b = key_a.replace(".lora_A.", ".lora_B.")
        q_b, r_b = torch.linalg.qr(weights[key_b].float())
        q_a, r_a = torch.linalg.qr(weights[key_a].float().T)
        u, s, vh = torch.linalg.svd(r_b @ r_a.T)
        root = s[:rank].sqrt()
        folded[key_b] = q_b @ (u[:, :rank] * root)
        folded[key_a] = (root[:, None] * vh[:rank]) @ q_a.T
        total = s.square().sum()
        errors.append(float((s[rank:].square().sum() / total).sqrt()) if total > 0 else 0.0)
    return folded, errors
