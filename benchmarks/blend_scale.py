"""Does putting the hybrid's two scores on one scale per query help? Search's hybrid ranks the embedding's
best library spectra by w · spectral + (1 − w) · embedding cosine on their raw scales, whose spreads
differ from query to query. Measured on the same candidates as `search --rerank`, for w in WEIGHTS:

    raw     the scores as they are (w 0.5 is search's default, and the control)
    z       each score standardised over the query's candidates
    minmax  each score scaled to [0, 1] over the query's candidates
    rrf     reciprocal rank fusion (Cormack et al., SIGIR 2009): w / (60 + spectral rank) + (1 − w) / (60 +
            embedding rank)

    python -m benchmarks.blend_scale QUERIES.emb.parquet LIBRARY.emb.parquet [--window 0.01] [--out F.json]
    python -m benchmarks.blend_scale LIBRARY.emb.parquet [--held-out 1000] ...

Besides every setting's figures it reports one chosen by 2-fold cross-validation over the queries'
compounds: each half ranked by the setting best on the other half, so the figure is that of a setting
chosen on other compounds.
"""

import argparse

import numpy as np

from llm4ms.index.search import SearchSettings, compound_keys
from llm4ms.spectra.fields import inchikey_block

from .fusion import library_reranker, query_candidates, ranked_compounds, read_tables, table_arguments
from .hubness import scored, unit_vectors
from .report import write_json

VARIANTS = ("raw", "z", "minmax", "rrf")
WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7)
CONTROL = ("raw", SearchSettings.rerank_weight)
RRF_K = 60  # Cormack et al.'s constant; it damps the difference between the first few ranks


def scaled(values: np.ndarray, variant: str) -> np.ndarray:
    """One score of a query's candidates on the variant's scale (a constant score becomes all zeros)."""
    if variant == "raw":
        return values
    if variant == "rrf":
        ranks = np.empty(len(values))
        ranks[np.argsort(-values, kind="stable")] = np.arange(1, len(values) + 1)
        return 1.0 / (RRF_K + ranks)
    low, spread = (values.mean(), values.std()) if variant == "z" else (values.min(), np.ptp(values))
    # A constant score's std is rounding noise, not 0; either way it cannot order the candidates.
    return (values - low) / spread if spread > 1e-12 else np.zeros_like(values)


def blend_ranks(q_vectors, l_vectors, queries, library, window: float | None, settings=None) -> dict:
    """(variant, w) → {query row: rank of its compound, None beyond the best 10 or with no candidate}, for
    each of ``settings`` (default: all)."""
    settings = settings or [(v, w) for v in VARIANTS for w in WEIGHTS]
    keys = compound_keys(library)
    truth = [inchikey_block(k) for k in queries.column("inchikey").to_pylist()]
    found = {setting: dict.fromkeys(range(len(truth))) for setting in settings}
    for q, (rows, cosine, spectral, pooled) in query_candidates(
            q_vectors, l_vectors, queries, library, keys, window, SearchSettings.rerank_depth,
            library_reranker(library), progress="blend"):
        for variant in {v for v, _ in settings}:
            s, c = scaled(spectral[:pooled], variant), scaled(cosine[:pooled], variant)
            for w in (w for v, w in settings if v == variant):
                ranked = ranked_compounds(keys, rows, w * s + (1 - w) * c, pooled)
                found[variant, w][q] = ranked.index(truth[q]) + 1 if truth[q] in ranked else None
    return found


def cross_validated(found: dict, compounds: list, seed: int = 0) -> dict:
    """Each half of the compounds ranked by the setting with most rank-1 hits on the other half (ties to
    CONTROL, then to grid order): the choices and the out-of-fold ranks."""
    names = sorted(set(compounds))
    rng = np.random.default_rng(seed)
    first_half = set(rng.permutation(names)[:len(names) // 2].tolist())
    folds = [[q for q, c in enumerate(compounds) if (c in first_half) == side] for side in (True, False)]
    settings = [CONTROL] + [s for s in found if s != CONTROL]
    out, choices = {}, []
    for fold, other in ((folds[0], folds[1]), (folds[1], folds[0])):
        best = max(settings, key=lambda s: sum(found[s][q] == 1 for q in other))  # max keeps the first of ties
        choices.append(name(best))
        out.update({q: found[best][q] for q in fold})
    return {"choices": choices, "ranks": dict(sorted(out.items()))}


def name(setting: tuple) -> str:
    return f"{setting[0]} w {setting[1]:g}"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.blend_scale")
    table_arguments(parser)
    args = parser.parse_args(argv)
    queries, library, source = read_tables(parser, args)
    found = blend_ranks(unit_vectors(queries), unit_vectors(library), queries, library, args.window)
    control = found[CONTROL]
    against = name(CONTROL)
    chosen = cross_validated(found, [inchikey_block(k) for k in queries.column("inchikey").to_pylist()])
    write_json({"queries": source, "library": args.tables[-1], "window": args.window,
                "settings": {name(s): scored(ranks, control, against) for s, ranks in found.items()},
                "best_on_these_queries": name(max(found, key=lambda s: sum(r == 1 for r in found[s].values()))),
                "cross_validated": {"choices (fold 1, fold 2)": chosen["choices"],
                                    "out_of_fold": scored(chosen["ranks"], control, against)}}, args.out)


if __name__ == "__main__":
    main()
