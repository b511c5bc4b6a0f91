"""Pipeline benchmark: Recall@k of llm4ms on the MassBank dev files, embedding speed per template and
search speed, all through the same library functions the commands use.

    python benchmarks/bench_pipeline.py recall --task ei [--model smollm2-135m] [--adapter DIR]
    python benchmarks/bench_pipeline.py speed [--n 200]

Results go to benchmarks/results/*.json; copy the table lines into benchmarks/RESULTS.md.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from llm4ms.index import LibraryIndex, SearchSettings, build_index, search_index
from llm4ms.index.store import vectors_of
from llm4ms.steps.embed import embed_table, load_encoder
from llm4ms.steps.score import score_files
from llm4ms.steps.search import search_files
from llm4ms.steps.textualize import textualize_files
from llm4ms.textualize import TextSettings

DATA = Path(os.environ.get("LLM4MS_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "massbank"))
TASKS = {"ei": ("ei_queries.msp", "ei_library.msp", None),
         "ms2": ("ms2pos_queries.mgf", "ms2pos_library.mgf", None),
         "ms2-window": ("ms2pos_queries.mgf", "ms2pos_library.mgf", 0.01)}
RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    import torch

    return f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__} {torch.get_num_threads()} threads"


def timed(func, *args, **kwargs):
    """(result, seconds) of one call."""
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return result, time.perf_counter() - start


def timed_embed(spectra, out, encoder, batch_size):
    (count, _), seconds = timed(embed_table, str(spectra), str(out), encoder, batch_size)
    return count, seconds


def recall(args):
    queries, library, window = TASKS[args.task]
    work = Path(args.work or tempfile.mkdtemp(prefix=f"llm4ms-bench-{args.task}-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = TextSettings(args.template)
    files = {}
    for role, source in (("queries", queries), ("library", library)):
        files[role] = work / f"{role}.parquet"
        if not files[role].exists():
            textualize_files([str(DATA / source)], str(files[role]), settings)
    encoder = load_encoder(args.model, args.adapter, args.device, "auto", args.layers, 512)
    speed = {}
    for role in ("queries", "library"):
        out = work / f"{role}.emb.parquet"
        if not out.exists():
            count, seconds = timed_embed(files[role], out, encoder, args.batch_size)
            speed[role] = {"spectra": count, "seconds": round(seconds, 1), "spectra_per_s": round(count / seconds, 2)}
    index = work / "library.index"
    build_index(str(work / "library.emb.parquet"), str(index))
    hits = work / "hits.parquet"
    _, search_seconds = timed(search_files, str(work / "queries.emb.parquet"), str(index), str(hits),
                              SearchSettings(10, "compound", window, "da"), warn=lambda m: None)
    result = score_files(str(hits), str(files["queries"]), (1, 5, 10))
    report = {"task": args.task, "model": args.model, "adapter": args.adapter, "layers": args.layers,
              "template": args.template, "window": window, "n_queries": result["n_queries"],
              "recall@1": result["recall@1"], "recall@5": result["recall@5"], "recall@10": result["recall@10"],
              "mean_top1_tanimoto": result["mean_top1_tanimoto"], "embedding": speed,
              "search_seconds_incl_io": round(search_seconds, 2), "machine": machine(),
              "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv)}
    name = f"recall_{args.task}_{args.model}_{args.template}" + (f"_L{args.layers}" if args.layers else "")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


def speed(args):
    """Embedding speed per template on the first N spectra of each task, and raw search speed."""
    encoder = load_encoder(args.model, None, args.device, "auto", args.layers, 512)
    work = Path(tempfile.mkdtemp(prefix="llm4ms-speed-"))
    report = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv),
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    for mode in ("recall", "speed"):
        p = sub.add_parser(mode)
        p.add_argument("--model", default="smollm2-135m")
        p.add_argument("--layers", type=int)
        p.add_argument("--device", default="auto")
        p.add_argument("--batch-size", type=int, default=16)
    rec = sub.choices["recall"]
    rec.add_argument("--task", choices=TASKS, default="ei")
    rec.add_argument("--template", default="auto")
    rec.add_argument("--adapter")
    rec.add_argument("--work", help="Folder to keep (and reuse) intermediate files.")
    sub.choices["speed"].add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    {"recall": recall, "speed": speed}[args.mode](args)


if __name__ == "__main__":
    main()
