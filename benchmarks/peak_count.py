"""Does the encoder read more or fewer peaks better than it was trained on? The shipped adapters were
trained on texts of a fixed number of peaks (EI 30 strongest, MS/MS 20); `llm4ms textualize --top-n N`
writes texts of another count with no training. Each count's tables (queries and library textualized
again from the harness's spectra tables and embedded with the shipped adapter) against the harness's own.

    python -m benchmarks.peak_count QUERIES.emb.parquet LIBRARY.emb.parquet \
        --count 20=Q20.emb.parquet,L20.emb.parquet --count 40=... [--window 0.01] [--out F.json]
    python -m benchmarks.peak_count LIBRARY.emb.parquet --count 20=L20.emb.parquet ... [--held-out 1000]

With the library alone its held-out spectra are the queries (``benchmarks.fusion``'s split, taken from
each count's library alike), to choose a count without the query files; ``--setting`` measures the hybrid
of the one chosen there. Ranked and scored as in ``benchmarks.query_expansion``; the spectral half of the
hybrid scores the same peaks whatever the text, so it comes from the control's tables.
"""

import argparse
from pathlib import Path

import pyarrow.parquet as pq

from llm4ms import tables

from .fusion import held_out_of, read_tables, table_arguments
from .hubness import unit_vectors
from .query_expansion import setting_argument, settings_compared
from .report import write_json


def parse_count(text: str) -> tuple:
    """N=TABLE[,TABLE] → (N, [paths])."""
    count, _, paths = text.partition("=")
    if not count.isdigit() or not paths:
        raise argparse.ArgumentTypeError(f"{text!r}: expected N=QUERIES.emb.parquet,LIBRARY.emb.parquet")
    return int(count), paths.split(",")


def top_n(path: str) -> int | None:
    """The --top-n a table was textualized with (None: the template's default), from its provenance."""
    history = tables.read_provenance(Path(path), path, (tables.EMBEDDINGS,))["history"]
    return next(step["parameters"]["top_n"] for step in history if step["step"] == "textualize")


def aligned(table, control, what: str):
    """``table`` if its rows are ``control``'s spectra in the same order; exits otherwise."""
    if table.column("id").to_pylist() != control.column("id").to_pylist():
        raise SystemExit(f"peak_count: {what}: its rows are not the control's spectra in the control's order")
    return table


def count_tables(parser: argparse.ArgumentParser, args, queries, library) -> dict:
    """N → (query table, library table), aligned with the control's; with the library alone, each count's
    library is split as the control's was."""
    out = {}
    for count, paths in args.count:
        if len(paths) != len(args.tables):
            parser.error(f"--count {count}: give as many tables as the control ({len(args.tables)})")
        made = top_n(paths[-1])
        if made != count:
            parser.error(f"--count {count}: {paths[-1]} was textualized with --top-n {made}")
        lib = pq.read_table(paths[-1])
        if len(paths) == 2:
            q = pq.read_table(paths[0])
        else:
            q, lib = held_out_of(lib, args.held_out)
        out[count] = aligned(q, queries, f"{count} queries"), aligned(lib, library, f"{count} library")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peak_count")
    table_arguments(parser)
    parser.add_argument("--count", type=parse_count, action="append", required=True, metavar="N=TABLES")
    setting_argument(parser, int, "N")
    args = parser.parse_args(argv)
    queries, library, source = read_tables(parser, args)
    vectors = {count: (unit_vectors(q), unit_vectors(lib))
               for count, (q, lib) in count_tables(parser, args, queries, library).items()}
    write_json({"queries": source, "library": args.tables[-1], "window": args.window,
                "control_top_n": top_n(args.tables[-1]) or "the template's default",
                **settings_compared(queries, library, args.window, sorted(vectors),
                                    lambda count, *_: vectors[count], lambda count: f"top {count}", args.setting)},
               args.out)


if __name__ == "__main__":
    main()
