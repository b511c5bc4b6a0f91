"""Library-side copies: is a library spectrum's embedding a better stand-in for its compound as the centroid of
itself and K perturbed copies than alone? The shipped adapters were trained to put a spectrum and such a copy
close, and the `instrument` copies are as hard to match as another lab's spectrum
(`benchmarks.augment_realism`), so their centroid estimates where another lab's spectrum of the compound lands.
No training, queries untouched; the copies are drawn from the library alone.

    python -m benchmarks.library_copies [--task ei] [--copies 4] [--profile instrument] [--threads 2]
        [--out F.json] [--per-query DIR]

Each variant of the library embeddings goes through the harness's own path (build_index, search_files,
score_files), the embedding alone and the hybrid (its 50 best re-ranked by the task's weighted cosine):
the harness's library embeddings (the control), the centroid of the spectrum and its first k copies for every
k, and every copy indexed as a library row of its own (best of K + 1 per compound).
"""

import argparse
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from llm4ms import tables
from llm4ms.index import SearchSettings, build_index
from llm4ms.steps.embed import embed_table
from llm4ms.steps.score import score_files
from llm4ms.steps.search import search_files
from llm4ms.training.augment import PROFILES, perturbed_text

from .data import TASKS, spectra_table
from .ensemble import vectors
from .methods.llm4ms import Embeddings, Llm4msOptions
from .oracle import oracle, read_per_query
from .report import write_json
from .text_information import KS


def copy_table(library: pa.Table, textualization: dict, profile: str, seed: int, copy: int) -> pa.Table:
    """``library`` with every text replaced by that of a perturbed copy, drawn as training draws them; row r
    of copy k always from default_rng([seed, k, r]), so any k is reproducible alone."""
    params = textualization["templates"]
    columns = [library.column(c).to_pylist() for c in ("mz", "intensities", "precursor_mz", "template", "text")]
    texts = []
    for row, (mz, intensities, precursor, template, text) in enumerate(zip(*columns)):
        rng = np.random.default_rng([seed, copy, row])
        texts.append(perturbed_text(rng, mz, intensities, precursor, template, params[template], PROFILES[profile])
                     or text)
    return library.set_column(library.schema.get_field_index("text"), "text", pa.array(texts, pa.string()))


def with_vectors(embedded: pa.Table, found: np.ndarray) -> pa.Table:
    column = pa.FixedSizeListArray.from_arrays(pa.array(found.astype(np.float32).ravel()), found.shape[1]).cast(
        embedded.schema.field("embedding").type)
    return embedded.set_column(embedded.schema.get_field_index("embedding"), embedded.schema.field("embedding"), column)


def write_like(template: Path, table: pa.Table, out: Path) -> None:
    """``table`` under ``template``'s provenance (an embeddings table of the same library and encoder)."""
    provenance = tables.read_provenance(template, template.name, (tables.EMBEDDINGS,))
    tables.write_table(out, table, provenance)


def recall(task, queries: Path, library: Path, truth: Path, folder: Path, name: str, per_query: Path | None) -> dict:
    index = folder / f"{name}.index"
    build_index(str(library), str(index))
    result = {}
    for method, rerank in (("llm4ms", None), ("hybrid", "weighted-cosine")):
        settings = SearchSettings(10, "compound", None, "da", rerank, 50, task.tolerance, 1.0)  # as when recorded
        hits = folder / f"{name}.{method}.hits.parquet"
        search_files(str(queries), str(index), str(hits), settings, warn=lambda message: None)
        ranks = folder / f"{name}.{method}.tsv"
        score = score_files(str(hits), str(truth), KS, per_query=str(ranks))
        result[method] = {f"recall@{k}": round(score[f"recall@{k}"], 4) for k in KS}
        if per_query is not None:
            shutil.copyfile(ranks, per_query / f"{name}.{method}.tsv")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.library_copies")
    parser.add_argument("--task", choices=("ei", "ms2"), default="ei")
    parser.add_argument("--adapter", default="auto", help="as `llm4ms embed --adapter` (default: the shipped one)")
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="instrument")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", help="JSON file (default: stdout)")
    parser.add_argument("--per-query", type=Path, help="folder for each variant's per-query ranks")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    task = TASKS[args.task]
    work = Path(__file__).parent / "work" / task.name
    harness = Embeddings(task, Llm4msOptions(adapter=args.adapter), work)
    query_file, library_file = harness.get("queries")[0], harness.get("library")[0]
    truth, spectra_file = (spectra_table(path, work)[0] for path in (task.queries, task.library))
    folder = work / "library-copies"
    folder.mkdir(parents=True, exist_ok=True)
    if args.per_query:
        args.per_query.mkdir(parents=True, exist_ok=True)
    textualization = tables.read_provenance(library_file, library_file.name, (tables.EMBEDDINGS,))["textualization"]
    encoder = harness.encoder_for(truth)
    spectra = None
    copies = []
    for k in range(1, args.copies + 1):
        # named by everything that makes the copy, so a re-run with more copies embeds only the new ones
        out = folder / f"copy-{args.profile}-{args.seed}-{k}.{library_file.stem}.parquet"
        if not out.exists():
            source = folder / "copy.spectra.parquet"
            if spectra is None:  # read once, and only when a copy is missing
                spectra = pq.read_table(spectra_file)
            pq.write_table(copy_table(spectra, textualization, args.profile, args.seed, k), source)
            embed_table(str(source), str(out), encoder)
            source.unlink()
        copies.append(vectors(out))
    embedded = pq.read_table(library_file)
    variants = {"template": library_file}
    total = vectors(library_file)
    for k, found in enumerate(copies, 1):
        total = total + found
        variants[f"centroid-{k}"] = folder / f"centroid-{k}.emb.parquet"
        write_like(library_file, with_vectors(embedded, total / np.linalg.norm(total, axis=1, keepdims=True)),
                   variants[f"centroid-{k}"])
    at_id = embedded.schema.get_field_index("id")
    rows = [embedded] + [with_vectors(embedded.set_column(at_id, embedded.schema.field("id"), pa.array(
        [f"{i}#copy{k}" for i in embedded.column("id").to_pylist()])), found) for k, found in enumerate(copies, 1)]
    variants["all-copies"] = folder / "all-copies.emb.parquet"
    write_like(library_file, pa.concat_tables(rows), variants["all-copies"])
    result = {"task": task.name, "adapter": args.adapter, "model": encoder.record, "copies": args.copies,
              "profile": PROFILES[args.profile].record(), "profile_name": args.profile, "seed": args.seed,
              "library_spectra": embedded.num_rows, "recall": {}, "paired_at_1": {}}
    for name, path in variants.items():
        result["recall"][name] = recall(task, query_file, path, truth, folder, name, args.per_query)
    for method in ("llm4ms", "hybrid"):
        # the control last, so each pair with it reads "VARIANT vs template" (the variant's wins first)
        ranked = {name: read_per_query(folder / f"{name}.{method}.tsv")
                  for name in [*variants][1:] + ["template"]}
        for pair, counts in oracle(ranked)["paired"].items():
            if pair.endswith(" vs template"):
                result["paired_at_1"][f"{pair}, {method}"] = counts
    write_json(result, args.out)


if __name__ == "__main__":
    main()
