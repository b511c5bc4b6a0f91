"""Would flash entropy as a third score help search's blend? The embedding's best --depth library spectra
(inside the precursor window with --window) ranked by a · weighted cosine + b · flash entropy similarity
+ (1 − a − b) · embedding cosine, for a and b on the simplex in steps of 0.1; a 0.5, b 0 is
`llm4ms search --rerank weighted-cosine`'s default. The entropy scores are the harness's `entropy`
method's (same index, cleaning and tolerance).

    python -m benchmarks.blend3 --task ei|ms2 QUERIES.emb.parquet LIBRARY.emb.parquet [--window 0.01]
    python -m benchmarks.blend3 --task ei|ms2 LIBRARY.emb.parquet [--held-out 1000] ...

With the library alone the queries are held out of it as in ``benchmarks.fusion``, to choose a and b
without the query files.
"""

import argparse

import numpy as np

from llm4ms.index.search import SearchSettings, compound_keys
from llm4ms.spectra.fields import inchikey_block

from .data import EI, MS2, spectra_of
from .fusion import KS, library_reranker, query_candidates, ranked_compounds, read_tables, recalls, table_arguments
from .hubness import unit_vectors
from .methods.entropy import FlashScores
from .oracle import mcnemar_at_1
from .report import write_json

DEFAULT = (0.5, 0.0)
SETTINGS = [(round(0.1 * i, 1), round(0.1 * j, 1)) for i in range(11) for j in range(11 - i)]


def blend3(queries, library, task, window: float | None, depth: int) -> dict:
    q_vectors, l_vectors = unit_vectors(queries), unit_vectors(library)
    keys = compound_keys(library)
    truth = [inchikey_block(k) for k in queries.column("inchikey").to_pylist()]
    weighted = library_reranker(library, tolerance=task.tolerance)
    library_spectra, query_spectra = spectra_of(library), spectra_of(queries)
    flash = FlashScores(library_spectra.spectra, library_spectra.precursors, task)
    first = np.zeros((len(SETTINGS), len(q_vectors)), dtype=bool)
    hits = np.zeros((len(SETTINGS), len(KS)))
    for q, (rows, cosine, spectral, pooled) in query_candidates(q_vectors, l_vectors, queries, library, keys, window,
                                                                depth, weighted, progress="blend3"):
        wanted = truth[q]
        entropy = flash.by_row(query_spectra.spectra[q], query_spectra.precursors[q])[rows]
        for s, (a, b) in enumerate(SETTINGS):
            ranked = ranked_compounds(keys, rows, a * spectral + b * entropy + (1 - a - b) * cosine, pooled)
            hits[s] += [wanted in ranked[:k] for k in KS]
            first[s, q] = bool(ranked) and ranked[0] == wanted
    default = SETTINGS.index(DEFAULT)
    return {f"{a} {b}": {**recalls(row, len(q_vectors)),
                         "vs default": mcnemar_at_1(first[s], first[default])}
            for s, ((a, b), row) in enumerate(zip(SETTINGS, hits))}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.blend3")
    table_arguments(parser)
    parser.add_argument("--task", required=True, choices=("ei", "ms2"))
    parser.add_argument("--depth", type=int, default=SearchSettings.rerank_depth)
    args = parser.parse_args(argv)
    queries, library, source = read_tables(parser, args)
    task = {"ei": EI, "ms2": MS2}[args.task]
    write_json({"queries": source, "library": args.tables[-1], "window": args.window, "depth": args.depth,
                "key": "a (weighted cosine) b (flash entropy); the rest is the embedding cosine",
                "recall_by_setting": blend3(queries, library, task, args.window, args.depth)}, args.out)


if __name__ == "__main__":
    main()
