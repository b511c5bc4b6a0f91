"""The benchmark harness on the bundled data: every method must find each library spectrum's own compound
when the library is searched with itself, and the report must list what ran."""

import json
from dataclasses import replace

import pyarrow.parquet as pq
import pytest

from benchmarks.compare import METHODS, run
from benchmarks.data import custom_task
from benchmarks.methods.llm4ms import Llm4msOptions
from benchmarks.report import markdown, plot
from llm4ms.scoring import inchikey_block


@pytest.mark.parametrize("library, like", [("ei_library.msp", "ei"), ("ms2_library.mgf", "ms2")])
def test_self_search_finds_every_compound_first(data, tmp_path, tiny_model, library, like):
    task = custom_task(str(data / library), str(data / library), like)
    report = run(task, list(METHODS), tmp_path / "work", tmp_path / "out", Llm4msOptions(model=str(tiny_model)),
                 log=lambda message: None)
    truth = {row["id"]: inchikey_block(row["inchikey"])
             for row in pq.read_table(next((tmp_path / "work" / "spectra").glob("*.auto.*.parquet"))).to_pylist()}
    ran = set(report["methods"])
    expected = set(METHODS) - ({"cosine-window", "weighted-cosine-window", "entropy-identity", "llm4ms-window",
                                "hybrid-window"} if like == "ei" else {"spec2vec-nominal", "mz-cosine"})
    assert ran == expected
    for name, result in report["methods"].items():
        assert result["n_queries"] == report["n_queries"] == report["n_library"], name
        # A spectrum is its own best match (score 1) in every method, so its compound ranks first ...
        misses = [h for h in pq.read_table(result["hits"]).to_pylist()
                  if h["rank"] == 1 and inchikey_block(h["inchikey"]) != truth[h["query_id"]]]
        # ... except where flash entropy's cleaning (peaks within 1.6 Da of the precursor removed) leaves no
        # peak to match: two MS/MS spectra here hold only their precursor ion; nothing scores above 0 then.
        if name.startswith("entropy") and like == "ms2":
            assert len(misses) == 2 and all(h["score"] == 0 for h in misses), name
        else:
            assert misses == [] and result["recall@1"] == 1.0, name
        assert result["search_s"] > 0 and result["end_to_end_queries_per_s"] > 0, name
    assert report["methods"]["llm4ms"]["settings"]["embedding_spectra_per_s"] > 0
    json.dumps(report)  # what the command saves


def test_report_table_and_plot(data, tmp_path):
    task = custom_task(str(data / "ms2_queries.mgf"), str(data / "ms2_library.mgf"), "ms2")
    task = replace(task, slow_queries=5)
    report = run(task, ["cosine", "entropy-identity"], tmp_path / "work", tmp_path / "out",
                 Llm4msOptions(), log=lambda message: None)
    cosine, identity = report["methods"]["cosine"], report["methods"]["entropy-identity"]
    assert cosine["subset"] and cosine["n_queries"] == 5 and report["subset"] == {"n": 5, "seed": 0}
    assert not identity["subset"] and identity["n_queries"] == 12
    table = markdown(report)
    assert "| cosine (matchms CosineGreedy) | 5 (subset) |" in table
    assert "R@1 on subset (5)" in table and "flash entropy, identity search" in table
    plot(report, tmp_path / "recall.png")
    assert (tmp_path / "recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_spectra_cache_keeps_its_rejection_count(data, tmp_path):
    # The mzML file has one spectrum llm4ms rejects; a cached table whose rejection list is missing (a run
    # stopped between the two writes) must be remade, not reported as having rejected none.
    from benchmarks.data import spectra_table

    table, rejected = spectra_table(str(data / "ms2_queries.mzML"), tmp_path)
    assert rejected == 1
    table.with_suffix(".rejected").unlink()
    assert spectra_table(str(data / "ms2_queries.mzML"), tmp_path) == (table, 1)
    assert sorted(p.suffix for p in table.parent.iterdir()) == [".parquet", ".rejected"]  # no temporary left


def test_fusion_ends_are_plain_search_and_rerank(cli, ei):
    # w = 0 must rank as `llm4ms search` does, w = 1 as `search --rerank --rerank-weight 1`, and w = 0.5 as
    # `search --rerank` with its default weight: they tie the fused score's measurement (RESULTS.md) to what
    # the commands compute.
    from benchmarks.fusion import fusion_recall

    fused = fusion_recall(pq.read_table(ei / "queries.emb.parquet"), pq.read_table(ei / "library.emb.parquet"),
                          "weighted-cosine", None, 5)
    rerank = ["--rerank", "weighted-cosine", "--rerank-depth", "5"]
    for weight, extra, keys in (("0.0", [], ["recall@1"]),
                                ("1.0", rerank + ["--rerank-weight", "1"], list(fused["1.0"])),
                                ("0.5", rerank, list(fused["0.5"]))):
        hits, summary = ei / f"hits-{weight}.parquet", ei / f"summary-{weight}.json"
        assert cli("search", "-q", ei / "queries.emb.parquet", ei / "library.index", "-o", hits, *extra).exit_code == 0
        assert cli("score", hits, "--truth", ei / "queries.parquet", "--summary", summary).exit_code == 0
        scored = json.loads(summary.read_text())
        assert {k: fused[weight][k] for k in keys} == {k: round(scored[k], 4) for k in keys}, weight
    assert fused["1.0"] != fused["0.0"]  # the tiny model's ranking and the spectral one differ on this data


def test_query_expansion_starts_from_search_and_n1_keeps_rank_one(ei):
    # Its plain rows must be the figures of plain search and of search's default hybrid (fusion's w = 0 and
    # w = 0.5, tied to the commands above), or its comparisons would be against something else; and
    # expanding a query with its single best spectrum cannot change which spectrum is first (the reason
    # n = 1 ties the plain search in RESULTS.md), while augmenting the library does move the vectors.
    import numpy as np

    from benchmarks.fusion import fusion_recall
    from benchmarks.hubness import unit_vectors
    from benchmarks.query_expansion import measure, vectors_for
    from llm4ms.index.search import SearchSettings

    queries, library = pq.read_table(ei / "queries.emb.parquet"), pq.read_table(ei / "library.emb.parquet")
    result = measure(queries, library, None, ("qe", 1, 0.0))
    fused = fusion_recall(queries, library, "weighted-cosine", None, SearchSettings.rerank_depth)
    plain = {k: v for k, v in result["plain"].items() if k.startswith("recall")}
    hybrid = {k: v for k, v in result["hybrid"]["plain"].items() if k.startswith("recall")}
    assert (plain, hybrid) == (fused["0.0"], fused["0.5"])
    assert result["settings"]["qe n 1 alpha 0"]["recall@1"] == plain["recall@1"]
    q, lib = unit_vectors(queries), unit_vectors(library)
    expanded, same = vectors_for(("qe", 1, 0.0), q, lib, None)
    assert same is lib and not np.allclose(expanded, q)
    scores, first = expanded @ lib.T, (q @ lib.T).argmax(1)
    assert (scores[np.arange(len(q)), first] >= scores.max(1) - 1e-6).all()  # first still, or tied first
    _, augmented = vectors_for(("dba", 2, 0.0), q, lib, None)
    assert np.allclose(np.linalg.norm(augmented, axis=1), 1) and not np.allclose(augmented, lib)


def test_blend_scales_keep_each_score_order_and_raw_half_is_search(ei):
    # The control row must be search's default hybrid (fusion's w = 0.5, tied to the commands above), and
    # every scale must be a monotone map of one score over the query's candidates: it may change how the
    # two scores are weighed, never either score's own ranking.
    import numpy as np

    from benchmarks.blend_scale import CONTROL, VARIANTS, blend_ranks, scaled
    from benchmarks.fusion import fusion_recall
    from benchmarks.hubness import scored, unit_vectors
    from llm4ms.index.search import SearchSettings

    queries, library = pq.read_table(ei / "queries.emb.parquet"), pq.read_table(ei / "library.emb.parquet")
    found = blend_ranks(unit_vectors(queries), unit_vectors(library), queries, library, None)
    control = {k: v for k, v in scored(found[CONTROL], found[CONTROL]).items() if k.startswith("recall")}
    assert control == fusion_recall(queries, library, "weighted-cosine", None, SearchSettings.rerank_depth)["0.5"]
    values = np.array([0.91, 0.2, 0.55, 0.93, 0.4])
    for variant in VARIANTS:
        assert (np.argsort(-scaled(values, variant), kind="stable") == np.argsort(-values, kind="stable")).all()
    assert scaled(values, "minmax").min() == 0 and scaled(values, "minmax").max() == 1
    assert not scaled(np.full(3, 0.7), "z").any()


def test_whitening_is_the_transform_its_figures_name(ei):
    # Full whitening must leave the library with the identity covariance, p 0 over every dimension must be a
    # rotation of the centred vectors (their cosines kept), fewer dimensions the leading components, and the
    # exact mean pair cosine the mean of the cosines off the diagonal: else the figures name another map.
    import numpy as np

    from benchmarks.hubness import unit_vectors
    from benchmarks.whitening import anisotropy, fitted, whitened

    library = unit_vectors(pq.read_table(ei / "library.emb.parquet"))
    width = library.shape[1]
    fit = fitted(library)
    mu, eigenvectors, eigenvalues = fit
    full = ((library - mu) @ eigenvectors) * eigenvalues ** -0.5
    assert np.allclose(np.cov(full, rowvar=False), np.eye(width), atol=1e-6)
    assert np.allclose(whitened(library, fit, width, 0.5), full / np.linalg.norm(full, axis=1, keepdims=True),
                       atol=1e-5)
    centred = (library - mu) / np.linalg.norm(library - mu, axis=1, keepdims=True)
    rotated = whitened(library, fit, width, 0.0)
    assert np.allclose(rotated @ rotated.T, centred @ centred.T, atol=1e-5)
    assert not np.allclose(rotated @ rotated.T, library @ library.T, atol=1e-3)  # centring moved the cosines
    few = whitened(library, fit, 4, 0.0)
    assert few.shape == (len(library), 4) and (eigenvalues[:-1] >= eigenvalues[1:]).all()
    cosines = library @ library.T
    off_diagonal = cosines[~np.eye(len(library), dtype=bool)].mean()
    assert anisotropy(library, fit)["mean_pair_cosine"] == pytest.approx(off_diagonal, abs=1e-4)


def test_layer_mix_last_layer_is_the_embedding_and_mixes_add_cosines(ei, tmp_path, tiny_model):
    # The layer file's last layer must be the table's own embedding (else the comparison is against another
    # encoder, and compare refuses it), its first layer another vector, and a mix must rank by the last
    # layer's cosine plus w times layer L's, as its name says.
    import numpy as np

    from benchmarks.hubness import unit_vectors
    from benchmarks.layer_mix import agreeing, centred, main, mixed

    table = pq.read_table(ei / "queries.emb.parquet")
    main(["embed", str(ei / "queries.emb.parquet"), "-o", str(tmp_path / "q.npy"), "--model", str(tiny_model)])
    layers = np.load(tmp_path / "q.npy")
    assert layers.shape == (table.num_rows, 2, unit_vectors(table).shape[1])
    assert agreeing(layers, table, "q.npy") is layers
    assert not np.allclose(layers[:, 0], layers[:, 1], atol=1e-2)
    with pytest.raises(SystemExit, match="not the layers of this table .lowest cosine"):
        agreeing(layers[::-1], table, "reversed")
    with pytest.raises(SystemExit, match="not the layers of this table .11 rows"):
        agreeing(layers[1:], table, "short")
    both = mixed(layers, (1, 0.5))
    expected = (layers[:, -1] @ layers[:, -1].T + 0.5 * layers[:, 0] @ layers[:, 0].T) / 1.5
    assert np.allclose(both @ both.T, expected, atol=1e-5) and np.array_equal(mixed(layers, (1, None)), layers[:, 0])
    # --centre: the last layer (the embedding, the comparison's control) untouched, the others of unit length
    # again and no longer the same vectors
    _, centred_layers = centred(layers, layers)
    assert np.array_equal(centred_layers[:, -1], layers[:, -1])
    assert np.allclose(np.linalg.norm(centred_layers[:, 0], axis=1), 1, atol=1e-5)
    assert not np.allclose(centred_layers[:, 0], layers[:, 0], atol=1e-3)


def test_held_out_queries_leave_each_compound_in_the_library(ei):
    # The library-only check of the fused score's weight: a held-out spectrum must still have its compound
    # among the rest, or it could not be found at all.
    from benchmarks.fusion import held_out_of
    from llm4ms.index.search import compound_keys

    library = pq.read_table(ei / "library.emb.parquet")
    keys = compound_keys(library)
    queries, rest = held_out_of(library, 1000)
    query_keys, rest_keys = compound_keys(queries), set(compound_keys(rest))
    several = {key for key in set(keys) if list(keys).count(key) > 1}
    assert len(queries) + len(rest) == len(library)
    assert sorted(query_keys) == sorted(several) and several
    assert set(query_keys) <= rest_keys
    assert not set(queries.column("id").to_pylist()) & set(rest.column("id").to_pylist())
    assert len(held_out_of(library, 2)[0]) == 2


def test_by_spectra_count_groups_queries_by_their_compounds_library_spectra(tmp_path):
    import pyarrow as pa

    from benchmarks.by_spectra_count import split

    key = "{}-UHFFFAOYSA-N".format
    library = pa.table({"id": ["a1", "b1", "b2", "c1", "c2", "c3", "c4", "x"],
                        "inchikey": [key("A" * 14), key("B" * 14), key("B" * 14)] + [key("C" * 14)] * 4 + [None]})
    rows = [("q1", key("A" * 14), "1"), ("q2", key("A" * 14), ""), ("q3", key("B" * 14), "2"),
            ("q4", key("C" * 14), "1"), ("q5", key("D" * 14), "")]
    per_query = tmp_path / "per_query.tsv"
    per_query.write_text('# llm4ms {"format": "llm4ms.scores"}\nquery_id\tinchikey\trank\n'
                         + "".join("\t".join(row) + "\n" for row in rows))
    assert split(library, per_query) == {"0": {"queries": 1, "recall@1": 0.0}, "1": {"queries": 2, "recall@1": 0.5},
                                         "2-3": {"queries": 1, "recall@1": 0.0}, "4+": {"queries": 1, "recall@1": 1.0}}


def test_held_out_split_removes_whole_compounds_by_their_key_alone(cli, work, tmp_path):
    from benchmarks.held_out import score, split

    assert cli("textualize", "-q", work / "ei_library.msp", "-o", work / "library.parquet").exit_code == 0
    library = pq.read_table(work / "library.parquet")
    keys = [inchikey_block(k) for k in library.column("inchikey").to_pylist()]

    def held_out(name, seed):
        summary = split(str(work / "library.parquet"), str(tmp_path / f"{name}.parquet"),
                        str(tmp_path / f"{name}.json"), 0.5, seed)
        return summary, set(json.loads((tmp_path / f"{name}.json").read_text())["held_out"])

    summary, held = held_out("split", 0)
    trained = pq.read_table(tmp_path / "split.parquet")
    assert 0 < len(held) < len(set(keys)) and summary["held_out_compounds"] == len(held)
    # every spectrum of a held-out compound leaves, every other one stays, in order, with its provenance
    assert trained.column("id").to_pylist() == [i for i, k in zip(library.column("id").to_pylist(), keys)
                                                if k not in held]
    assert trained.schema.metadata == library.schema.metadata
    assert held_out("again", 0)[1] == held and held_out("other", 1)[1] != held

    out_key = next(k for k in library.column("inchikey").to_pylist() if inchikey_block(k) in held)
    in_key = next(k for k in library.column("inchikey").to_pylist() if inchikey_block(k) not in held)
    for name, ranks in (("m", ("1", "", "3")), ("n", ("2", "1", "1"))):
        rows = zip(("q1", "q2", "q3"), (out_key, out_key, in_key), ranks)
        (tmp_path / f"{name}.tsv").write_text(  # as `llm4ms score -o` writes it, with its provenance line
            '# llm4ms {"format": "llm4ms.per-query"}\nquery_id\tinchikey\trank\n'
            + "".join(f"{q}\t{key}\t{rank}\n" for q, key, rank in rows))
    report = score(str(tmp_path / "split.json"), {n: str(tmp_path / f"{n}.tsv") for n in "mn"}, [("m", "n")])
    assert report["m"] == {"trained": {"queries": 1, "recall@1": 0.0, "recall@5": 1.0, "recall@10": 1.0},
                           "held_out": {"queries": 2, "recall@1": 0.5, "recall@5": 0.5, "recall@10": 0.5}}
    paired = report["m vs n"]
    assert (paired["trained"]["only_first_at_1"], paired["trained"]["only_second_at_1"]) == (0, 1)
    assert (paired["held_out"]["only_first_at_1"], paired["held_out"]["only_second_at_1"]) == (1, 1)


def test_text_information_scores_as_matchms_and_keeps_the_texts_peaks(cli, work):
    # The "all peaks" row must be the harness's weighted cosine (matchms CosineGreedy at nominal mass), and
    # the text rows must hold exactly the peaks the text names, in its order, or the table measures
    # something other than what the encoder reads.
    import numpy as np
    from matchms import Spectrum
    from matchms.similarity import CosineGreedy

    from benchmarks.text_information import binned, measure, variants
    from llm4ms.spectra.nominal import nominal_mass
    from llm4ms.textualize.settings import DEFAULTS, EI

    for role in ("library", "queries"):
        assert cli("textualize", "-q", work / f"ei_{role}.msp", "-o", work / f"{role}.parquet").exit_code == 0
    library, queries = pq.read_table(work / "library.parquet"), pq.read_table(work / "queries.parquet")
    profile, steps = variants(library, DEFAULTS[EI], 0)
    assert [name.split(" (")[0].split(",")[0] for name, _, _ in steps] == [
        "all peaks", "text peaks", "text order", "text set", "30 peaks weighed most"]
    assert profile[0] == 1 and np.all(np.diff(profile) <= 0)
    _, query_steps = variants(queries, DEFAULTS[EI], 0, profile)
    full_library, full_queries = steps[0][1], query_steps[0][1]
    vectors = binned(full_library + full_queries, 0, 3.0, 0.6)
    scores = (vectors[library.num_rows:] @ vectors[:library.num_rows].T).toarray()
    similarity = CosineGreedy(tolerance=0.1, mz_power=3.0, intensity_power=0.6)

    def spectrum(row):
        return Spectrum(*nominal_mass(np.array(row["mz"]), np.array(row["intensities"])), metadata={},
                        metadata_harmonization=False)

    for q, query in enumerate(queries.to_pylist()[:4]):
        for lib, reference in enumerate(library.to_pylist()):
            expected = float(similarity.pair(spectrum(reference), spectrum(query))["score"])
            assert scores[q, lib] == pytest.approx(expected, abs=1e-9)
    for peaks, text in zip(steps[1][1], library.column("text").to_pylist()):
        assert [f"{mz:.0f}" for mz, _ in peaks] == text.split(": ")[1].split()
    result = measure(library, library, EI, 0, 3.0, 0.6)
    assert result["all peaks"]["recall@1"] == 1.0  # every spectrum finds itself
    assert result["text set (all peaks equal)"]["recall@1"] <= result["all peaks"]["recall@1"]


def test_oracle_counts_a_query_when_any_method_ranks_it_first():
    import pandas as pd

    from benchmarks.oracle import oracle

    def table(ranks):
        return pd.DataFrame({"query_id": ["q1", "q2", "q3", "q4"], "rank": ranks})

    result = oracle({"a": table([1, 2, None, 11]), "b": table([3, 1, None, 12]), "c": table([1, None, 5, None])})
    assert result["recall@1"] == {"a": 0.25, "b": 0.25, "c": 0.25}
    assert result["pairs"] == {"a + b": 0.5, "b + c": 0.5, "a + c": 0.25}
    assert result["any_method_at_1"] == 0.5 and result["any_method_in_top_10"] == 0.75
    assert result["paired"]["a vs b"] == {"only_first_at_1": 1, "only_second_at_1": 1, "mcnemar_exact_p": 1.0}
    assert result["paired"]["b vs c"] == {"only_first_at_1": 1, "only_second_at_1": 1, "mcnemar_exact_p": 1.0}
    many = oracle({"a": pd.DataFrame({"query_id": range(12), "rank": [1] * 12}),
                   "b": pd.DataFrame({"query_id": range(12), "rank": [1] + [2] * 11})})
    assert many["paired"]["a vs b"] == {"only_first_at_1": 11, "only_second_at_1": 0, "mcnemar_exact_p": 0.001}
    with pytest.raises(ValueError, match="same queries"):
        oracle({"a": table([1, 1, 1, 1]), "b": table([1, 1, 1, 1]).iloc[:3]})


def test_oracle_reads_score_per_query_tables_with_their_provenance_line(tmp_path, capsys):
    # score's per-query TSV starts with '# llm4ms {json}'; a name holding '#' must stay whole
    from benchmarks.oracle import main

    for name, ranks in (("a", (1, 2)), ("b", (3, 1))):
        (tmp_path / f"{name}.tsv").write_text('# llm4ms {"format": "llm4ms.per-query"}\nquery_id\tname\trank\n'
                                              + "".join(f"q{i}\tC#{i}\t{r}\n" for i, r in enumerate(ranks)))
    main([f"a={tmp_path / 'a.tsv'}", f"b={tmp_path / 'b.tsv'}", "--out", str(tmp_path / "o.json")])
    result = json.loads((tmp_path / "o.json").read_text())
    assert result["queries"] == 2 and result["recall@1"] == {"a": 0.5, "b": 0.5}
    assert result["paired"]["a vs b"]["only_first_at_1"] == 1


def test_ensemble_sums_cosines_and_scores_every_combination(cli, work):
    # Real EI spectra searched against themselves: a member twice ranks as once (a sum of equal cosines),
    # and a member that knows nothing (the same vector for every spectrum) leaves the other's ranking alone.
    import numpy as np

    from benchmarks.ensemble import ensemble
    from benchmarks.text_information import binned, variants
    from llm4ms.textualize.settings import DEFAULTS, EI

    assert cli("textualize", "-q", work / "ei_library.msp", "-o", work / "library.parquet").exit_code == 0
    library = pq.read_table(work / "library.parquet")
    truth = [inchikey_block(k) for k in library.column("inchikey").to_pylist()]
    _, steps = variants(library, DEFAULTS[EI], 0)
    cosine = binned(steps[0][1], 0, 3.0, 0.6).toarray()
    blank = np.ones_like(cosine) / np.sqrt(cosine.shape[1])
    result, found = ensemble({"cosine": (cosine, cosine), "again": (cosine, cosine), "blank": (blank, blank)},
                             truth, library)
    assert set(found["cosine"].values()) == {1}
    assert list(result) == ["cosine", "again", "blank", "cosine + again", "cosine + blank", "again + blank",
                            "cosine + again + blank"]
    assert result["cosine"]["recall@1"] == 1.0 and result["blank"]["recall@1"] < 0.5
    assert result["cosine + again"] == result["cosine + blank"] == result["cosine"]


def test_retext_rewrites_a_training_set_as_textualize_would_and_train_reads_it(cli, work, capsys):
    # Only the texts and the textualization record may change, to exactly what `textualize --peak-choice`
    # writes, and train must still find the mining summary and positives it reads.
    from benchmarks.training.retext import main as retext
    from llm4ms.steps.train import load_training_set
    from llm4ms.training import TrainSettings

    for choice in ("strongest", "mz-weighted"):
        assert cli("textualize", "-q", work / "ei_library.msp", "-o", work / f"{choice}.parquet",
                   "--peak-choice", choice).exit_code == 0
    mined, _, summary, _ = load_training_set(str(work / "strongest.parquet"), TrainSettings(),
                                             str(work / "set.parquet"))
    retext([str(work / "set.parquet"), "--peak-choice", "mz-weighted", "-o", str(work / "weighted.set.parquet")])
    assert json.loads(capsys.readouterr().out)["texts_changed"] > 0
    table, provenance, again, _ = load_training_set(str(work / "weighted.set.parquet"), TrainSettings(), None)
    weighted = pq.read_table(work / "mz-weighted.parquet")
    assert table.column("text").to_pylist() == weighted.column("text").to_pylist()
    assert table.drop_columns(["text"]).equals(mined.drop_columns(["text"])) and again == summary
    assert provenance["textualization"] == json.loads(weighted.schema.metadata[b"llm4ms"])["textualization"]
    assert provenance["history"][-1]["inputs"] == ["set.parquet"]


def test_the_lease_check_scores_both_views_as_embed_search_and_score_do(cli, ei, tiny_model):
    # The GPU lease chooses between two-view runs by this check alone, so it must rank as the commands do.
    from benchmarks.training.quick_eval import evaluate

    for role in ("library", "queries"):
        result = cli("embed", "-q", ei / f"{role}.parquet", "-o", ei / f"{role}.both.parquet", "--model", tiny_model,
                     "--also-peak-choice", "mz-weighted")
        assert result.exit_code == 0, result.stderr
    assert cli("build-index", ei / "library.both.parquet", "-o", ei / "both.index").exit_code == 0
    scored = {}
    for name, queries, index in (("open", "queries.emb.parquet", "library.index"),
                                 ("both", "queries.both.parquet", "both.index")):
        assert cli("search", "-q", ei / queries, ei / index, "-o", ei / f"{name}.hits.parquet").exit_code == 0
        assert cli("score", ei / f"{name}.hits.parquet", "--truth", ei / "queries.parquet",
                   "--summary", ei / f"{name}.json").exit_code == 0
        summary = json.loads((ei / f"{name}.json").read_text())
        scored[name] = {k: round(summary[k], 4) for k in ("recall@1", "recall@5", "recall@10")}
    checked = evaluate(str(tiny_model), None, None, str(ei / "queries.parquet"), str(ei / "library.parquet"), "cpu",
                       False, also_peak_choice="mz-weighted")
    assert checked == scored
    assert scored["both"] != scored["open"]  # the second view changes the tiny model's ranking on this data


def test_library_copies_are_the_templates_texts_of_perturbed_spectra_drawn_per_row(ei):
    # The centroid experiment must be repeatable copy by copy (a re-run embeds only new copies) and must write
    # copies exactly as training writes a perturbed view: same template, same text settings.
    import numpy as np

    from benchmarks.library_copies import copy_table
    from llm4ms import tables
    from llm4ms.textualize import text_with_params
    from llm4ms.training.augment import PROFILES, perturb

    library = pq.read_table(ei / "library.parquet")
    textualization = tables.read_provenance(ei / "library.parquet", "library", (tables.SPECTRA,))["textualization"]
    first, again, second = (copy_table(library, textualization, "instrument", 0, k) for k in (1, 1, 2))
    assert first.equals(again) and first.num_rows == library.num_rows
    assert first.drop_columns(["text"]).equals(library.drop_columns(["text"]))
    texts, originals = first.column("text").to_pylist(), library.column("text").to_pylist()
    assert texts != second.column("text").to_pylist()
    assert sum(a != b for a, b in zip(texts, originals)) > 0.9 * len(texts)
    row = 3
    params = textualization["templates"][library.column("template")[row].as_py()]
    mz, intensity = perturb(np.random.default_rng([0, 1, row]), library.column("mz")[row].as_py(),
                            library.column("intensities")[row].as_py(), PROFILES["instrument"], False)
    assert texts[row] == text_with_params(mz, intensity, None, library.column("template")[row].as_py(), params)[0]


def test_hub_discount_is_csls_on_the_library_side(ei):
    # r(y) must be the mean cosine to the k nearest other spectra (of other compounds when asked), and β 0 must
    # rank as the embedding search does, or the hubness figures would not be about llm4ms's search.
    import numpy as np

    from benchmarks.fusion import fusion_recall
    from benchmarks.hubness import hubness, neighbourhood, unit_vectors
    from llm4ms.index.search import compound_keys

    queries, library = pq.read_table(ei / "queries.emb.parquet"), pq.read_table(ei / "library.emb.parquet")
    vectors, keys = unit_vectors(library), compound_keys(library)
    cosine = vectors @ vectors.T
    assert len(set(keys)) < len(keys)  # some compound has several spectra, so the two variants differ
    for other in (True, False):
        r = neighbourhood(vectors, keys, 3, other)
        for row in range(len(vectors)):
            allowed = [j for j in range(len(vectors)) if j != row and not (other and keys[j] == keys[row])]
            assert r[row] == pytest.approx(np.sort(cosine[row, allowed])[-3:].mean(), abs=1e-5)
    result = hubness(queries, library, None)
    plain = fusion_recall(queries, library, "weighted-cosine", None, 50)["0.0"]
    assert result["beta 0"]["recall@1"] == plain["recall@1"]
    assert result["beta 0"]["vs beta 0"]["only_first_at_1"] == 0
    assert set(result["discounted"]) == {"other compounds, k 10", "other compounds, k 50",
                                         "any spectrum, k 10", "any spectrum, k 50"}


def test_blend3_extends_searchs_blend_with_the_harness_entropy(ei):
    # a 0.5, b 0 must be search's default blend, a 0, b 0 the embedding alone and a 1, b 0 plain re-ranking
    # (the fused score's rows), or the figures would not be about llm4ms's search.
    from benchmarks.blend3 import blend3
    from benchmarks.data import EI
    from benchmarks.fusion import fusion_recall

    queries, library = pq.read_table(ei / "queries.emb.parquet"), pq.read_table(ei / "library.emb.parquet")
    result = blend3(queries, library, EI, None, 50)
    fused = fusion_recall(queries, library, "weighted-cosine", None, 50)
    assert len(result) == 66
    for setting, weight in (("0.5 0.0", "0.5"), ("0.0 0.0", "0.0"), ("1.0 0.0", "1.0")):
        assert {k: result[setting][k] for k in fused[weight]} == fused[weight], setting
    assert result["0.5 0.0"]["vs default"]["only_first_at_1"] == 0


def test_flash_scores_are_entropy_similarities_by_library_row(data):
    # The flash index sorts its spectra by precursor m/z and drops those cleaning empties; by_row must still
    # put each score against the library row it belongs to.
    import numpy as np
    from matchms.importing import load_from_mgf
    from ms_entropy import calculate_entropy_similarity

    from benchmarks.data import MS2
    from benchmarks.methods.entropy import FlashScores

    spectra = list(load_from_mgf(str(data / "ms2_library.mgf")))
    precursors = np.array([s.get("precursor_mz") for s in spectra], dtype=float)
    flash = FlashScores(spectra, precursors, MS2)
    assert list(flash.order) != sorted(flash.order) and len(flash.order) < len(spectra)
    cleaned = [flash.query_peaks(s, p) for s, p in zip(spectra, precursors)]
    for row in range(len(spectra)):
        scores = flash.by_row(spectra[row], precursors[row])
        expected = [calculate_entropy_similarity(cleaned[row], c, ms2_tolerance_in_da=MS2.tolerance,
                                                 clean_spectra=False) if len(c) and len(cleaned[row]) else 0.0
                    for c in cleaned]
        assert scores == pytest.approx(expected, abs=1e-4), row
        assert scores[row] == pytest.approx(1.0, abs=1e-4) or not len(cleaned[row])


def test_above_mass_keeps_searchs_blend(ei):
    # The blend and embedding rows must be search's (the fused score's), and kind-consistency may only push
    # down candidates of other kinds, so a query with a library spectrum of its own kind never ranks its
    # compound lower with it.
    from benchmarks.above_mass import above_mass
    from benchmarks.fusion import fusion_recall

    queries, library = pq.read_table(ei / "queries.emb.parquet"), pq.read_table(ei / "library.emb.parquet")
    result = above_mass(queries, library)
    assert 0 < result["library_spectra"]["above its compound's mass"] < library.num_rows
    fused = fusion_recall(queries, library, "weighted-cosine", None, 50)
    assert result["all_queries"]["blend"] == fused["0.5"]
    assert result["all_queries"]["llm4ms"] == fused["0.0"]
    assert sum(group["queries"] for group in result["by_kind"].values()) == queries.num_rows
    own = result["by_kind"]["a library spectrum of its own kind"]
    for method in ("llm4ms", "blend"):
        for k, value in own[method].items():
            assert own[f"{method}, kind-consistent"][k] >= value, (method, k)


def test_projection_head_starts_as_the_embedding_and_trains_on_library_pairs_only(ei, tmp_path):
    # No step: the identity map must rank exactly as the embedding does. Positives only from trained compounds
    # with two or more library spectra, never from held-out ones.
    from benchmarks.projection_head import main, same_compound_groups

    assert same_compound_groups(["A", "B", "A", None, "C", "C", "B"], {"C"}) == [[0, 2], [1, 6]]
    out = tmp_path / "head.json"
    main([str(ei / "queries.emb.parquet"), str(ei / "library.emb.parquet"), "--steps", "0", "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["recall_after_map"] == result["recall_embedding"]
    assert 0 < result["recall_embedding"]["all"]["recall@10"] <= 1


def test_compound_score_soft_maximum(ei):
    # tau 0 must rank as search and search --rerank do (the fused score's rows), and a soft maximum must let
    # a compound with two near candidates pass one with a single slightly better one only as tau grows.
    import numpy as np

    from benchmarks.compound_score import compound_score, soft_ranked
    from benchmarks.fusion import fusion_recall

    keys, rows = np.array(["A", "B", "B", "C"]), np.arange(4)
    score = np.array([0.90, 0.89, 0.89, 0.50])
    assert soft_ranked(keys, rows, score, 4, 0.0)[:2] == ["A", "B"]
    assert soft_ranked(keys, rows, score, 4, 0.002)[:2] == ["A", "B"]  # 0.89 + 0.002 log 2 < 0.90
    assert soft_ranked(keys, rows, score, 4, 0.05)[:2] == ["B", "A"]   # 0.89 + 0.05 log 2 > 0.90
    assert soft_ranked(keys, rows, score, 2, 0.05) == ["A", "B", "C"]  # rows past the pool keep their order

    queries, library = pq.read_table(ei / "queries.emb.parquet"), pq.read_table(ei / "library.emb.parquet")
    measured = compound_score(queries, library, None, 50)
    result, several = measured["recall_by_tau"], measured["queries with 2+ candidate spectra of (embedding, tau 0)"]
    fused = fusion_recall(queries, library, "weighted-cosine", None, 50)
    for row, weight in (("embedding", "0.0"), ("blend", "0.5")):
        assert {k: result[row]["tau 0.0"][k] for k in fused[weight]} == fused[weight], row
        assert result[row]["tau 0.0"]["vs tau 0"]["only_first_at_1"] == 0
    wrong_at_1 = round((1 - fused["0.0"]["recall@1"]) * queries.num_rows)
    assert 0 < several["own compound"] <= queries.num_rows
    assert several["first-ranked wrong compound"] <= wrong_at_1


def test_learned_rerank_features_hold_searchs_scores(ei):
    # The hybrid, cosine and weighted-cosine columns ranked alone must give the fused score's rows (search's
    # blend, the embedding alone, plain re-ranking), or the models would be compared with something else.
    from types import SimpleNamespace

    import numpy as np

    from benchmarks.data import EI
    from benchmarks.fusion import fusion_recall, recalls
    from benchmarks.learned_rerank import FEATURES, collect, ranked_by
    from llm4ms.index.search import SearchSettings, reranker_for

    queries, library = pq.read_table(ei / "queries.emb.parquet"), pq.read_table(ei / "library.emb.parquet")
    data = collect(queries, library, EI, None, 50, "test")
    fused = fusion_recall(queries, library, "weighted-cosine", None, 50)
    for column, weight in (("hybrid", "0.5"), ("cosine", "0.0"), ("weighted cosine", "1.0")):
        hits, _ = ranked_by(data, data["X"][:, FEATURES.index(column)])
        assert recalls(hits, data["queries"]) == fused[weight], column
    # and the hybrid column holds the very scores search --rerank weighted-cosine gives those candidates
    reranker = reranker_for(SimpleNamespace(library=library), SearchSettings(rerank="weighted-cosine"))
    for q, rows, pooled, features in data["found"]:
        query = [queries.column(c)[q].as_py() for c in ("mz", "intensities", "template")]
        hits = list(zip(rows[:pooled].tolist(), features[:, FEATURES.index("cosine")]))
        expected = [score for _, score in reranker.scores(hits, *query)]
        assert features[:, FEATURES.index("hybrid")] == pytest.approx(expected, abs=1e-6), q
    assert data["X"].shape == (len(data["y"]), len(FEATURES)) and data["y"].any()
    for name in ("hybrid", "flash entropy", "reverse weighted cosine"):
        gaps = data["X"][:, FEATURES.index(f"{name} gap to best")]
        assert (gaps <= 0).all() and np.isclose(gaps.max(), 0)
        ranks = data["X"][:, FEATURES.index(f"{name} rank")]
        assert ((ranks == 0) == (gaps == 0)).sum() >= data["queries"] - 1  # the best ranks first, ties aside
    matched = data["X"][:, FEATURES.index("matched / query peaks")]
    assert ((0 <= matched) & (matched <= 1)).all() and (matched > 0).any()
    # reverse >= forward: leaving out unmatched query peaks can only raise the cosine
    forward, reverse = (data["X"][:, FEATURES.index(c)] for c in ("weighted cosine", "reverse weighted cosine"))
    assert (reverse >= forward - 1e-6).all() and (reverse > forward + 1e-3).any()


def test_reverse_query_leaves_out_the_peaks_the_library_spectrum_lacks():
    import numpy as np
    from matchms import Spectrum

    from benchmarks.learned_rerank import reverse_query

    query = Spectrum(np.array([50.0, 77.0, 91.0, 105.0]), np.array([0.2, 0.5, 1.0, 0.3]), metadata_harmonization=False)
    library = Spectrum(np.array([77.004, 91.02, 120.0]), np.array([0.4, 1.0, 0.1]), metadata_harmonization=False)
    kept = reverse_query(query, library, 0.01)
    assert list(kept.peaks.mz) == [77.0] and list(kept.peaks.intensities) == [0.5]
    assert list(reverse_query(query, library, 0.05).peaks.mz) == [77.0, 91.0]
    assert reverse_query(query, Spectrum(np.array([300.0]), np.array([1.0]), metadata_harmonization=False), 0.1) is None


def test_peak_count_scores_each_count_by_its_own_tables(cli, ei, tiny_model, tmp_path):
    # A count's figures must be those its own tables give as the control (else its vectors were taken in
    # another order or from another table), its held-out split the control's spectra, and a table of another
    # count or another row order must be refused rather than scored.
    import pyarrow as pa

    from benchmarks.peak_count import main, top_n

    for role in ("library", "queries"):
        assert cli("textualize", "-q", ei / f"ei_{role}.msp", "--top-n", "5", "-o", tmp_path / f"{role}5.parquet"
                   ).exit_code == 0
        result = cli("embed", "-q", tmp_path / f"{role}5.parquet", "-o", tmp_path / f"{role}5.emb.parquet",
                     "--model", tiny_model)
        assert result.exit_code == 0, result.stderr
    control = [str(ei / "queries.emb.parquet"), str(ei / "library.emb.parquet")]
    five = [str(tmp_path / "queries5.emb.parquet"), str(tmp_path / "library5.emb.parquet")]
    assert top_n(five[1]) == 5 and top_n(control[1]) is None

    def run(tables, *options):
        out = tmp_path / "out.json"
        main([*tables, *options, "--out", str(out)])
        return json.loads(out.read_text())

    def figures(entry):
        return {k: v for k, v in entry.items() if k.startswith("recall@")}

    by_count = run(control, "--count", "5=" + ",".join(five))
    as_control = run(five, "--count", "5=" + ",".join(five))
    assert figures(by_count["settings"]["top 5"]) == figures(as_control["plain"])
    assert figures(by_count["hybrid"]["top 5"]) == figures(as_control["hybrid"]["plain"])
    assert pq.read_table(five[0]).column("text").to_pylist() != pq.read_table(control[0]).column("text").to_pylist()
    held = run(control[1:], "--count", "5=" + five[1])
    assert figures(held["settings"]["top 5"]) == figures(run(five[1:], "--count", "5=" + five[1])["plain"])
    with pytest.raises(SystemExit):
        main([*control, "--count", "6=" + ",".join(five)])
    flipped = pq.read_table(five[0])
    pq.write_table(flipped.take(pa.array(range(flipped.num_rows - 1, -1, -1))).replace_schema_metadata(
        flipped.schema.metadata), tmp_path / "flipped.emb.parquet")
    with pytest.raises(SystemExit, match="5 queries: its rows are not the control's spectra"):
        main([*control, "--count", f"5={tmp_path / 'flipped.emb.parquet'},{five[1]}"])
