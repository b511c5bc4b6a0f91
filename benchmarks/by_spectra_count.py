"""Recall@1 split by how many library spectra the query's compound has, from the harness's per-query
tables (`llm4ms score` output in --work/runs/<label>/per_query/). Tells whether a method's misses sit
with the compounds that have few spectra in the library, which are also the ones training sees few
real positive pairs of.

    python -m benchmarks.by_spectra_count LIBRARY.parquet PER_QUERY.tsv [...] [--out F.json]
"""

import argparse
import collections
import csv
from pathlib import Path

import pyarrow.parquet as pq

from llm4ms.index.search import compound_keys
from llm4ms.spectra.fields import inchikey_block

from .report import per_query_lines, write_json

GROUPS = ((1, 1, "1"), (2, 3, "2-3"), (4, None, "4+"))


def _group(count: int) -> str:
    return next(name for low, high, name in GROUPS if count >= low and (high is None or count <= high))


def split(library, per_query: Path) -> dict:
    counts = collections.Counter(compound_keys(library))
    found = collections.defaultdict(lambda: [0, 0])
    for row in csv.DictReader(per_query_lines(per_query), delimiter="\t"):
        count = counts.get(inchikey_block(row["inchikey"]), 0)
        tally = found[_group(count) if count else "0"]
        tally[0] += 1
        tally[1] += row["rank"] == "1"
    return {name: {"queries": n, "recall@1": round(hits / n, 3)} for name, (n, hits) in sorted(found.items())}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.by_spectra_count")
    parser.add_argument("library", help="the library's spectra or embeddings table (id, inchikey)")
    parser.add_argument("per_query", nargs="+")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    library = pq.read_table(args.library, columns=["id", "inchikey"])
    write_json({path: split(library, Path(path)) for path in args.per_query}, args.out)


if __name__ == "__main__":
    main()
