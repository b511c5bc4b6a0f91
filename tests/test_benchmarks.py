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


def test_fusion_ends_are_plain_search_and_rerank(cli, ei):
    # w = 0 must rank as `llm4ms search` does, w = 1 as `search --rerank`: the two ends tie the fused
    # score's measurement (RESULTS.md) to what the commands compute.
    from benchmarks.fusion import fusion_recall

    fused = fusion_recall(pq.read_table(ei / "queries.emb.parquet"), pq.read_table(ei / "library.emb.parquet"),
                          "weighted-cosine", None, 5)
    for weight, extra, keys in (("0.0", [], ["recall@1"]),
                                ("1.0", ["--rerank", "weighted-cosine", "--rerank-depth", "5"], list(fused["1.0"]))):
        hits, summary = ei / f"hits-{weight}.parquet", ei / f"summary-{weight}.json"
        assert cli("search", "-q", ei / "queries.emb.parquet", ei / "library.index", "-o", hits, *extra).exit_code == 0
        assert cli("score", hits, "--truth", ei / "queries.parquet", "--summary", summary).exit_code == 0
        scored = json.loads(summary.read_text())
        assert {k: fused[weight][k] for k in keys} == {k: round(scored[k], 4) for k in keys}, weight
    assert fused["1.0"] != fused["0.0"]  # the tiny model's ranking and the spectral one differ on this data


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
