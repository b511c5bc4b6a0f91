"""A stand-in for the compounds the data README holds back: train on the library without a seeded share
of its compounds, then compare Recall at rank k on queries of held-out and of trained compounds.

The held-out compounds stay in the search library (as the held-back ones will be: their spectra are
searched, never trained on). They are chosen by a seeded hash of the compound key alone, so the split
never looks at the queries.

    python -m benchmarks.held_out split LIBRARY.parquet -o TRAIN.parquet --split SPLIT.json [--fraction 0.5]
    python -m benchmarks.held_out score SPLIT.json [NAME=]PER_QUERY.tsv [...] [--pair NAME:NAME] [--out F.json]
"""

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from llm4ms.spectra.fields import inchikey_block
from llm4ms.streams import atomic_output

from .oracle import mcnemar_at_1, named_path, read_per_query
from .report import write_json, write_text


def is_held_out(compound: str, fraction: float, seed: int) -> bool:
    digest = hashlib.sha256(f"{seed}:{compound}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64 < fraction


def split(library_path: str, output: str, split_path: str, fraction: float, seed: int) -> dict:
    table = pq.read_table(library_path)
    keys = [inchikey_block(k) for k in table.column("inchikey").to_pylist()]
    held_out = sorted({k for k in keys if k and is_held_out(k, fraction, seed)})
    held = set(held_out)
    # Spectra without a compound cannot be scored either way; they stay in training as before.
    keep = np.array([k not in held for k in keys])
    with atomic_output(output, ".parquet") as partial:
        pq.write_table(table.filter(pa.array(keep)), partial)  # the schema keeps its provenance
    summary = {"library": library_path, "fraction": fraction, "seed": seed,
               "library_spectra": table.num_rows, "training_spectra": int(keep.sum()),
               "compounds": len({k for k in keys if k}), "held_out_compounds": len(held_out),
               "held_out": held_out}
    write_text(split_path, json.dumps(summary, indent=1) + "\n")
    return {k: v for k, v in summary.items() if k != "held_out"}


def _recall(ranks, k: int) -> float:
    return round(float(((ranks > 0) & (ranks <= k)).mean()), 3) if len(ranks) else float("nan")


def score(split_path: str, per_query: dict[str, str | Path], pairs: list[tuple[str, str]] = ()) -> dict:
    """Recall of each table on queries of trained and of held-out compounds; for each named pair, the
    paired counts inside each group (as benchmarks.oracle gives them for all queries)."""
    held = set(json.loads(Path(split_path).read_text(encoding="utf-8"))["held_out"])
    ranks = {}
    for name, path in per_query.items():
        table = read_per_query(path, dtype={"rank": "Int64"}).set_index("query_id")
        group = table["inchikey"].map(lambda key: "held_out" if inchikey_block(key) in held else "trained")
        ranks[name] = (table["rank"].fillna(0).astype(int), group)
    report = {name: {g: {"queries": int((group == g).sum()), **{f"recall@{k}": _recall(rank[group == g], k)
                                                                for k in (1, 5, 10)}}
                     for g in ("trained", "held_out")}
              for name, (rank, group) in ranks.items()}
    for first, second in pairs:
        (a, group), (b, _) = ranks[first], ranks[second]
        if set(a.index) != set(b.index):
            raise ValueError(f"{first} and {second} do not cover the same queries")
        report[f"{first} vs {second}"] = {
            g: mcnemar_at_1((a == 1) & (group == g), (b == 1) & (group == g))
            for g in ("trained", "held_out")}
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.held_out")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("split", help="write the training library without the held-out compounds")
    make.add_argument("library", help="a textualized library table (llm4ms textualize)")
    make.add_argument("-o", "--output", required=True)
    make.add_argument("--split", required=True, help="JSON naming the held-out compounds")
    make.add_argument("--fraction", type=float, default=0.5)
    make.add_argument("--seed", type=int, default=0)
    tally = commands.add_parser("score", help="Recall of trained and held-out compounds' queries")
    tally.add_argument("split")
    tally.add_argument("per_query", nargs="+", help="per-query tables of the harness, or NAME=PATH")
    tally.add_argument("--pair", action="append", default=[], metavar="FIRST:SECOND",
                       help="two NAMEs: queries only one of them ranks first, per group, and McNemar's p")
    tally.add_argument("--out")
    args = parser.parse_args(argv)
    if args.command == "split":
        write_json(split(args.library, args.output, args.split, args.fraction, args.seed), None)
    else:
        named = dict(named_path(item) for item in args.per_query)
        write_json(score(args.split, named, [tuple(pair.split(":", 1)) for pair in args.pair]), args.out)


if __name__ == "__main__":
    main()
