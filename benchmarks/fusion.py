"""Would a fused score beat re-ranking? Recall over distinct compounds when the embedding's best
--depth library spectra are ranked by w · spectral similarity + (1 − w) · embedding cosine, for w from
0 (the embedding alone) to 1 (`llm4ms search --rerank --rerank-weight 1`), on embedding files the harness
made; `search --rerank` uses w = 0.5 by default.

    python -m benchmarks.fusion QUERIES.emb.parquet LIBRARY.emb.parquet [--window 0.01] [--out F.json]
    python -m benchmarks.fusion LIBRARY.emb.parquet [--held-out 1000] ...

With the library alone, the queries are library spectra held out of it: one seeded spectrum of each
compound with two or more, at most --held-out of them, searched against the rest. That chooses a weight
without the query files (the adapters trained on these spectra, so it favours the embedding).
"""

import argparse

import numpy as np
import pyarrow.parquet as pq
from tqdm import tqdm

from llm4ms.index.rerank import Reranker
from llm4ms.index.search import PrecursorWindow, SearchSettings, compound_keys
from llm4ms.index.store import vectors_of
from llm4ms.spectra.fields import inchikey_block

from .report import write_json

WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
KS = (1, 5, 10)


def _vectors(table) -> np.ndarray:
    return vectors_of(table.column("embedding"))


def fusion_recall(queries, library, method: str, window: float | None, depth: int) -> dict:
    q_vectors, l_vectors = _vectors(queries), _vectors(library)
    keys = compound_keys(library)
    truth = [inchikey_block(k) for k in queries.column("inchikey").to_pylist()]
    reranker = library_reranker(library, method)
    hits = np.zeros((len(WEIGHTS), len(KS)))
    for q, (rows, cosine, spectral, pooled) in query_candidates(q_vectors, l_vectors, queries, library, keys,
                                                                window, depth, reranker):
        wanted = truth[q]
        for w, weight in enumerate(WEIGHTS):
            ranked = ranked_compounds(keys, rows, weight * spectral + (1 - weight) * cosine, pooled)
            hits[w] += [wanted in ranked[:k] for k in KS]
    return {str(weight): recalls(row, len(q_vectors)) for weight, row in zip(WEIGHTS, hits)}


def ranked_compounds(keys, rows, score, pooled: int | None = None) -> list:
    """The compounds of library ``rows``, highest ``score`` first (ties in candidate order), each once,
    at most max(KS); rows from ``pooled`` on follow in their order, as `search --rerank` lists them."""
    pooled = len(rows) if pooled is None else pooled
    order = np.concatenate([np.argsort(-score[:pooled], kind="stable"), np.arange(pooled, len(rows))])
    return list(dict.fromkeys(keys[r] for r in rows[order]))[:max(KS)]


def recalls(hits, queries: int) -> dict:
    """Recall@k for each k of KS from the number of queries with their compound in the top k."""
    return {f"recall@{k}": round(float(h / queries), 4) for k, h in zip(KS, hits)}


def candidates(vector, l_vectors, keys, inside, precursor, window, depth: int, reranker: Reranker, query: tuple):
    """(library rows, embedding cosines, spectral similarities, how many rows are re-ranked) of the
    embedding's ``depth`` best library spectra, inside the precursor window when ``inside`` is given;
    ``query`` is (mz, intensities, template). As `search --rerank`: where those hold fewer than max(KS)
    compounds (``keys``), the best spectrum of each of the embedding's next best compounds follows them, in
    the embedding's order (until 2026-11-29 search re-ranked them with the rest)."""
    rows = inside.rows(precursor, window) if inside else np.arange(len(l_vectors))
    cosine = l_vectors[rows] @ vector
    order = np.argsort(-cosine, kind="stable")
    best = order[:depth]
    if len(best) == depth and len(set(keys[rows[best]])) < max(KS):
        first = {}  # the best max(KS) compounds, each by its best spectrum, best first
        for i in order:
            first.setdefault(keys[rows[i]], int(i))
            if len(first) == max(KS):
                break
        chosen = set(best.tolist())
        best = np.concatenate([best, np.array([i for i in first.values() if i not in chosen], dtype=best.dtype)])
    pooled = min(depth, len(best))
    rows, cosine = rows[best], cosine[best]
    spectral = dict(reranker.rerank([(int(r), 0.0) for r in rows], *query))
    return rows, cosine, np.array([spectral[int(r)] for r in rows]), pooled


def library_reranker(library, method: str = "weighted-cosine",
                     tolerance: float = SearchSettings.rerank_tolerance) -> Reranker:
    """The spectral score of search --rerank over the library table's peaks (its tolerance by default)."""
    return Reranker(method, tolerance, library.column("mz").to_pylist(), library.column("intensities").to_pylist())


def query_candidates(q_vectors, l_vectors, queries, library, keys, window: float | None, depth: int,
                     reranker: Reranker, progress: str | None = None):
    """(query index, ``candidates``) for each query, inside the precursor window when ``window`` is given;
    a query with no library spectrum there is skipped. ``progress``: a progress bar's label."""
    inside = PrecursorWindow(library.column("precursor_mz").to_pylist()) if window else None
    columns = zip(q_vectors, queries.column("mz").to_pylist(), queries.column("intensities").to_pylist(),
                  queries.column("template").to_pylist(), queries.column("precursor_mz").to_pylist())
    if progress:
        columns = tqdm(columns, total=len(q_vectors), desc=progress, unit="query")
    for q, (vector, mz, intensities, template, precursor) in enumerate(columns):
        found = candidates(vector, l_vectors, keys, inside, precursor, window, depth, reranker,
                           (mz, intensities, template))
        if len(found[0]):
            yield q, found


def held_out_of(library, most: int, seed: int = 0):
    """(queries, the rest of the library): one seeded spectrum per compound with several, at most ``most``."""
    keys = compound_keys(library)
    rng = np.random.default_rng(seed)
    rows_of = {}
    for row, key in enumerate(keys):
        rows_of.setdefault(key, []).append(row)
    chosen = np.array([rng.choice(rows) for rows in rows_of.values() if len(rows) > 1])
    if len(chosen) > most:
        chosen = rng.choice(chosen, most, replace=False)
    chosen = np.sort(chosen)
    return library.take(chosen), library.take(np.setdiff1d(np.arange(len(keys)), chosen))


def table_arguments(parser: argparse.ArgumentParser) -> None:
    """[QUERIES] LIBRARY, --held-out, --window and --out: the arguments every embedding-table analysis takes."""
    parser.add_argument("tables", nargs="+", metavar="[QUERIES] LIBRARY")
    parser.add_argument("--held-out", type=int, default=1000,
                        help="With LIBRARY alone: at most this many held-out library spectra as queries.")
    parser.add_argument("--window", type=float, help="precursor window, Da (default: open search)")
    parser.add_argument("--out", help="JSON file (default: stdout)")


def read_tables(parser: argparse.ArgumentParser, args) -> tuple:
    """(queries, library, what the queries are): the library's held-out spectra when it is given alone."""
    if len(args.tables) > 2:
        parser.error("at most two tables: QUERIES LIBRARY, or LIBRARY alone")
    library = pq.read_table(args.tables[-1])
    if len(args.tables) == 2:
        return pq.read_table(args.tables[0]), library, args.tables[0]
    queries, library = held_out_of(library, args.held_out)
    return queries, library, f"{len(queries)} spectra held out of the library (seed 0)"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fusion")
    table_arguments(parser)
    parser.add_argument("--method", default="weighted-cosine", choices=("cosine", "weighted-cosine"))
    parser.add_argument("--depth", type=int, default=SearchSettings.rerank_depth)
    args = parser.parse_args(argv)
    queries, library, source = read_tables(parser, args)
    result = {"queries": source, "library": args.tables[-1], "method": args.method, "window": args.window,
              "depth": args.depth,
              "recall_by_weight": fusion_recall(queries, library, args.method, args.window, args.depth)}
    write_json(result, args.out)


if __name__ == "__main__":
    main()
