"""Embedding speed per template and exact search speed, through the functions the commands use."""

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from llm4ms.index import LibraryIndex, SearchSettings, search_index
from llm4ms.index.store import vectors_of
from llm4ms.steps.embed import embed_table, load_encoder
from llm4ms.steps.textualize import textualize_files
from llm4ms.textualize import TextSettings

from .data import DATA
from .machine import machine, timed

RESULTS = Path(__file__).resolve().parent / "results"


def timed_embed(spectra, out, encoder, batch_size):
    (count, _), seconds = timed(embed_table, str(spectra), str(out), encoder, batch_size)
    return count, seconds


def speed(args, command: str):
    """Embedding speed per template on the first N spectra of each task, and raw search speed."""
    encoder = load_encoder(args.model, None, args.device, "auto", args.layers, 512)
    work = Path(tempfile.mkdtemp(prefix="llm4ms-speed-"))
    report = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "command": command,
              "model": args.model, "layers": args.layers, "batch_size": args.batch_size, "embedding": {}}
    for template, source in (("paper-ei", "ei_library.msp"), ("msms", "ms2pos_library.mgf")):
        full = work / f"{template}.all.parquet"
        textualize_files([str(DATA / source)], str(full), TextSettings(template))
        subset = work / f"{template}.parquet"
        table = pq.read_table(full)
        pq.write_table(table.slice(0, args.n).replace_schema_metadata(table.schema.metadata), subset)
        tokens = encoder.token_lengths(table.slice(0, args.n).column("text").to_pylist())
        count, seconds = timed_embed(subset, work / f"{template}.emb.parquet", encoder, args.batch_size)
        report["embedding"][template] = {"spectra": count, "seconds": round(seconds, 1),
                                         "spectra_per_s": round(count / seconds, 2),
                                         "mean_tokens": round(float(np.mean(tokens)), 1)}
    # Search speed against a library of real embeddings tiled with seeded noise to 100,000 vectors.
    library = pq.read_table(work / "paper-ei.emb.parquet")
    vectors = vectors_of(library.column("embedding"))
    rng = np.random.default_rng(0)
    for size in (10_000, 100_000):
        tiled = np.repeat(vectors, -(-size // len(vectors)), axis=0)[:size]
        tiled = tiled + rng.normal(0, 0.01, tiled.shape).astype(np.float32)
        tiled /= np.linalg.norm(tiled, axis=1, keepdims=True)
        import faiss
        import pyarrow as pa

        flat = faiss.IndexFlatIP(tiled.shape[1])
        flat.add(tiled)
        ids = pa.array([f"s{i}" for i in range(size)])
        meta = pa.table({"id": ids, "inchikey": pa.array([f"K{i // 3}" for i in range(size)]),
                         "precursor_mz": pa.nulls(size, pa.float64())})
        index = LibraryIndex(flat, meta, {}, f"synthetic-{size}")
        queries = tiled[rng.choice(size, 2000, replace=False)]
        # "compound" (the search command's default) widens the faiss query until k distinct compounds
        # are found, so it is timed beside the raw per-spectrum search.
        # Warm up faiss's threads, then best of three: 2,000 queries take a fraction of a second.
        search_index(index, queries[:100], [None] * 100, SearchSettings(10))
        for group in ("spectrum", "compound"):
            seconds = min(timed(search_index, index, queries, [None] * len(queries), SearchSettings(10, group))[1]
                          for _ in range(3))
            report.setdefault("search", {}).setdefault(str(size), {})[group] = {
                "queries": len(queries), "queries_per_s": round(len(queries) / seconds, 1)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "speed.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
