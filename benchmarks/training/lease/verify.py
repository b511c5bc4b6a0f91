"""Check the reduced GGUF against the full one. Run with .venv/bin/python from the repo root (bundle.sh does), with
the KEEP_LAYERS make_reduced.py had. Exits non-zero on any difference, so that bundle.sh (set -e) stops before a
broken copy costs lease time."""
import json
import lzma
import os
import shutil
import sys
import tempfile
from pathlib import Path
import numpy as np
import torch
import pyarrow.parquet as pq
from safetensors.torch import load_file

from reduced_copy import BUNDLE, KEEP_LAYERS, TX, file_name

NAME = file_name()
keep = json.loads((BUNDLE / "kept_tokens.json").read_text())
tmp = Path(tempfile.mkdtemp(prefix="verify-reduced-"))
try:
    gguf_path = tmp / NAME
    with lzma.open(BUNDLE / f"{NAME}.xz") as fin, open(gguf_path, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 22)
    from llm4ms.backbone.gguf_convert import convert_gguf
    out = tmp / "hf"
    out.mkdir()
    convert_gguf(gguf_path, out)
    from llm4ms.backbone import resolve_model
    full_dir = Path(resolve_model("smollm2-135m").path)  # converted once into llm4ms's cache, wherever that is
    full, red = load_file(full_dir / "model.safetensors"), load_file(out / "model.safetensors")
    assert full.keys() == red.keys(), (full.keys() ^ red.keys())
    bad = []
    for name in sorted(full):
        a, b = full[name], red[name]
        if name.startswith("model.layers."):
            n = int(name.split(".")[2])
            ok = torch.equal(a, b) if n < KEEP_LAYERS else not b.any()
        elif name == "model.embed_tokens.weight":
            mask = torch.zeros(a.shape[0], dtype=torch.bool)
            mask[keep] = True
            ok = torch.equal(a[mask], b[mask]) and not b[~mask].any() and a[~mask].any()
        else:
            ok = torch.equal(a, b)
        if not ok:
            bad.append(name)
    print("tensors compared:", len(full), "mismatches:", bad)
    problems = [f"{len(bad)} tensors differ"] if bad else []
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        same = (full_dir / f).read_bytes() == (out / f).read_bytes()
        print(f, "identical" if same else "DIFFERS")
        if not same:
            problems.append(f"{f} differs")

    from llm4ms.backbone.encoder import SpectrumEncoder
    texts = pq.read_table(TX / "ei_queries.parquet", columns=["text"]).column("text").to_pylist()[:20]
    texts += pq.read_table(TX / "ei_queries_paper.parquet", columns=["text"]).column("text").to_pylist()[:20]
    vec_full = SpectrumEncoder(resolve_model("smollm2-135m"), device="cpu", dtype="float32",
                              layers=KEEP_LAYERS).encode(texts, 8)
    os.environ["LLM4MS_CACHE"] = str(tmp / "cache")
    vec_red = SpectrumEncoder(resolve_model(str(gguf_path)), device="cpu", dtype="float32",
                             layers=KEEP_LAYERS).encode(texts, 8)
    del os.environ["LLM4MS_CACHE"]
    diff = np.abs(vec_full - vec_red).max(axis=1)
    print("encode: n=%d max abs diff (20 default-template) %.3g, (20 paper-template) %.3g" % (
        len(texts), diff[:20].max(), diff[20:].max()))
    # the kept rows and layers are byte-identical, so the embeddings should be too; 1e-5 only allows thread-order noise
    if diff.max() > 1e-5:
        problems.append(f"embeddings differ by up to {diff.max():.3g}")
finally:
    shutil.rmtree(tmp)
if problems:
    sys.exit(f"verify.py: {NAME} does not match the full model: {'; '.join(problems)}")
print(f"verify.py: {NAME} matches the full model")
