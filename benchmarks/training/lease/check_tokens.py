"""Guard for the reduced model: every token of the given texts must be in kept_tokens.json (other embedding rows
are zero). Usage: python3 .gpu/check_tokens.py TABLE.parquet [...]   (column "text"; run after setup.sh)."""
import json
import os
import sys
from pathlib import Path
import pyarrow.parquet as pq
from llm4ms.backbone import resolve_model
from transformers import AutoTokenizer

keep = set(json.loads((Path(__file__).parent / "kept_tokens.json").read_text()))
tok = AutoTokenizer.from_pretrained(resolve_model(os.environ["LLM4MS_LEASE_MODEL"]).path)
bad = 0
for path in sys.argv[1:]:
    texts = pq.read_table(path, columns=["text"]).column("text").to_pylist()
    seen = set()
    for variant in (texts, ["!@#$%^&*()" + t for t in texts]):
        for ids in tok(variant)["input_ids"]:
            seen.update(ids)
    missing = sorted(seen - keep)
    bad += len(missing)
    print(f"{path}: {len(texts)} texts, {len(seen)} distinct tokens, {len(missing)} outside the keep set",
          tok.convert_ids_to_tokens(missing[:20]) if missing else "")
sys.exit(1 if bad else 0)
