"""Would a compound's score from all of its candidate spectra beat its best one? `llm4ms search` ranks a
compound by its best-scoring library spectrum; here a compound scores the soft maximum of its spectra
among the embedding's best --depth candidates,

    tau * log(sum over the compound's candidates s of exp(score(s) / tau)),

the maximum at tau 0 (search today), which gives a compound with n candidates at most tau * log(n) more.
Two scores: the embedding cosine alone (`search`) and search's default blend (`search --rerank`).

    python -m benchmarks.compound_score QUERIES.emb.parquet LIBRARY.emb.parquet [--window 0.01] [--out F.json]
    python -m benchmarks.compound_score LIBRARY.emb.parquet [--held-out 1000] ...

With the library alone the queries are held out of it as in ``benchmarks.fusion``, to choose tau without
the query files.
"""

import argparse
from collections import Counter

import numpy as np

from llm4ms.index.search import SearchSettings, compound_keys
from llm4ms.spectra.fields import inchikey_block

from .fusion import KS, library_reranker, query_candidates, ranked_compounds, read_tables, recalls, table_arguments
from .hubness import unit_vectors
from .oracle import mcnemar_at_1
from .report import write_json

TAUS = (0.0, 0.002, 0.005, 0.01, 0.02, 0.05)
BLEND = SearchSettings.rerank_weight  # search --rerank's default


def soft_ranked(keys, rows, score, pooled: int, tau: float) -> list:
    """As ``fusion.ranked_compounds``, with each compound of the first ``pooled`` rows scored by the soft
    maximum of its rows' scores; ties keep candidate order, and rows from ``pooled`` on follow in theirs."""
    if tau == 0:
        return ranked_compounds(keys, rows, score, pooled)
    top = float(score[:pooled].max())  # shifted so exp cannot overflow at small tau
    mass = {}
    for key, s in zip(keys[rows[:pooled]], score[:pooled]):
        mass[key] = mass.get(key, 0.0) + np.exp((s - top) / tau)
    ranked = sorted(mass, key=lambda key: -mass[key])  # log is monotone; sorted() is stable
    return list(dict.fromkeys(ranked + list(keys[rows[pooled:]])))[:max(KS)]


def compound_score(queries, library, window: float | None, depth: int) -> dict:
    q_vectors, l_vectors = unit_vectors(queries), unit_vectors(library)
    keys = compound_keys(library)
    truth = [inchikey_block(k) for k in queries.column("inchikey").to_pylist()]
    weighted = library_reranker(library)
    rows_of_scores = ("embedding", "blend")
    hits = np.zeros((len(rows_of_scores), len(TAUS), len(KS)))
    first = np.zeros((len(rows_of_scores), len(TAUS), len(q_vectors)), dtype=bool)
    several = {"own compound": 0, "first-ranked wrong compound": 0}  # how often a soft maximum could act
    for q, (rows, cosine, spectral, pooled) in query_candidates(q_vectors, l_vectors, queries, library, keys, window,
                                                                depth, weighted, progress="compound score"):
        wanted = truth[q]
        for r, score in enumerate((cosine, BLEND * spectral + (1 - BLEND) * cosine)):
            for t, tau in enumerate(TAUS):
                ranked = soft_ranked(keys, rows, score, pooled, tau)
                hits[r, t] += [wanted in ranked[:k] for k in KS]
                first[r, t, q] = bool(ranked) and ranked[0] == wanted
                if r == t == 0:  # the embedding's own ranking: whose spectra a soft maximum would add up
                    counts = Counter(keys[rows[:pooled]])
                    several["own compound"] += counts[wanted] > 1
                    several["first-ranked wrong compound"] += ranked[0] != wanted and counts[ranked[0]] > 1
    by_tau = {name: {f"tau {tau}": {**recalls(hits[r, t], len(q_vectors)),
                                    "vs tau 0": mcnemar_at_1(first[r, t], first[r, 0])}
                     for t, tau in enumerate(TAUS)}
              for r, name in enumerate(rows_of_scores)}
    return {"queries with 2+ candidate spectra of (embedding, tau 0)": several, "recall_by_tau": by_tau}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compound_score")
    table_arguments(parser)
    parser.add_argument("--depth", type=int, default=SearchSettings.rerank_depth)
    args = parser.parse_args(argv)
    queries, library, source = read_tables(parser, args)
    write_json({"queries": source, "library": args.tables[-1], "window": args.window, "depth": args.depth,
                "blend_weight": BLEND, **compound_score(queries, library, args.window, args.depth)}, args.out)


if __name__ == "__main__":
    main()
