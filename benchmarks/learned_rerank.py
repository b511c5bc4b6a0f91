"""Would a model that sees more of each candidate re-rank better than search's fixed blend? The
embedding's best --depth library spectra (as ``benchmarks.fusion`` takes them) get 17 features: five
scores (embedding cosine, weighted cosine, flash entropy, reverse weighted cosine, the hybrid's blend),
the weighted cosine's matched peaks over either spectrum's peak count, and each score's gap to the best
and rank among the query's candidates. Two fixed models (a logistic regression and gradient-boosted
trees) are fitted on the library's own held-out spectra, then rank the dev queries' candidates
(benchmarks/results/learned-rerank/plan.txt).

    python -m benchmarks.learned_rerank --task ei|ms2 QUERIES.emb.parquet LIBRARY.emb.parquet [--window 0.01]
"""

import argparse

import numpy as np
import pyarrow.parquet as pq
from matchms import Spectrum

from llm4ms.index.search import SearchSettings, compound_keys
from llm4ms.spectra.fields import inchikey_block
from llm4ms.textualize.settings import EI_TEMPLATES

from .data import EI, MS2, spectra_of
from .fusion import KS, held_out_of, library_reranker, query_candidates, ranked_compounds, recalls
from .hubness import unit_vectors
from .methods.entropy import FlashScores
from .oracle import mcnemar_at_1
from .report import write_json

SCORES = ("cosine", "weighted cosine", "flash entropy", "reverse weighted cosine", "hybrid")
FEATURES = (*SCORES, "matched / query peaks", "matched / library peaks",
            *(f"{s} gap to best" for s in SCORES), *(f"{s} rank" for s in SCORES))
MODELS = ("logistic regression", "gradient boosting")
HYBRID = SCORES.index("hybrid")
FOLDS = 5


def reverse_query(query: Spectrum, library: Spectrum, tolerance: float) -> Spectrum | None:
    """The query without its peaks that match no library peak within ``tolerance`` (NIST's reverse search
    leaves them out: they may come from something the library spectrum's compound does not give)."""
    mz, lib = query.peaks.mz, library.peaks.mz
    if not len(mz) or not len(lib):
        return None
    at = np.searchsorted(lib, mz)  # each query peak's nearest library peak is at at - 1 or at
    below, above = lib[np.maximum(at - 1, 0)], lib[np.minimum(at, len(lib) - 1)]
    keep = np.minimum(np.abs(mz - below), np.abs(above - mz)) <= tolerance
    if not keep.any():
        return None
    return Spectrum(mz[keep], query.peaks.intensities[keep], metadata_harmonization=False)


def _ranks(score: np.ndarray) -> np.ndarray:
    """Each candidate's rank by ``score`` (0 best; ties in candidate order), over the pool size."""
    ranks = np.empty(len(score))
    ranks[np.argsort(-score, kind="stable")] = np.arange(len(score))
    return ranks / len(score)


def candidate_features(queries, library, keys, task, window: float | None, depth: int, progress: str):
    """(query index, library rows, how many are re-ranked, the features of those) for each query with
    candidates; features in FEATURES' order, one row per re-ranked candidate. ``keys``: the library's
    compound keys."""
    q_vectors, l_vectors = unit_vectors(queries), unit_vectors(library)
    reranker = library_reranker(library, tolerance=task.tolerance)
    library_spectra = spectra_of(library)
    flash = FlashScores(library_spectra.spectra, library_spectra.precursors, task)
    query_spectra = spectra_of(queries)
    templates = queries.column("template").to_pylist()
    weight = SearchSettings.rerank_weight
    for q, (rows, cosine, spectral, pooled) in query_candidates(q_vectors, l_vectors, queries, library, keys, window,
                                                                depth, reranker, progress=progress):
        nominal = templates[q] in EI_TEMPLATES
        similarity = reranker._similarity(nominal)  # search's own weighted cosine, so matches count its peaks
        spectrum = query_spectra.spectra[q]
        query = reranker._spectrum(spectrum.peaks.mz, spectrum.peaks.intensities, nominal)
        tolerance = similarity.tolerance
        entropy = flash.by_row(spectrum, query_spectra.precursors[q])[rows[:pooled]]
        matched, reverse, library_peaks = np.zeros(pooled), np.zeros(pooled), np.zeros(pooled)
        for i, row in enumerate(rows[:pooled]):
            reference = reranker._library_spectrum(int(row), nominal)
            matched[i] = similarity.pair(reference, query)["matches"]
            library_peaks[i] = len(reference.peaks.mz)
            kept = reverse_query(query, reference, tolerance)
            reverse[i] = 0.0 if kept is None else float(similarity.pair(reference, kept)["score"])
        scores = np.column_stack([cosine[:pooled], spectral[:pooled], entropy, reverse,
                                  weight * spectral[:pooled] + (1 - weight) * cosine[:pooled]])
        shares = np.column_stack([matched / max(len(query.peaks.mz), 1), matched / np.maximum(library_peaks, 1)])
        features = np.column_stack([scores, shares, scores - scores.max(axis=0),
                                    np.column_stack([_ranks(s) for s in scores.T])])
        yield q, rows, pooled, features


def collect(queries, library, task, window, depth, progress: str) -> dict:
    """Every query's candidates and features, stacked, with labels (the candidate is the query's compound)."""
    keys = compound_keys(library)
    truth = [inchikey_block(k) for k in queries.column("inchikey").to_pylist()]
    found = list(candidate_features(queries, library, keys, task, window, depth, progress))
    labels = [np.array([keys[r] == truth[q] for r in rows[:pooled]]) for q, rows, pooled, _ in found]
    return {"found": found, "truth": truth, "keys": keys, "queries": len(truth),
            "X": np.vstack([f for *_, f in found]), "y": np.concatenate(labels),
            "query_of_row": np.concatenate([np.full(pooled, q) for q, _, pooled, _ in found])}


def models(seed: int = 0) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {"logistic regression": make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)),
            "gradient boosting": HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, max_leaf_nodes=15,
                                                                min_samples_leaf=40, l2_regularization=1.0,
                                                                random_state=seed)}


def ranked_by(data: dict, score_of_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hits at each k of KS, first-hit flags by query) when each query's candidates rank by the given
    per-row scores (rows in ``data["X"]``'s order)."""
    first = np.zeros(data["queries"], dtype=bool)
    hits = np.zeros(len(KS))
    start = 0
    for q, rows, pooled, _ in data["found"]:
        score, start = score_of_row[start:start + pooled], start + pooled
        ranked = ranked_compounds(data["keys"], rows, score, pooled)
        hits += [data["truth"][q] in ranked[:k] for k in KS]
        first[q] = bool(ranked) and ranked[0] == data["truth"][q]
    return hits, first


def cross_validated(data: dict, folds: int = FOLDS) -> dict:
    """Recall of each model on the fitting spectra, each fold's queries ranked by a model fitted without
    them (seeded folds of queries; each held-out query is its own compound's only one)."""
    fold_of = np.random.default_rng(0).integers(0, folds, data["queries"])
    out = {}
    for name in MODELS:
        probability = np.zeros(len(data["y"]))
        for fold in range(folds):
            test = fold_of[data["query_of_row"]] == fold
            model = models()[name].fit(data["X"][~test], data["y"][~test])
            probability[test] = model.predict_proba(data["X"][test])[:, 1]
        out[name] = recalls(ranked_by(data, probability)[0], data["queries"])
    out["hybrid"] = recalls(ranked_by(data, data["X"][:, HYBRID])[0], data["queries"])
    return out


def learned_rerank(queries, library, task, window: float | None, depth: int) -> dict:
    fit_queries, rest = held_out_of(library, len(library))
    fitting = collect(fit_queries, rest, task, window, depth, "held-out library spectra")
    dev = collect(queries, library, task, window, depth, "dev queries")
    hybrid_hits, hybrid_first = ranked_by(dev, dev["X"][:, HYBRID])
    result = {"fitting": {"queries": fitting["queries"], "candidates": len(fitting["y"]),
                          "positives": int(fitting["y"].sum()),
                          f"{FOLDS}-fold cross-validated": cross_validated(fitting)},
              "dev": {"hybrid": recalls(hybrid_hits, dev["queries"])}}
    for name in MODELS:
        model = models()[name].fit(fitting["X"], fitting["y"])
        hits, first = ranked_by(dev, model.predict_proba(dev["X"])[:, 1])
        result["dev"][name] = {**recalls(hits, dev["queries"]), "vs hybrid": mcnemar_at_1(first, hybrid_first)}
        if name == "logistic regression":
            coefficients = model[-1].coef_[0]
            result["logistic regression weights (standardised features)"] = {
                f: round(float(c), 3) for f, c in zip(FEATURES, coefficients)}
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.learned_rerank")
    parser.add_argument("queries")
    parser.add_argument("library")
    parser.add_argument("--task", required=True, choices=("ei", "ms2"))
    parser.add_argument("--window", type=float, help="precursor window, Da (default: open search)")
    parser.add_argument("--depth", type=int, default=SearchSettings.rerank_depth)
    parser.add_argument("--out", help="JSON file (default: stdout)")
    args = parser.parse_args(argv)
    task = {"ei": EI, "ms2": MS2}[args.task]
    result = learned_rerank(pq.read_table(args.queries), pq.read_table(args.library), task, args.window, args.depth)
    write_json({"queries": args.queries, "library": args.library, "window": args.window, "depth": args.depth,
                "features": list(FEATURES), "plan": "benchmarks/results/learned-rerank/plan.txt", **result}, args.out)


if __name__ == "__main__":
    main()
