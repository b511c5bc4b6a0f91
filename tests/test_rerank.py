"""Re-ranking embedding hits by a spectral similarity (search --rerank), on the bundled EI data."""

import json

import numpy as np
import pyarrow.parquet as pq
from matchms import Spectrum
from matchms.similarity import CosineGreedy

from llm4ms.spectra.nominal import nominal_mass
from llm4ms.tables import PROVENANCE_KEY


def test_nominal_mass_keeps_the_strongest_peak_per_integer():
    mz, intensities = nominal_mass(np.array([64.6, 65.0, 91.05, 91.2]), np.array([0.4, 0.2, 0.5, 0.8]))
    assert mz.tolist() == [65.0, 91.0]
    assert intensities.tolist() == [0.5, 1.0]  # 0.4 and 0.8, renormalised to a maximum of 1


def _weighted_cosine_best(queries, library):
    """Per query, (best library id, score) by m/z^3·I^0.6 cosine at nominal mass, computed with matchms."""
    similarity = CosineGreedy(tolerance=0.1, mz_power=3.0, intensity_power=0.6)

    def spectrum(row):
        return Spectrum(*nominal_mass(np.array(row["mz"]), np.array(row["intensities"])),
                        metadata_harmonization=False)

    library_spectra = [(row["id"], spectrum(row)) for row in library]
    best = {}
    for row in queries:
        query = spectrum(row)
        scores = [(float(similarity.pair(ref, query)["score"]), ident) for ident, ref in library_spectra]
        top = max(scores, key=lambda item: item[0])
        best[row["id"]] = (top[1], top[0])
    return best


def test_rerank_over_the_whole_library_is_the_spectral_ranking(cli, ei):
    # With a depth covering the library, the random tiny model's ranking no longer matters: the top hit of
    # every query must be the library spectrum the weighted cosine ranks first, when it ranks alone.
    result = cli("search", ei / "queries.emb.parquet", ei / "library.index", "-o", ei / "hits.parquet",
                 "--group", "spectrum", "-k", "3", "--rerank", "weighted-cosine", "--rerank-depth", "1000",
                 "--rerank-weight", "1")
    assert result.exit_code == 0, result.stderr
    hits = pq.read_table(ei / "hits.parquet").to_pylist()
    columns = ["id", "mz", "intensities"]
    expected = _weighted_cosine_best(pq.read_table(ei / "queries.parquet", columns=columns).to_pylist(),
                                     pq.read_table(ei / "library.parquet", columns=columns).to_pylist())
    top = {h["query_id"]: (h["library_id"], h["score"]) for h in hits if h["rank"] == 1}
    assert set(top) == set(expected)
    for query_id, (library_id, score) in expected.items():
        assert top[query_id] == (library_id, score)
    search = json.loads(pq.read_schema(ei / "hits.parquet").metadata[PROVENANCE_KEY])["history"][-1]
    assert search["parameters"]["rerank"] == "weighted-cosine" and search["parameters"]["rerank_depth"] == 1000
    library = search["parameters"]["library_history"]  # what was searched, whatever the index file is called
    assert [step["step"] for step in library] == ["textualize", "embed", "build-index"]
    assert library[0]["inputs"] == ["ei_library.msp"]
    assert search["parameters"]["rerank_weight"] == 1


def test_rerank_only_reorders_the_embedding_candidates(cli, ei):
    # Depth 1: the one candidate per query is the embedding's own top spectrum, only its score changes.
    assert cli("search", ei / "queries.emb.parquet", ei / "library.index", "-o", ei / "plain.parquet",
               "--group", "spectrum", "-k", "1").exit_code == 0
    assert cli("search", ei / "queries.emb.parquet", ei / "library.index", "-o", ei / "depth1.parquet",
               "--group", "spectrum", "-k", "1", "--rerank", "cosine", "--rerank-depth", "1",
               "--rerank-weight", "1").exit_code == 0
    plain, depth1 = (pq.read_table(ei / name).to_pylist() for name in ("plain.parquet", "depth1.parquet"))
    assert [h["library_id"] for h in plain] == [h["library_id"] for h in depth1]
    assert all(0 <= h["score"] <= 1 for h in depth1)
    assert [h["score"] for h in plain] != [h["score"] for h in depth1]


def test_default_rerank_score_is_the_mean_of_spectral_and_embedding_scores(cli, ei):
    # Depth 1 again, so all three runs score the same pair per query: the default weight of 0.5 must give
    # exactly the mean of the embedding cosine (no re-ranking) and the spectral similarity (weight 1).
    runs = {"plain": [], "spectral": ["--rerank", "cosine", "--rerank-depth", "1", "--rerank-weight", "1"],
            "blend": ["--rerank", "cosine", "--rerank-depth", "1"]}
    scores = {}
    for name, extra in runs.items():
        assert cli("search", ei / "queries.emb.parquet", ei / "library.index", "-o", ei / f"{name}.parquet",
                   "--group", "spectrum", "-k", "1", *extra).exit_code == 0
        scores[name] = {h["query_id"]: h["score"] for h in pq.read_table(ei / f"{name}.parquet").to_pylist()}
    assert set(scores["blend"]) == set(scores["plain"]) and scores["blend"]
    for query_id, blended in scores["blend"].items():
        assert blended == 0.5 * scores["spectral"][query_id] + 0.5 * scores["plain"][query_id]
    search = json.loads(pq.read_schema(ei / "blend.parquet").metadata[PROVENANCE_KEY])["history"][-1]
    assert search["parameters"]["rerank_weight"] == 0.5


def test_rerank_still_returns_k_compounds_when_the_depth_holds_fewer(cli, ei):
    # Three spectra hold at most three compounds; -k 8 must still give every query the embedding's eight best
    # compounds (each by its best spectrum, re-scored), and --group spectrum its eight best spectra.
    def found(group, *extra):
        name = f"{group}{len(extra)}.parquet"
        assert cli("search", ei / "queries.emb.parquet", ei / "library.index", "-o", ei / name, "-k", "8",
                   "--group", group, *extra).exit_code == 0
        hits = {}
        for hit in pq.read_table(ei / name).to_pylist():
            hits.setdefault(hit["query_id"], set()).add(
                hit["library_id"] if group == "spectrum" else (hit["inchikey"] or hit["library_id"])[:14])
        return hits

    for group in ("compound", "spectrum"):
        plain, reranked = found(group), found(group, "--rerank", "cosine", "--rerank-depth", "3")
        assert reranked == plain and {len(h) for h in plain.values()} == {8}


def test_asking_for_more_hits_never_changes_the_first_ones(cli, ei):
    # The best --rerank-depth spectra are re-ranked whatever -k is; with extra candidates merged in for a
    # larger -k (as until 2026-11-29), the top hit of some queries changed with -k.
    for group in ("compound", "spectrum"):
        ranked = {}
        for k in (1, 3, 8):
            name = f"{group}-k{k}.parquet"
            assert cli("search", ei / "queries.emb.parquet", ei / "library.index", "-o", ei / name, "-k", str(k),
                       "--group", group, "--rerank", "weighted-cosine", "--rerank-depth", "3").exit_code == 0
            ranked[k] = {}
            for hit in pq.read_table(ei / name).to_pylist():
                ranked[k].setdefault(hit["query_id"], []).append((hit["library_id"], hit["score"]))
        for query, hits in ranked[8].items():
            assert len(hits) == 8 and ranked[1][query] == hits[:1] and ranked[3][query] == hits[:3], query
