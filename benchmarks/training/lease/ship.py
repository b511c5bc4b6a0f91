"""Install adapters trained on the lease's reduced GGUF copy as the shipped ones (run here, from the repo root).

Their base_model is set to the real default backbone, and the reduced copy they were trained on is kept
under ``trained_on`` (make_init.py does the reverse on the lease machine, so a later lease continues them).

  .venv/bin/python benchmarks/training/lease/ship.py [--ei EI_FOLDER] [--msms MSMS_FOLDER] [--to DIR]

(--to DIR writes DIR/ei and DIR/msms instead: a candidate the harness checks before it is shipped)

(one task per lease call fits the transfer limit, so either may come alone)
"""

import argparse
import json
import shutil
from pathlib import Path

from llm4ms.backbone import resolve_model
from reduced_copy import kept_layers


def note(kept: int) -> str:
    return (f"a copy of the same GGUF file with layers {kept}-29 and the token embeddings no spectrum text uses set to "
            f"zero (to fit the GPU lease's 64 MB transfer); layers 0-{kept - 1} and every used token row are "
            f"byte-identical, so the first {kept} layers compute the same vectors (checked: maximum difference 0 "
            "on CPU)")


def ship(source: Path, target: Path, real) -> None:
    metadata = json.loads((source / "llm4ms_adapter.json").read_text())
    trained_on = metadata["base_model"]
    if trained_on["fingerprint"] == real.fingerprint:
        raise SystemExit(f"{source}: already names the real backbone")
    metadata["base_model"] = {"name": real.name, "fingerprint": real.fingerprint,
                              "trained_on": {**trained_on, "note": note(kept_layers(trained_on["name"]))}}
    partial = target.with_name(target.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial)
    (partial / "llm4ms_adapter.json").write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    partial.replace(target)
    print(f"{source} -> {target}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ei", type=Path, help="adapter folder to install as the EI adapter")
    parser.add_argument("--msms", type=Path, help="adapter folder to install as the MS/MS adapter")
    parser.add_argument("--to", type=Path, default=Path("tools/llm4ms/adapters"),
                        help="folder to install into [tools/llm4ms/adapters, the shipped ones]")
    args = parser.parse_args()
    if not (args.ei or args.msms):
        parser.error("give --ei, --msms or both")
    real = resolve_model("smollm2-135m")
    args.to.mkdir(parents=True, exist_ok=True)
    for name, source in (("ei", args.ei), ("msms", args.msms)):
        if source:
            ship(source, args.to / name, real)
