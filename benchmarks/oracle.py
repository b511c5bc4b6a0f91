"""The most any combination of methods could reach: a query counts for the oracle when at least one of
the given methods ranks its compound first. No re-ranking, fusion or vote over these rankings can do
better, so a target above the oracle needs a better method, not a better mix of the ones measured.
Each pair also gets its paired counts (queries only one of the two ranks first) and the exact McNemar
p-value on them: whether one adapter beats another on the same queries by more than chance.

    python -m benchmarks.oracle PER_QUERY.tsv ... [--out F.json]

Inputs are the harness's per-query tables (work/<task>/runs/<label>/per_query/<method>.tsv, or
NAME=PATH to name one); all must cover the same queries.
"""

import argparse
import io
import itertools
from pathlib import Path

import pandas as pd

from .report import per_query_lines, write_json


def named_path(argument: str) -> tuple[str, Path]:
    name, _, path = argument.rpartition("=")
    return (name or Path(path).stem), Path(path)


def read_per_query(path, **options) -> pd.DataFrame:
    """A per-query table of `llm4ms score` (pandas' comment= would also cut a compound name at a '#')."""
    return pd.read_csv(io.StringIO("\n".join(per_query_lines(path))), sep="\t", **options)


def oracle(tables: dict) -> dict:
    """``tables``: method → per-query table. Recall@1 of each method, of each pair and of all together,
    and the share of queries any method has in its top 10 (the most a re-ranker of them could reach)."""
    queries = {name: set(table["query_id"]) for name, table in tables.items()}
    if len({frozenset(q) for q in queries.values()}) > 1:
        raise ValueError("the per-query tables do not cover the same queries: "
                         + ", ".join(f"{name} {len(q)}" for name, q in queries.items()))
    ranks = pd.DataFrame({name: table.set_index("query_id")["rank"] for name, table in tables.items()})
    first = ranks == 1
    pairs = {f"{a} + {b}": round(float((first[a] | first[b]).mean()), 4)
             for a, b in itertools.combinations(ranks.columns, 2)}
    paired = {f"{a} vs {b}": mcnemar_at_1(first[a], first[b]) for a, b in itertools.combinations(ranks.columns, 2)}
    return {"queries": len(ranks),
            "recall@1": {name: round(float(first[name].mean()), 4) for name in ranks.columns},
            "pairs": dict(sorted(pairs.items(), key=lambda item: -item[1])),
            "paired": paired,
            "any_method_at_1": round(float(first.any(axis=1).mean()), 4),
            "any_method_in_top_10": round(float((ranks <= 10).any(axis=1).mean()), 4)}


def mcnemar(only_first: int, only_second: int) -> dict:
    from scipy.stats import binomtest

    n = only_first + only_second
    p = binomtest(only_first, n, 0.5).pvalue if n else 1.0
    return {"only_first_at_1": only_first, "only_second_at_1": only_second, "mcnemar_exact_p": round(float(p), 4)}


def mcnemar_at_1(first, second) -> dict:
    """McNemar's test of two methods from their per-query "right at rank 1" booleans (arrays or Series)."""
    return mcnemar(int((first & ~second).sum()), int((second & ~first).sum()))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.oracle")
    parser.add_argument("tables", nargs="+", help="per-query TSV files, or NAME=PATH")
    parser.add_argument("--out", help="JSON file (default: stdout)")
    args = parser.parse_args(argv)
    named = dict(named_path(a) for a in args.tables)
    tables = {name: read_per_query(path) for name, path in named.items()}
    write_json({"tables": {name: str(path) for name, path in named.items()}, **oracle(tables)}, args.out)


if __name__ == "__main__":
    main()
