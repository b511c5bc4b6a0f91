"""The five commands end to end on the bundled test data, with a tiny random Llama for speed."""

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq

from llm4ms.tables import PROVENANCE_KEY


def provenance(path):
    return json.loads(pq.read_schema(path).metadata[PROVENANCE_KEY])


def test_textualize_table_keeps_peaks_metadata_and_template(cli, work):
    result = cli("textualize", work / "ms2_queries.mzML", work / "ei_queries.msp", "-o", work / "mixed.parquet")
    assert result.exit_code == 0
    assert "wrote 24 spectra (ei: 12, msms: 12)" in result.stderr and "scan=0" in result.stderr
    table = pq.read_table(work / "mixed.parquet").to_pylist()
    assert [r["template"] for r in table] == ["msms"] * 12 + ["ei"] * 12
    # with several input files an mzML native id takes its file name (native ids repeat from run to run)
    assert table[0]["id"] == "ms2_queries.mzML#scan=1" and table[0]["text"].startswith("MS2 precursor ")
    assert table[12]["text"].startswith("EI highest 517 peaks: 516 178 ")
    assert all(len(r["mz"]) == len(r["intensities"]) > 0 and max(r["intensities"]) == 1.0 for r in table)
    assert table[12]["inchikey"] and table[12]["smiles"] and table[12]["source_file"] == "ei_queries.msp"
    assert json.loads(table[12]["metadata_json"])["license"] == "CC BY"
    prov = provenance(work / "mixed.parquet")
    assert prov["format"] == "llm4ms.spectra" and prov["history"][0]["step"] == "textualize"
    assert prov["textualization"]["templates"]["paper-ei"] == {"top_n": 30, "threshold": 0.005, "decimals": 0,
                                                           "highest": "above-threshold"}
    assert prov["textualization"]["templates"]["ei"] == {"top_n": 30, "threshold": 0.005, "decimals": 0}


def test_spectra_parquet_is_read_back_losslessly(cli, work):
    assert cli("textualize", "-q", work / "ms2_queries.mgf", "-o", work / "a.parquet").exit_code == 0
    assert cli("textualize", "-q", work / "a.parquet", "-o", work / "b.parquet").exit_code == 0
    a, b = pq.read_table(work / "a.parquet"), pq.read_table(work / "b.parquet")
    columns = [c for c in a.column_names if c not in ("source_file",)]
    assert a.select(columns).equals(b.select(columns))


def test_a_table_textualized_again_keeps_spectra_whose_zero_peaks_were_dropped(cli, work):
    # Cleaning drops zero-intensity peaks; the Num Peaks that counted them must not follow the row, or the
    # row read again looks like a record cut short and is rejected (it was, 2 of the EI library's 8,999).
    # Tables written before the fix still hold the source's count, and are read again whole as well.
    records = (work / "ei_queries.msp").read_text().split("\n\n")
    declared = int(records[0].split("Num Peaks: ")[1].split("\n")[0])
    records[0] = records[0].replace(f"Num Peaks: {declared}\n", f"Num Peaks: {declared + 2}\n1.5\t0\n2.5\t0\n")
    (work / "zeros.msp").write_text("\n\n".join(records))
    assert cli("textualize", "-q", work / "zeros.msp", "-o", work / "a.parquet").exit_code == 0
    a = pq.read_table(work / "a.parquet")
    first = a.slice(0, 1).to_pylist()[0]
    assert len(first["mz"]) == declared and json.loads(first["metadata_json"])["num_peaks"] == str(declared)
    result = cli("textualize", work / "a.parquet", "-o", work / "b.parquet")
    assert result.exit_code == 0 and "; 0 rejected" in result.stderr, result.stderr
    columns = [c for c in a.column_names if c != "source_file"]
    assert pq.read_table(work / "b.parquet").select(columns).equals(a.select(columns))
    stale = [json.dumps({**json.loads(m), "num_peaks": str(declared + 2)}) if i == 0 else m
             for i, m in enumerate(a.column("metadata_json").to_pylist())]
    old = a.set_column(a.column_names.index("metadata_json"), "metadata_json", pa.array(stale, pa.string()))
    pq.write_table(old.replace_schema_metadata(a.schema.metadata), work / "old.parquet")
    result = cli("textualize", work / "old.parquet", "-o", work / "c.parquet")
    assert result.exit_code == 0 and "; 0 rejected" in result.stderr, result.stderr
    assert pq.read_table(work / "c.parquet").num_rows == a.num_rows


def test_pipeline_end_to_end_with_tiny_model(cli, ei):
    result = cli("search", ei / "queries.emb.parquet", ei / "library.index", "-o", ei / "hits.parquet")
    assert result.exit_code == 0, result.stderr
    hits = pq.read_table(ei / "hits.parquet").to_pylist()
    queries = pq.read_table(ei / "queries.parquet", columns=["id"]).column("id").to_pylist()
    assert sorted({h["query_id"] for h in hits}) == sorted(queries)
    for query in queries:
        rows = [h for h in hits if h["query_id"] == query]
        assert [h["rank"] for h in rows] == list(range(1, 11))
        assert all(a["score"] >= b["score"] for a, b in zip(rows, rows[1:]))
        assert len({h["inchikey"][:14] for h in rows}) == 10  # ranked over distinct compounds
    result = cli("score", ei / "hits.parquet", "--truth", ei / "queries.parquet", "-o", ei / "per_query.tsv",
                 "--summary", ei / "summary.json", "--plot", ei / "recall.png")
    assert result.exit_code == 0, result.stderr
    summary = json.loads((ei / "summary.json").read_text())
    assert summary["n_queries"] == 12
    assert 0 <= summary["recall@1"] <= summary["recall@5"] <= summary["recall@10"] <= 1
    assert result.stdout.startswith("12 queries: Recall@1 ")
    assert (ei / "recall.png").read_bytes()[:4] == b"\x89PNG"
    provenance, *lines = (ei / "per_query.tsv").read_text().splitlines()
    assert lines[0].split("\t")[:4] == ["query_id", "name", "inchikey", "rank"] and len(lines) == 13
    # what was scored, and how it was searched and embedded, as the hits it came from said
    assert provenance.startswith("# llm4ms ")
    provenance = json.loads(provenance[len("# llm4ms "):])
    assert provenance["format"] == "llm4ms.per-query" and provenance["model"]["name"] == summary["model"]["name"]
    assert [step["step"] for step in provenance["history"]][-2:] == ["search", "score"]


def test_embeddings_are_normalised_and_deterministic(cli, ei, tiny_model):
    table = pq.read_table(ei / "queries.emb.parquet")
    import numpy as np

    vectors = np.asarray(table.column("embedding").to_pylist(), dtype=np.float32)
    assert vectors.shape == (12, 32) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    again = ei / "again.emb.parquet"
    assert cli("embed", "-q", ei / "queries.parquet", "-o", again, "--model", tiny_model,
               "--batch-size", "5").exit_code == 0
    first = (ei / "queries.emb.parquet").read_bytes()
    assert cli("embed", "-q", ei / "queries.parquet", "-o", again, "--model", tiny_model).exit_code == 0
    assert again.read_bytes() == first
    prov = provenance(again)
    assert prov["model"]["layers"] == 2 and prov["model"]["adapter"] is None and prov["model"]["dim"] == 32
    assert [s["step"] for s in prov["history"]] == ["textualize", "embed"]
    assert cli("build-index", ei / "library.emb.parquet", "-o", ei / "again.index").exit_code == 0
    assert (ei / "again.index").read_bytes() == (ei / "library.index").read_bytes()


def test_a_second_text_view_sits_beside_the_first_and_is_never_mixed_with_single_vectors(cli, ei, tiny_model):
    # Each half is that text's own embedding scaled by 1/sqrt(2), so the product of two such vectors is the
    # mean of the two texts' cosines; search refuses to compare them with single-view vectors.
    import numpy as np

    def vectors(path):
        return np.asarray(pq.read_table(path).column("embedding").to_pylist(), dtype=np.float32)

    assert cli("textualize", "-q", ei / "ei_queries.msp", "-o", ei / "weighted.parquet",
               "--peak-choice", "mz-weighted").exit_code == 0
    assert cli("embed", "-q", ei / "weighted.parquet", "-o", ei / "weighted.emb.parquet", "--model",
               tiny_model).exit_code == 0
    result = cli("embed", "-q", ei / "queries.parquet", "-o", ei / "both.emb.parquet", "--model", tiny_model,
                 "--also-peak-choice", "mz-weighted")
    assert result.exit_code == 0, result.stderr
    both, first, second = (vectors(ei / f"{n}.emb.parquet") for n in ("both", "queries", "weighted"))
    assert both.shape == (12, 64) and np.allclose(np.linalg.norm(both, axis=1), 1, atol=1e-5)
    assert np.allclose(both[:, :32] * np.sqrt(2), first, atol=1e-5)
    assert np.allclose(both[:, 32:] * np.sqrt(2), second, atol=1e-5)
    assert not np.allclose(first, second, atol=1e-3)  # the bundled EI queries do have other texts that way
    record = provenance(ei / "both.emb.parquet")["model"]
    assert record["dim"] == 64 and record["also_peak_choice"] == "mz-weighted"
    result = cli("search", ei / "both.emb.parquet", ei / "library.index", "-o", ei / "hits.tsv")
    assert result.exit_code == 4 and "also from mz-weighted texts" in result.stderr
    assert not (ei / "hits.tsv").exists()
    # a second view equal to the table's own would embed every text twice as itself: refused before the model
    result = cli("embed", "-q", ei / "weighted.parquet", "-o", ei / "twice.emb.parquet", "--model", "no-such-model",
                 "--also-peak-choice", "mz-weighted")
    assert result.exit_code == 3 and "already keep the mz-weighted peaks" in result.stderr, result.stderr
    assert not (ei / "twice.emb.parquet").exists()


def test_a_second_view_of_msms_texts_is_noted_and_counted_in_spectra(cli, work, tiny_model, monkeypatch):
    # MS/MS rows repeat their text (a mixed library's MS/MS queries need it), which is said, not silent; the
    # summary counts spectra, not the two texts of each, also when chunks were resumed
    import llm4ms.steps.embed as embed_step

    assert cli("textualize", "-q", work / "ms2_queries.mgf", "-o", work / "q.parquet").exit_code == 0
    chunk, calls = embed_step._embed_chunk, []

    def stopping(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return chunk(*args, **kwargs)

    options = ["--model", tiny_model, "--also-peak-choice", "mz-weighted", "--chunk-rows", "4", "-q"]
    monkeypatch.setattr(embed_step, "_embed_chunk", stopping)
    assert cli("embed", work / "q.parquet", "-o", work / "q.emb.parquet", *options).exit_code == 130
    monkeypatch.setattr(embed_step, "_embed_chunk", chunk)
    result = cli("embed", work / "q.parquet", "-o", work / "q.emb.parquet", *options)
    assert result.exit_code == 0, result.stderr
    assert "q.parquet has no EI spectra, so --also-peak-choice embeds each text twice as it is" in result.stderr
    rows = pq.read_table(work / "q.parquet").num_rows
    assert f"embedded {rows} spectra (8 from resumed chunks)" in result.stderr, result.stderr


def test_search_tsv_spectrum_grouping_and_window(cli, work, tiny_model):
    for role in ("library", "queries"):
        cli("textualize", "-q", work / f"ms2_{role}.mgf", "-o", work / f"{role}.parquet")
        cli("embed", "-q", work / f"{role}.parquet", "-o", work / f"{role}.emb.parquet", "--model", tiny_model)
    cli("build-index", work / "library.emb.parquet", "-o", work / "library.index")
    result = cli("search", work / "queries.emb.parquet", work / "library.index", "-o", work / "hits.tsv",
                 "--group", "spectrum", "-k", "3", "--precursor-window", "10", "--window-unit", "ppm")
    assert result.exit_code == 0, result.stderr
    lines = (work / "hits.tsv").read_text().splitlines()
    assert lines[0].startswith("# llm4ms {") and lines[1].split("\t")[:4] == ["query_id", "rank", "score", "library_id"]
    rows = [dict(zip(lines[1].split("\t"), line.split("\t"))) for line in lines[2:]]
    for row in rows:
        if row["rank"]:
            q, lib = float(row["query_precursor_mz"]), float(row["library_precursor_mz"])
            assert abs(q - lib) <= q * 10e-6 + 1e-9
    assert {r["query_id"] for r in rows} == set(pq.read_table(work / "queries.parquet").column("id").to_pylist())
    result = cli("score", work / "hits.tsv", "--truth", work / "queries.parquet")
    assert result.exit_code == 0 and "Recall@10" in result.stdout


def test_unix_pipe_with_dashes(work, tiny_model):
    llm4ms = [sys.executable, "-m", "llm4ms.cli.main"]
    cmd = (f"{' '.join(llm4ms)} textualize -q ei_library.msp -o - | {' '.join(llm4ms)} embed -q - -o - "
           f"--model {tiny_model} | {' '.join(llm4ms)} build-index - -o lib.index && "
           f"cat ei_queries.msp | {' '.join(llm4ms)} textualize -q - -o - | "
           f"{' '.join(llm4ms)} embed -q - -o - --model {tiny_model} > q.parquet && "
           f"{' '.join(llm4ms)} search -q q.parquet lib.index -o - | "
           f"{' '.join(llm4ms)} score - --truth q.parquet")
    done = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=work, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("12 queries: Recall@1 ") and done.stdout.count("\n") == 1


def test_queries_without_candidates_keep_a_row_with_a_note(cli, ei):
    result = cli("search", "-q", ei / "queries.emb.parquet", ei / "library.index", "-o", ei / "hits.parquet",
                 "--precursor-window", "0.01")
    assert result.exit_code == 0 and "12 without any hit" in result.stderr
    hits = pq.read_table(ei / "hits.parquet").to_pylist()
    assert len(hits) == 12 and all(h["rank"] is None and h["library_id"] is None for h in hits)
    assert {h["note"] for h in hits} == {"query has no precursor m/z for the window search"}
    result = cli("score", ei / "hits.parquet", "--truth", ei / "queries.parquet", "--summary", "-")
    summary = json.loads(result.stdout)
    assert summary["recall@10"] == 0.0 and summary["n_without_hits"] == 12 and summary["n_queries"] == 12


def test_every_output_is_byte_identical_when_run_again(cli, ei, tiny_model):
    """Same inputs and settings, same bytes: spectra table, embeddings, index (the test above), hits,
    scores and the rejected list; nothing time- or host-dependent is recorded."""
    runs = []
    for name in ("a", "b"):
        folder = ei / name
        folder.mkdir()
        assert cli("textualize", "-q", ei / "ei_queries.msp", "-o", folder / "q.parquet",
                   "--rejected", folder / "rejected.tsv").exit_code == 0
        assert cli("embed", "-q", folder / "q.parquet", "-o", folder / "q.emb.parquet", "--model", tiny_model
                   ).exit_code == 0
        for fmt in ("parquet", "tsv"):
            assert cli("search", "-q", folder / "q.emb.parquet", ei / "library.index", "-o", folder / f"hits.{fmt}",
                       "--format", fmt).exit_code == 0
        assert cli("score", folder / "hits.parquet", "--truth", folder / "q.parquet", "-o", folder / "scores.tsv",
                   "--summary", folder / "summary.json").exit_code == 0
        runs.append({p.name: p.read_bytes() for p in sorted(folder.iterdir())})
    assert list(runs[0]) == ["hits.parquet", "hits.tsv", "q.emb.parquet", "q.parquet", "rejected.tsv", "scores.tsv",
                           "summary.json"]
    assert runs[0] == runs[1]


def test_the_command_line_loads_no_heavy_library_before_it_needs_one():
    """Every command starts in a fraction of a second, and search runs without matchms and numba: with
    them and faiss in one process, `search` ending in an error aborted at exit (exit 134 instead of 4) in
    about 1 run of 6."""
    code = ("import sys; import llm4ms.cli.main; "
            "print(sorted(m for m in ('matchms', 'numba', 'torch', 'faiss', 'sklearn', 'rdkit') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
