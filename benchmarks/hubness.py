"""Are some library spectra hubs of the embedding space, near to many queries of other compounds, and
does discounting them help? Each library spectrum y gets r(y), the mean cosine to its k nearest library
spectra of other compounds (or of any compound: both are measured), and queries are ranked by
cos(q, y) − β · r(y). This is CSLS (Conneau et al., ICLR 2018) with the library side only: its query-side
term is the same for every candidate of a query, so it cannot change a ranking. r(y) needs the library
alone, so an index could store it.

    python -m benchmarks.hubness QUERIES.emb.parquet LIBRARY.emb.parquet [--window 0.01] [--out F.json]
    python -m benchmarks.hubness LIBRARY.emb.parquet [--held-out 1000] ...

With the library alone the queries are held out of it as in ``benchmarks.fusion``, to choose k and β
without the query files. Ranked and scored as in ``benchmarks.text_information`` (`llm4ms score`'s rule);
the k-occurrence figures say how skewed the embedding's top 10 lists are (a hub is in many of them).
"""

import argparse

import numpy as np
from scipy.stats import skew

from llm4ms.index.search import PrecursorWindow, compound_keys
from llm4ms.index.store import vectors_of
from llm4ms.scoring import recall_at_k
from llm4ms.spectra.fields import inchikey_block

from .fusion import read_tables, table_arguments
from .oracle import mcnemar
from .report import write_json
from .text_information import KS, ranks

BETAS = (0.0, 0.25, 0.5, 0.75, 1.0)
NEIGHBOURS = (10, 50)
CHUNK = 2048


def unit_vectors(table) -> np.ndarray:
    vectors = vectors_of(table.column("embedding"))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def neighbourhood(vectors: np.ndarray, keys: np.ndarray, k: int, other_compounds: bool) -> np.ndarray:
    """r(y): mean cosine of each row to its k nearest other rows (of other compounds if asked; k at most
    the rows every row has, which only a tiny library limits)."""
    _, codes, sizes = np.unique(keys, return_inverse=True, return_counts=True)
    k = min(k, len(vectors) - (sizes.max() if other_compounds else 1))
    out = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), CHUNK):
        block = vectors[start:start + CHUNK] @ vectors.T
        rows = np.arange(start, start + len(block))
        block[np.arange(len(block)), rows] = -np.inf
        if other_compounds:
            block[codes[rows][:, None] == codes[None, :]] = -np.inf
        top = -np.partition(-block, k - 1, axis=1)[:, :k]
        out[start:start + len(block)] = top.mean(axis=1)
    return out


def k_occurrence(scores: np.ndarray, k: int = 10) -> dict:
    """How often each library spectrum is in a query's best k: its skewness and the share never there."""
    best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    counts = np.bincount(best[np.isfinite(np.take_along_axis(scores, best, 1))], minlength=scores.shape[1])
    return {"skewness": round(float(skew(counts)), 3), "never_in_top": round(float((counts == 0).mean()), 4),
            "most": int(counts.max())}


def window_mask(queries, library, window: float | None) -> np.ndarray | None:
    """Query × library: True where the library spectrum is a candidate (None: open search)."""
    if not window:
        return None
    inside = PrecursorWindow(library.column("precursor_mz").to_pylist())
    allowed = np.zeros((queries.num_rows, library.num_rows), dtype=bool)
    for q, precursor in enumerate(queries.column("precursor_mz").to_pylist()):
        allowed[q, inside.rows(precursor, window)] = True
    return allowed


def masked(scores: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """``scores`` with the spectra outside the window at -inf, in place (the matrices are large)."""
    if allowed is not None:
        scores[~allowed] = -np.inf
    return scores


def hubness(queries, library, window: float | None) -> dict:
    q_vectors, l_vectors = unit_vectors(queries), unit_vectors(library)
    truth = [inchikey_block(k) for k in queries.column("inchikey").to_pylist()]
    cosine = masked(q_vectors @ l_vectors.T, window_mask(queries, library, window))
    keys = compound_keys(library)
    plain = ranks(cosine, truth, library)
    result = {"k_occurrence@10": k_occurrence(cosine), "beta 0": scored(plain, plain), "discounted": {}}
    for other in (True, False):
        for k in NEIGHBOURS:
            r = neighbourhood(l_vectors, keys, k, other)
            name = f"{'other compounds' if other else 'any spectrum'}, k {k}"
            result["discounted"][name] = {str(beta): scored(ranks(cosine - beta * r[None, :], truth, library), plain)
                                          for beta in BETAS if beta}
            result["discounted"][name]["k_occurrence@10, beta 1"] = k_occurrence(cosine - r[None, :])
    return result


def scored(found: dict, plain: dict, against: str = "beta 0") -> dict:
    """Recall@k of one ranking, and its queries right at rank 1 against those of ``plain`` (McNemar), under
    "vs ``against``"."""
    first = {q for q, rank in found.items() if rank == 1}
    first_plain = {q for q, rank in plain.items() if rank == 1}
    recalls = {name: round(value, 4) for name, value in recall_at_k(found.values(), KS).items()}
    return {**recalls, f"vs {against}": mcnemar(len(first - first_plain), len(first_plain - first))}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hubness")
    table_arguments(parser)
    args = parser.parse_args(argv)
    queries, library, source = read_tables(parser, args)
    write_json({"queries": source, "library": args.tables[-1], "window": args.window,
                **hubness(queries, library, args.window)}, args.out)


if __name__ == "__main__":
    main()
