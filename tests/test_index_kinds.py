"""Index kinds (flat, hnsw, ivf, ivfpq) on the bundled MS/MS library embedded with the tiny model: each finds
every library spectrum itself, in open and precursor-window search; kind and parameters are recorded;
impossible parameters fail cleanly; the chunked build does not depend on chunk or row-group size."""

import io
import json
import zipfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from llm4ms.cli.main import main
from test_bad_input import fails, nothing_written

# The tiny model's vectors have 32 dimensions and the library 48 spectra: small lists and codebooks.
KINDS = {
    "flat": [],
    "hnsw": ["--hnsw-m", "8", "--ef-construction", "20", "--ef-search", "12"],
    "ivf": ["--nlist", "4", "--nprobe", "4"],
    # ivfpq: one dimension per 5-bit code, fine enough that every spectrum still finds itself first
    "ivfpq": ["--nlist", "2", "--nprobe", "2", "--pq-m", "32", "--pq-bits", "5"],
}


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def library(tmp_path_factory, tiny_model, data):
    """The MS/MS library's embeddings, and an index of every kind built from them."""
    folder = tmp_path_factory.mktemp("kinds")
    assert run("textualize", "-q", data / "ms2_library.mgf", "-o", folder / "library.parquet").exit_code == 0
    assert run("embed", "-q", folder / "library.parquet", "-o", folder / "library.emb.parquet",
               "--model", tiny_model).exit_code == 0
    for kind, options in KINDS.items():
        result = run("build-index", folder / "library.emb.parquet", "-o", folder / f"{kind}.index", "--kind", kind,
                     *options)
        assert result.exit_code == 0, result.stderr
    return folder


@pytest.fixture(scope="module")
def data():
    from conftest import TEST_DATA

    return TEST_DATA


def index_provenance(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("provenance.json"))


def hits(path):
    table = pq.read_table(path)
    rows = {}
    for query, library_id, score in zip(*(table.column(c).to_pylist() for c in ("query_id", "library_id", "score"))):
        rows.setdefault(query, []).append((library_id, score))
    return rows


def same_vector(library):
    """Per spectrum id, the ids whose vector is the same (identical texts embed identically)."""
    table = pq.read_table(library / "library.emb.parquet", columns=["id", "embedding"])
    ids, vectors = table.column("id").to_pylist(), np.asarray(table.column("embedding").to_pylist())
    close = vectors @ vectors.T > 1 - 1e-6
    return {i: {ids[j] for j in np.flatnonzero(row)} for i, row in zip(ids, close)}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("window", [None, "0.01"])
def test_each_kind_finds_every_spectrum_itself_first(library, kind, window):
    out = library / f"{kind}-{window}.parquet"
    result = run("search", "-q", library / "library.emb.parquet", library / f"{kind}.index", "-o", out,
                 "--group", "spectrum", "-k", "3", *(["--precursor-window", window] if window else []))
    assert result.exit_code == 0, result.stderr
    twins = same_vector(library)
    found = hits(out)
    assert len(found) == 48
    for query, ranked in found.items():
        assert ranked[0][0] in twins[query], (query, ranked)
        assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    if window:
        table = pq.read_table(out)
        for q, lib in zip(table.column("query_precursor_mz").to_pylist(),
                          table.column("library_precursor_mz").to_pylist()):
            assert abs(q - lib) <= 0.01 + 1e-9


def test_window_hits_are_the_flat_hits_for_exact_kinds(library):
    """A window's candidates are re-scored from the stored vectors, so HNSW and IVF give the exact hits."""
    results = {}
    for kind in ("flat", "hnsw", "ivf"):
        out = library / f"window-{kind}.parquet"
        assert run("search", "-q", library / "library.emb.parquet", library / f"{kind}.index", "-o", out,
                   "--precursor-window", "20", "--window-unit", "ppm").exit_code == 0
        results[kind] = hits(out)
    assert results["hnsw"] == results["flat"] == results["ivf"]


@pytest.mark.parametrize("kind", KINDS)
def test_kind_and_parameters_are_recorded(library, kind):
    provenance = index_provenance(library / f"{kind}.index")
    record = provenance["index"]
    assert record["kind"] == kind and record["metric"] == "inner_product"
    assert record["size"] == 48 and record["dim"] == 32
    options = KINDS[kind]
    for flag, value in zip(options[::2], options[1::2]):
        assert record[flag[2:].replace("-", "_")] == int(value)
    step = provenance["history"][-1]
    assert step["step"] == "build-index"
    assert step["parameters"] == {k: v for k, v in record.items() if k not in ("metric", "size", "dim")}
    with zipfile.ZipFile(library / f"{kind}.index") as archive:
        assert [i.filename for i in archive.infolist()] == ["provenance.json", "library.parquet", "vectors.faiss"]
        assert pq.read_table(archive.open("library.parquet")).column_names == \
            pq.read_table(library / "library.parquet").column_names


def test_defaults_are_filled_in_for_the_library(library):
    out = library / "defaults.index"
    assert run("build-index", library / "library.emb.parquet", "-o", out, "--kind", "ivfpq",
               "--pq-bits", "4").exit_code == 0
    record = index_provenance(out)["index"]
    # 48 spectra: one list (k-means wants 39 per list); 32 dimensions: 32 sub-vectors of one dimension
    assert record == {"kind": "ivfpq", "metric": "inner_product", "size": 48, "dim": 32, "nlist": 1, "nprobe": 1,
                      "pq_m": 32, "pq_bits": 4, "train_size": 48}
    hnsw = library / "hnsw-defaults.index"
    assert run("build-index", library / "library.emb.parquet", "-o", hnsw, "--kind", "hnsw").exit_code == 0
    assert index_provenance(hnsw)["index"] == {"kind": "hnsw", "metric": "inner_product", "size": 48, "dim": 32,
                                              "hnsw_m": 32, "ef_construction": 80, "ef_search": 16}


def test_search_uses_recorded_parameters_and_records_overrides(library):
    def search_provenance(*options):
        out = library / "p.parquet"
        result = run("search", "-q", library / "library.emb.parquet", library / "hnsw.index", "-o", out, *options)
        assert result.exit_code == 0, result.stderr
        return json.loads(pq.read_schema(out).metadata[b"llm4ms"])["history"][-1]["parameters"], result.stderr

    parameters, _ = search_provenance()
    assert parameters["search_parameters"] == {"ef_search": 12} and parameters["index"]["kind"] == "hnsw"
    parameters, _ = search_provenance("--ef-search", "40")
    assert parameters["search_parameters"] == {"ef_search": 40}
    parameters, stderr = search_provenance("--nprobe", "3")
    assert parameters["search_parameters"] == {"ef_search": 12}
    assert "warning: --nprobe does not apply to" in stderr and "a hnsw index; ignored" in stderr
    out = library / "ivf.parquet"
    for asked, used in (("1", 1), ("100", 4)):  # faiss scans at most the index's 4 lists
        assert run("search", "-q", library / "library.emb.parquet", library / "ivf.index", "-o", out,
                   "--nprobe", asked).exit_code == 0
        assert json.loads(pq.read_schema(out).metadata[b"llm4ms"])["history"][-1]["parameters"][
            "search_parameters"] == {"nprobe": used}


@pytest.mark.parametrize("options, fragments", [
    (["--kind", "ivfpq", "--pq-m", "5", "--pq-bits", "4"],
     ["library.emb.parquet: --pq-m 5 does not divide the embedding dimension 32", "1, 2, 4, 8, 16, 32"]),
    (["--kind", "ivf", "--nlist", "49"], ["--nlist 49 is more lists than the 48 library spectra"]),
    (["--kind", "ivfpq"], ["--pq-bits 8 trains 256 centroids per sub-vector, more than the 48 library spectra",
                           "use --pq-bits 5 or less"]),
])
def test_impossible_parameters_fail_in_one_line_without_output(library, options, fragments):
    (library / "bad").mkdir(exist_ok=True)
    result = run("build-index", library / "library.emb.parquet", "-o", library / "bad" / "x.index", *options)
    fails(result, 3, "llm4ms build-index: error [E_INPUT]:", *fragments)
    nothing_written(library / "bad", "x.index")


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_row_groups_and_chunk_size_do_not_change_the_index(library, kind):
    table = pq.read_table(library / "library.emb.parquet")
    pq.write_table(table, library / "grouped.emb.parquet", row_group_size=5)
    assert pq.ParquetFile(library / "grouped.emb.parquet").metadata.num_row_groups == 10
    members = []
    for source, chunk in (("library", 16384), ("grouped", 7)):
        out = library / f"{source}-{chunk}.index"
        result = run("build-index", library / f"{source}.emb.parquet", "-o", out, "--kind", kind, "--chunk-rows",
                     chunk, *KINDS[kind])
        assert result.exit_code == 0, result.stderr
        with zipfile.ZipFile(out) as archive:
            members.append((archive.read("library.parquet"), archive.read("vectors.faiss")))
    assert members[0] == members[1]


def test_build_shows_its_progress_on_stderr_unless_quiet(library):
    # Linking a million spectra into an HNSW graph takes minutes; the bar counts the spectra added.
    shown = run("build-index", library / "library.emb.parquet", "-o", library / "shown.index", "--chunk-rows", 20)
    quiet = run("build-index", library / "library.emb.parquet", "-o", library / "quiet.index", "--chunk-rows", 20,
                "-q")
    assert shown.exit_code == quiet.exit_code == 0 and shown.stdout == quiet.stdout == ""
    assert "build-index: 100%" in shown.stderr and "48/48" in shown.stderr
    assert quiet.stderr == f"llm4ms build-index: indexed 48 library spectra (flat) in {library / 'quiet.index'}\n"
    assert (library / "shown.index").read_bytes() == (library / "quiet.index").read_bytes()


def test_training_sample_is_spread_over_the_file(library):
    from llm4ms.index.store import _sample, vectors_of

    path = library / "library.emb.parquet"
    vectors = vectors_of(pq.read_table(path).column("embedding"))
    rows = np.sort(np.random.default_rng(0).choice(48, 20, replace=False))
    for chunk in (1, 7, 100):
        assert np.array_equal(_sample(pq.ParquetFile(path), 20, chunk), vectors[rows])
    assert rows.max() > 40 and rows.min() < 8


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_k_beyond_ef_search_or_a_list_still_gives_k_hits(library, kind):
    """efSearch 12 < k = 30 (faiss's HNSW alone would return fewer); ivf probes all 4 lists of 48 spectra."""
    out = library / f"deep-{kind}.parquet"
    assert run("search", "-q", library / "library.emb.parquet", library / f"{kind}.index", "-o", out,
               "--group", "spectrum", "-k", "30").exit_code == 0
    assert {len(ranked) for ranked in hits(out).values()} == {30}


def test_library_row_groups_have_a_fixed_size(library, monkeypatch):
    from llm4ms.index import store

    monkeypatch.setattr(store, "LIBRARY_ROW_GROUP", 8)
    path = library / "library.emb.parquet"
    written = []
    for chunk in (3, 8, 100):
        sink = io.BytesIO()
        store.write_library(pq.ParquetFile(path), chunk, sink)
        written.append(sink.getvalue())
    assert written[0] == written[1] == written[2]
    read = pq.ParquetFile(pa.BufferReader(written[0]))
    assert [read.metadata.row_group(i).num_rows for i in range(read.num_row_groups)] == [8] * 6
    assert read.read().equals(pq.read_table(path).drop_columns(["embedding"]).replace_schema_metadata(None))


def test_hnsw_on_one_thread_is_byte_reproducible(library):
    import faiss

    threads = faiss.omp_get_max_threads()
    try:
        built = []
        for name in ("a", "b"):
            out = library / f"threads-{name}.index"
            assert run("build-index", library / "library.emb.parquet", "-o", out, "--kind", "hnsw", "--threads", "1",
                       *KINDS["hnsw"]).exit_code == 0
            built.append(out.read_bytes())
        assert built[0] == built[1]
    finally:
        faiss.omp_set_num_threads(threads)  # the option sets faiss's process-wide thread count


def test_library_bytes_do_not_depend_on_the_chunk_size_beyond_one_data_page(tmp_path):
    # 6,000 spectra of 60 peaks: the m/z column spans several 1 MB data pages, whose boundaries pyarrow
    # would take from the chunks it is given
    from llm4ms.index import store

    rng = np.random.default_rng(0)
    rows = 6000
    table = pa.table({"id": [f"s{i}" for i in range(rows)], "mz": [rng.uniform(50, 500, 60) for _ in range(rows)],
                      "embedding": [[0.0, 1.0]] * rows})
    pq.write_table(table, tmp_path / "library.emb.parquet")
    written = []
    for chunk in (777, 16384):
        sink = io.BytesIO()
        store.write_library(pq.ParquetFile(tmp_path / "library.emb.parquet"), chunk, sink)
        written.append(sink.getvalue())
    assert written[0] == written[1]
    assert pq.read_table(pa.BufferReader(written[0])).equals(table.drop_columns(["embedding"]))


def test_options_of_another_kind_are_said_to_be_ignored(library):
    # the index records only its kind's parameters, so a typo in --kind would otherwise go unseen
    result = run("build-index", "-q", library / "library.emb.parquet", "-o", library / "typo.index",
                 "--nlist", "4", "--ef-search", "200")
    assert result.exit_code == 0, result.stderr
    assert "warning: --nlist applies only to --kind ivf or ivfpq; ignored" in result.stderr
    assert "warning: --ef-search applies only to --kind hnsw; ignored" in result.stderr
    assert index_provenance(library / "typo.index")["index"]["kind"] == "flat"
    result = run("build-index", "-q", library / "library.emb.parquet", "-o", library / "meant.index",
                 "--kind", "hnsw", "--ef-search", "200", "--nprobe", "16")
    assert result.exit_code == 0 and result.stderr.count("warning") == 1 and "--nprobe applies only" in result.stderr
