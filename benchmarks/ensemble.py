"""Recall of two or more embeddings of the same spectra together: the sum of their cosines, which ranks as
one cosine on the concatenated unit vectors does (so an `embed` writing them side by side would search
with the index as it is). Each member is a pair of the harness's embeddings tables (queries, library),
made by any adapter from any text of the same spectra files, rows in the files' order.

    python -m benchmarks.ensemble NAME=QUERIES.emb.parquet,LIBRARY.emb.parquet ... [--task ei] [--out F.json]
        [--per-query DIR]

Scored by `llm4ms score`'s rule, as `weighted_text` scores; each member alone and every combination.
With --per-query DIR, each combination's ranks go to DIR/NAME.tsv for `benchmarks.oracle`.
"""

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from llm4ms.index.store import vectors_of
from llm4ms.scoring import inchikey_block, recall_at_k

from .report import write_json
from .text_information import KS, ranks, task_tables


def vectors(path: Path) -> np.ndarray:
    """The unit embedding vectors of an llm4ms embeddings table."""
    found = vectors_of(pq.read_table(path, columns=["embedding"]).column("embedding"))
    return found / np.linalg.norm(found, axis=1, keepdims=True)


def _member(argument: str) -> tuple[str, list[str]]:
    name, _, files = argument.rpartition("=")
    paths = files.split(",")
    if len(paths) != 2:
        raise SystemExit(f"benchmarks.ensemble: {argument}: expected NAME=QUERIES.emb.parquet,LIBRARY.emb.parquet")
    return name or paths[0], paths


def ensemble(members: dict, truth: list, library) -> tuple[dict, dict]:
    """``members``: name → (query vectors, library vectors), unit rows. (Recall, per-query ranks) of every
    combination."""
    result, found = {}, {}
    for size in range(1, len(members) + 1):
        for names in itertools.combinations(members, size):
            name = " + ".join(names)
            found[name] = ranks(sum(members[n][0] @ members[n][1].T for n in names), truth, library)
            result[name] = {k: round(v, 4) for k, v in recall_at_k(found[name].values(), KS).items()}
    return result, found


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ensemble")
    parser.add_argument("members", nargs="+", type=_member)
    parser.add_argument("--task", choices=("ei", "ms2"), default="ei")
    parser.add_argument("--out", help="JSON file (default: stdout)")
    parser.add_argument("--per-query", help="Folder for each combination's per-query ranks, as the harness writes "
                                            "them (for `benchmarks.oracle`'s paired counts)")
    args = parser.parse_args(argv)
    _, _, queries, library = task_tables(argparse.Namespace(task=args.task, work=None))
    members = {}
    for name, (query_file, library_file) in args.members:
        ids = [pq.read_table(f, columns=["id"]).column("id").to_pylist() for f in (query_file, library_file)]
        if ids != [queries.column("id").to_pylist(), library.column("id").to_pylist()]:
            raise SystemExit(f"benchmarks.ensemble: {name}: its rows are not the {args.task} task's spectra in order")
        members[name] = (vectors(query_file), vectors(library_file))
    truth = [inchikey_block(k) for k in queries.column("inchikey").to_pylist()]
    result, found = ensemble(members, truth, library)
    if args.per_query:
        folder = Path(args.per_query)
        folder.mkdir(parents=True, exist_ok=True)
        ids = queries.column("id").to_pylist()
        for name, by_row in found.items():
            pd.DataFrame({"query_id": ids, "rank": pd.array([by_row[q] for q in range(len(ids))], "Int64")}).to_csv(
                folder / f"{name.replace(' + ', '+')}.tsv", sep="\t", index=False)
    write_json({"task": args.task, "members": {name: files for name, files in args.members}, "recall": result},
               args.out)


if __name__ == "__main__":
    main()
