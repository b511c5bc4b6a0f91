"""EI spectra with ions above their compound's mass. MassBank files spectra of derivatives (TMS ethers,
methoximes) and of samples with background ions under the underivatized compound's InChIKey; such a
spectrum has ions of at least 1 % of its base peak beyond what the compound and its isotope peaks can
weigh. This measures

- how many library spectra are such, and how many of the same-compound pairs `llm4ms train` draws as
  positives join one to an ordinary spectrum (a positive no spectrum-reading encoder can honour);
- how queries fare whose compound has no library spectrum of their own kind, by the embedding, search's
  blend and the weighted cosine over all peaks (that part of a missed target no search can close);
- a molecular-mass ceiling on search's blend, as NIST-style searches use one: candidates whose compound
  weighs less than the query's heaviest ion go last; and a kind-consistent one, where a candidate goes last
  when the query, read as the candidate's compound, would be of the other kind than the candidate's
  spectrum (results/above-mass/plan.txt), so that a query's same-kind spectra of its compound always stay.

    python -m benchmarks.above_mass QUERIES.emb.parquet LIBRARY.emb.parquet [--out F.json]
    python -m benchmarks.above_mass LIBRARY.emb.parquet [--held-out 1000] [--out F.json]

With the library alone the queries are held out of it as in ``benchmarks.fusion``.
"""

import argparse

import numpy as np

from llm4ms.index.search import SearchSettings, compound_keys
from llm4ms.index.store import vectors_of
from llm4ms.scoring import inchikey_block, recall_at_k
from llm4ms.training.above_mass import FLOOR, heaviest_allowed, heaviest_ion

from .data import EI
from .fusion import KS, library_reranker, query_candidates, ranked_compounds, read_tables, table_arguments
from .oracle import mcnemar_at_1
from .report import write_json
from .text_information import all_peaks, binned, ranks

DEPTH = SearchSettings.rerank_depth  # search's blend ranks the embedding's best (its --rerank-depth default)
BLEND = SearchSettings.rerank_weight  # search's --rerank-weight default
KINDS = ("ordinary", "above its compound's mass", "no structure")


def kinds_of(table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index into KINDS of each row, its heaviest allowed m/z or inf where no structure parses, its
    heaviest ion)."""
    allowed = np.array([heaviest_allowed(s) or np.inf for s in table.column("smiles").to_pylist()])
    ions = np.array([heaviest_ion(m, i) for m, i in zip(table.column("mz").to_pylist(),
                                                        table.column("intensities").to_pylist())])
    return np.where(np.isinf(allowed), 2, (ions > allowed).astype(int)), allowed, ions


def kinds_by_compound(keys: np.ndarray, kinds: np.ndarray) -> dict:
    """Compound → the kinds of its library spectra, one entry per spectrum."""
    by_compound = {}
    for key, kind in zip(keys, kinds):
        by_compound.setdefault(key, []).append(int(kind))
    return by_compound


def positive_pairs(by_compound: dict) -> dict:
    """Same-compound pairs of the library, and those joining an above-mass spectrum to an ordinary one."""
    pairs = mixed = 0
    for kinds in by_compound.values():
        pairs += len(kinds) * (len(kinds) - 1) // 2
        mixed += kinds.count(0) * kinds.count(1)
    return {"same_compound_pairs": pairs, "mixed": mixed, "mixed_share": round(mixed / max(pairs, 1), 4)}


def query_groups(query_kinds: np.ndarray, truth: list, by_compound: dict) -> np.ndarray:
    """Per query: whether its compound has a library spectrum of the query's own kind."""
    names = []
    for kind, wanted in zip(query_kinds, truth):
        theirs = set(by_compound.get(wanted, ()))
        if kind == 2 or not theirs:
            names.append("no structure or compound not in the library")
        elif kind in theirs:
            names.append("a library spectrum of its own kind")
        else:
            names.append(f"query {KINDS[kind]}, its compound's library spectra all {KINDS[1 - kind]}")
    return np.array(names)


def search_ranks(queries, library, truth: list, keys: np.ndarray, last: dict) -> dict:
    """Rank of each query's compound (None beyond 10) by the embedding and by the blend, each also with the
    candidates of every mask in ``last`` (name: query × library, True for a candidate to rank after the
    others, by the same score), and by the weighted cosine over all peaks."""
    l_vectors, q_vectors = vectors_of(library.column("embedding")), vectors_of(queries.column("embedding"))
    reranker = library_reranker(library)
    found = {}
    for q, (rows, cosine, spectral, pooled) in query_candidates(q_vectors, l_vectors, queries, library, keys, None,
                                                                DEPTH, reranker):
        for method, score in (("llm4ms", cosine), ("blend", BLEND * spectral + (1 - BLEND) * cosine)):
            # scores are cosines in [-1, 1]: 10 below is below every candidate that stays
            penalties = [(method, 0.0)] + [(f"{method}, {n}", 10.0 * mask[q, rows]) for n, mask in last.items()]
            for name, penalty in penalties:
                ranked = ranked_compounds(keys, rows, score - penalty, pooled)
                found.setdefault(name, []).append(ranked.index(truth[q]) + 1 if truth[q] in ranked else None)
    both = binned(all_peaks(library, 0) + all_peaks(queries, 0), 0, EI.mz_power, EI.intensity_power)
    scores = (both[library.num_rows:] @ both[:library.num_rows].T).toarray()
    by_query = ranks(scores, truth, library)
    found["weighted cosine"] = [by_query[q] for q in range(queries.num_rows)]
    return found


def rounded_recalls(ranks_: list) -> dict:
    return {k: round(v, 4) for k, v in recall_at_k(ranks_, KS).items()}


def above_mass(queries, library) -> dict:
    keys = compound_keys(library)
    truth = [inchikey_block(k) for k in queries.column("inchikey").to_pylist()]
    library_kinds, allowed, _ = kinds_of(library)
    query_kinds, _, ions = kinds_of(queries)
    lighter = ions[:, None] > allowed[None, :]
    inconsistent = (library_kinds != 2)[None, :] & (lighter != (library_kinds == 1)[None, :])
    found = search_ranks(queries, library, truth, keys, {"mass ceiling": lighter, "kind-consistent": inconsistent})
    by_compound = kinds_by_compound(keys, library_kinds)
    groups = query_groups(query_kinds, truth, by_compound)
    by_group = {}
    for group in sorted(set(groups)):
        chosen = np.flatnonzero(groups == group)
        by_group[group] = {"queries": len(chosen)} | {
            name: rounded_recalls([ranks_[i] for i in chosen]) for name, ranks_ in found.items()}
    first = {name: np.array([rank == 1 for rank in ranks_]) for name, ranks_ in found.items()}
    return {"library_spectra": {kind: int((library_kinds == i).sum()) for i, kind in enumerate(KINDS)},
            "query_spectra": {kind: int((query_kinds == i).sum()) for i, kind in enumerate(KINDS)},
            "positive_pairs": positive_pairs(by_compound),
            "all_queries": {name: rounded_recalls(ranks_) for name, ranks_ in found.items()},
            "by_kind": by_group,
            "vs_blend": {name: mcnemar_at_1(first[f"blend, {name}"], first["blend"])
                         for name in ("mass ceiling", "kind-consistent")}}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.above_mass")
    table_arguments(parser)
    args = parser.parse_args(argv)
    if args.window:
        parser.error("--window: EI spectra have no precursor to search a window around")
    queries, library, source = read_tables(parser, args)
    write_json({"queries": source, "library": args.tables[-1], "floor": FLOOR, "depth": DEPTH, "blend": BLEND}
               | above_mass(queries, library), args.out)


if __name__ == "__main__":
    main()
