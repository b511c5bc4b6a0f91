"""Recall of two or more embeddings of the same spectra together: the sum of their cosines, which ranks as
one cosine on the concatenated unit vectors does (so an `embed` writing them side by side would search
with the index as it is). Each member is a pair of the harness's embeddings tables (queries, library),
made by any adapter from any text of the same spectra files, rows in the files' order.

    python -m benchmarks.ensemble NAME=QUERIES.emb.parquet,LIBRARY.emb.parquet ... [--task ei] [--out F.json]

Scored by `llm4ms score`'s rule, as `weighted_text` scores; each member alone and every combination.
"""

import argparse
import itertools

import pyarrow.parquet as pq

from llm4ms.scoring import inchikey_block

from .report import write_json
from .text_information import recall, task_tables
from .weighted_text import vectors


def _member(argument: str) -> tuple[str, list[str]]:
    name, _, files = argument.rpartition("=")
    paths = files.split(",")
    if len(paths) != 2:
        raise SystemExit(f"benchmarks.ensemble: {argument}: expected NAME=QUERIES.emb.parquet,LIBRARY.emb.parquet")
    return name or paths[0], paths


def ensemble(members: dict, truth: list, library) -> dict:
    """``members``: name → (query vectors, library vectors), unit rows. Recall of every combination."""
    result = {}
    for size in range(1, len(members) + 1):
        for names in itertools.combinations(members, size):
            scores = sum(members[n][0] @ members[n][1].T for n in names)
            result[" + ".join(names)] = recall(scores, truth, library)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ensemble")
    parser.add_argument("members", nargs="+", type=_member)
    parser.add_argument("--task", choices=("ei", "ms2"), default="ei")
    parser.add_argument("--out", help="JSON file (default: stdout)")
    args = parser.parse_args(argv)
    _, _, queries, library = task_tables(argparse.Namespace(task=args.task, work=None))
    members = {}
    for name, (query_file, library_file) in args.members:
        ids = [pq.read_table(f, columns=["id"]).column("id").to_pylist() for f in (query_file, library_file)]
        if ids != [queries.column("id").to_pylist(), library.column("id").to_pylist()]:
            raise SystemExit(f"benchmarks.ensemble: {name}: its rows are not the {args.task} task's spectra in order")
        members[name] = (vectors(query_file), vectors(library_file))
    truth = [inchikey_block(k) for k in queries.column("inchikey").to_pylist()]
    write_json({"task": args.task, "members": {name: files for name, files in args.members},
                "recall": ensemble(members, truth, library)}, args.out)


if __name__ == "__main__":
    main()
