"""Adapter folders: PEFT's own files plus llm4ms_adapter.json (what it was trained on and how).

A stage that starts from an earlier adapter trains fresh LoRA weights on the merged network. Its folder
holds both: the earlier A and B matrices concatenated with the new ones along the rank (each B scaled by
its own alpha/r, the result saved with alpha = r), which is exactly the sum of the two updates, so every
folder loads alone with plain PEFT and ``llm4ms embed --adapter``.
"""

import json
from pathlib import Path

import torch

from ..backbone.adapters import METADATA

WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
SAVE_DTYPE = torch.float16  # halves the folder; LoRA factors lose nothing that shows in the embeddings


def _scaling(config: dict) -> float:
    return config["lora_alpha"] / config["r"]


def save_adapter(network, folder: Path, init_adapter: str | None, metadata: dict) -> None:
    from safetensors.torch import load_file, save_file

    network.save_pretrained(str(folder))
    config = json.loads((folder / CONFIG).read_text())
    weights = load_file(str(folder / WEIGHTS))
    if init_adapter:
        earlier_config = json.loads((Path(init_adapter) / CONFIG).read_text())
        earlier = load_file(str(Path(init_adapter) / WEIGHTS))
        if set(earlier) != set(weights):
            raise ValueError(f"{init_adapter}: adapter covers other modules or layers than this stage")
        weights = {key: _concatenate(key, earlier[key], weights[key], _scaling(earlier_config), _scaling(config))
                   for key in weights}
        config["r"] = config["r"] + earlier_config["r"]
        config["lora_alpha"] = config["r"]
        (folder / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True))
    else:
        weights = {key: value * _scaling(config) if ".lora_B." in key else value for key, value in weights.items()}
        config["lora_alpha"] = config["r"]
        (folder / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True))
    save_file({k: v.to(SAVE_DTYPE).contiguous() for k, v in weights.items()}, str(folder / WEIGHTS))
    (folder / METADATA).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    (folder / "README.md").unlink(missing_ok=True)  # PEFT's empty model-card template; see llm4ms_adapter.json
    for path in folder.iterdir():
        path.chmod(0o644)


def _concatenate(key, earlier, later, earlier_scale, later_scale):
    if ".lora_A." in key:
        return torch.cat([earlier.float(), later.float()], dim=0)
    return torch.cat([earlier.float() * earlier_scale, later.float() * later_scale], dim=1)
