"""Where the lease scripts run here find and name the reduced backbone copy: make_reduced.py writes it,
verify.py checks it and ship.py names it in the adapters it installs. smollm2-N.gguf keeps the first N layers of
the default GGUF, N from $KEEP_LAYERS (12 unless set; setup.sh, on the GPU machine, unpacks whichever one the
bundle holds)."""
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]  # the repository root (this file is benchmarks/training/lease/)
BUNDLE = Path(os.environ.get("LLM4MS_BUNDLE", ROOT / ".gpu"))  # bundle.sh may name another folder
TX = Path(os.environ.get("TX", "/tmp/tx"))  # bundle.sh's textualized MassBank files
KEEP_LAYERS = int(os.environ.get("KEEP_LAYERS", 12))


def file_name(layers: int = KEEP_LAYERS) -> str:
    return f"smollm2-{layers}.gguf"


def kept_layers(name: str) -> int:
    """N of a reduced copy's file name."""
    found = re.fullmatch(r"smollm2-(\d+)\.gguf", name)
    if not found:
        raise SystemExit(f"{name}: not a reduced copy made by make_reduced.py (smollm2-N.gguf)")
    return int(found.group(1))
